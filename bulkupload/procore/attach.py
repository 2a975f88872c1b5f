"""Attach a stored upload to the Documents tool as a file, or as a new version of one."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bulkupload.errors import BulkUploadError
from bulkupload.models import OnConflict

from .client import ApiRequester
from .folders import FolderMirror
from .ownership import CLOCK_SKEW, WriteAttempt, renamed_from, settled_write
from .remote import FolderListing, RemoteFile, decoded, remote_name

__all__ = ["AttachAction", "AttachResult", "attach"]

AttachAction = Literal["created", "versioned", "renamed", "skipped"]


@dataclass(frozen=True, slots=True)
class AttachResult:
    """What `attach` did; `name` is the final remote name (differs from the asked one on rename)."""

    file_id: int | None
    folder_id: int
    name: str
    version: int | None
    action: AttachAction


def _form(root: str, fields: Mapping[str, Any]) -> dict[str, str]:
    """The published multipart form of a Documents write: ``file[name]`` and so on."""
    out: dict[str, str] = {}
    for key, value in fields.items():
        if value is None:
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        out[f"{root}[{key}]"] = text
    return out


async def attach(
    requester: ApiRequester,
    mirror: FolderMirror,
    *,
    folder_id: int,
    name: str,
    upload_uuid: str,
    size: int,
    on_conflict: OnConflict,
    existing: RemoteFile | None,
) -> AttachResult:
    """Attach an upload as the file `name` in a folder: one API call, none for a skip.

    `existing` is the file already holding that name, if known. `on_conflict` decides what a clash
    means: "version" adds a version to it, "skip" leaves it (the upload stays unattached and
    Procore deletes it after a week), "rename" lets Procore pick "name (1).ext".

    When a write fails without a clear answer, Procore's state decides (`ownership`): the folder
    is listed again and a file or version that matches our write is ours and recorded as done;
    a file someone else put there is a clash for `on_conflict`.
    """
    routes = mirror.routes
    name = remote_name(name)

    def done(remote: RemoteFile, action: AttachAction) -> AttachResult:
        mirror.record_file(folder_id, remote)
        return AttachResult(remote.id, folder_id, remote.name, remote.latest_version, action)

    async def relist() -> FolderListing:
        return await mirror.refresh(folder_id)

    def attempt(known_version: int) -> WriteAttempt:
        return WriteAttempt(size, time.time() - CLOCK_SKEW, mirror.me, known_version)

    async def create(unique: bool) -> AttachResult:
        fields: dict[str, Any] = {"name": name, "parent_id": folder_id, "upload_uuid": upload_uuid}
        if unique:
            fields["unique_name"] = True
        ours = attempt(0)

        async def write() -> AttachResult:
            resp = await requester.request(
                "POST", routes.files, form=_form("file", fields), params=routes.params(),
                retry=False,
            )  # fmt: skip
            remote = decoded(resp, RemoteFile.from_json)
            return done(remote, "created" if remote.name == name else "renamed")

        async def landed(exc: BulkUploadError) -> AttachResult:
            listing = await relist()
            mine = [
                f
                for f in listing.files.values()
                if (f.name == name or (unique and renamed_from(name, f.name))) and ours.made(f)
            ]
            if mine:
                found = max(mine, key=lambda f: f.id)
                return done(found, "created" if found.name == name else "renamed")
            clash = listing.files.get(name)
            if clash is None or unique:
                raise exc
            return await on_clash(clash)

        retried = requester.on_retry("POST", routes.files)
        return await settled_write(write, landed, requester.policy, on_retry=retried)

    async def new_version(file: RemoteFile) -> AttachResult:
        ours = attempt(file.latest_version or 0)

        async def write() -> AttachResult:
            resp = await requester.request(
                "PATCH",
                routes.file(file.id),
                form=_form("file", {"upload_uuid": upload_uuid}),
                params=routes.params(),
                retry=False,
            )
            return done(decoded(resp, RemoteFile.from_json), "versioned")

        async def landed(exc: BulkUploadError) -> AttachResult:
            now = next((f for f in (await relist()).files.values() if f.id == file.id), None)
            if now is not None and ours.made(now):
                return done(now, "versioned")
            raise exc

        retried = requester.on_retry("PATCH", routes.file(file.id))
        return await settled_write(write, landed, requester.policy, on_retry=retried)

    async def on_clash(file: RemoteFile) -> AttachResult:
        if on_conflict == "skip":
            return AttachResult(file.id, folder_id, file.name, file.latest_version, "skipped")
        if on_conflict == "rename":
            return await create(unique=True)
        return await new_version(file)

    if existing is None or on_conflict == "rename":
        # With "rename" unique_name costs nothing when the name is free: still one call.
        return await create(unique=on_conflict == "rename")
    return await on_clash(existing)
