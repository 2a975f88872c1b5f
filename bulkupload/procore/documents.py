"""Mirror a local tree into Procore's Documents tool: resolve folders once, attach uploads as files.

API-call economy is the point: each remote folder is listed at most once per run (never when we
just created it) and created at most once, however many workers ask for it at the same time; a
file costs one call to attach (none to skip).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import anyio

from bulkupload.errors import ApiError
from bulkupload.models import Target

__all__ = [
    "ApiRequester",
    "ApiResponseLike",
    "AttachAction",
    "AttachResult",
    "DocumentsTarget",
    "FolderListing",
    "FolderMirror",
    "OnConflict",
    "RemoteFile",
    "attach",
    "list_folder",
    "remote_name",
]

OnConflict = Literal["version", "skip", "rename"]
AttachAction = Literal["created", "versioned", "renamed", "skipped"]


class ApiResponseLike(Protocol):
    """What the API client answers: status, headers and the decoded JSON body."""

    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def data(self) -> Any: ...


class ApiRequester(Protocol):
    """The slice of `bulkupload.procore.client.ApiClient` used here.

    Errors arrive as exceptions (`ApiError`, `NotFound`, ...) after the client's own retries.
    """

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        # dict, not Mapping: a protocol parameter must be no wider than the real client's.
        params: dict[str, str] | None = None,
    ) -> ApiResponseLike: ...


def remote_name(local: str) -> str:
    """The Documents name for a local name.

    Local names are surrogate-escaped text; Procore needs valid UTF-8, so each undecodable byte
    becomes U+FFFD. That is lossy (two local names may map to one remote name) but the result is
    what a user sees in Procore's UI; a collision is handled like any other name clash.
    """
    return local.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class DocumentsTarget:
    """Paths and query parameters of the Documents endpoints for a project or a company."""

    kind: Literal["project", "company"]
    id: int

    @classmethod
    def of(cls, target: Target | DocumentsTarget) -> DocumentsTarget:
        return target if isinstance(target, DocumentsTarget) else cls(target.kind, target.id)

    @property
    def prefix(self) -> str:
        if self.kind == "company":
            return f"/rest/v1.0/companies/{self.id}"
        return "/rest/v1.0"

    def params(self, **extra: str) -> dict[str, str]:
        """Project-level calls name the project in the query; company-level ones in the path."""
        base = {"project_id": str(self.id)} if self.kind == "project" else {}
        return base | extra

    @property
    def folders_path(self) -> str:
        """GET: the root folder with its children; POST: create a folder."""
        return f"{self.prefix}/folders"

    def folder_path(self, folder_id: int) -> str:
        return f"{self.prefix}/folders/{folder_id}"

    @property
    def files_path(self) -> str:
        return f"{self.prefix}/files"

    def file_path(self, file_id: int) -> str:
        return f"{self.prefix}/files/{file_id}"

    @property
    def file_versions_path(self) -> str:
        return f"{self.prefix}/file_versions"


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A file already in Documents, as far as the listing tells: its latest version's facts."""

    id: int
    name: str
    size: int | None
    versions: int
    latest_version: int | None
    latest_upload_uuid: str | None

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> RemoteFile:
        versions = [v for v in obj.get("file_versions") or [] if isinstance(v, Mapping)]
        latest = max(versions, key=lambda v: int(v.get("number") or 0), default=None)
        size = obj.get("size")
        if size is None and latest is not None:
            size = latest.get("size")
        number = latest.get("number") if latest is not None else None
        return cls(
            id=int(obj["id"]),
            name=str(obj["name"]),
            size=None if size is None else int(size),
            versions=len(versions),
            latest_version=None if number is None else int(number),
            latest_upload_uuid=None if latest is None else latest.get("upload_uuid"),
        )


@dataclass(frozen=True, slots=True)
class AttachResult:
    """What `attach` did; `name` is the final remote name (differs from the asked one on rename)."""

    file_id: int | None
    folder_id: int
    name: str
    version: int | None
    action: AttachAction


@dataclass(slots=True)
class FolderListing:
    """The children of one folder, by remote name (the recycle bin left out)."""

    id: int
    folders: dict[str, int] = field(default_factory=dict)
    files: dict[str, RemoteFile] = field(default_factory=dict)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> FolderListing:
        listing = cls(int(obj["id"]))
        for sub in obj.get("folders") or []:
            if not sub.get("is_recycle_bin"):
                listing.folders[str(sub["name"])] = int(sub["id"])
        for f in obj.get("files") or []:
            remote = RemoteFile.from_json(f)
            listing.files[remote.name] = remote
        return listing


async def list_folder(
    requester: ApiRequester, target: Target | DocumentsTarget, folder_id: int | None
) -> FolderListing:
    """One folder's children (`None`: the root), in one API call."""
    docs = DocumentsTarget.of(target)
    path = docs.folders_path if folder_id is None else docs.folder_path(folder_id)
    resp = await requester.request("GET", path, params=docs.params())
    return FolderListing.from_json(resp.data)


def _name_taken(exc: ApiError) -> bool:
    # Procore words this "Name has already been taken" in varying body shapes; match loosely.
    return exc.status in (400, 409, 422) and "taken" in f"{exc.message} {exc}".lower()


def _split(path: str) -> list[str]:
    return [remote_name(part) for part in path.split("/") if part]


class FolderMirror:
    """Resolves local relative directories to Documents folder ids, creating what is missing.

    Safe under many concurrent callers: a per-path lock makes each folder be looked up and
    created once; listings are cached (folders and files) so `existing_file` costs no call.
    `folders_listed` and `folders_created` count the API calls made, for progress and tests.
    """

    def __init__(
        self,
        requester: ApiRequester,
        target: Target | DocumentsTarget,
        base_folder: str = "",
    ) -> None:
        self.requester = requester
        self.target = DocumentsTarget.of(target)
        self.base = "/".join(_split(base_folder))
        self.folders_listed = 0
        self.folders_created = 0
        self._ids: dict[str, int] = {}  # remote path ("" = Documents root) → folder id
        self._listings: dict[int, FolderListing] = {}
        self._path_locks: dict[str, anyio.Lock] = {}
        self._listing_locks: dict[int, anyio.Lock] = {}

    async def folder_id_for(self, rel_dir: str) -> int:
        """The folder id for `rel_dir` (``/``-separated, relative to the base folder)."""
        return await self._resolve("/".join([*_split(self.base), *_split(rel_dir)]))

    async def existing_file(self, folder_id: int, name: str) -> RemoteFile | None:
        """The file called `name` (local form) in the folder, from the cached listing."""
        return (await self._listing(folder_id)).files.get(remote_name(name))

    async def attach(
        self, *, folder_id: int, name: str, upload_uuid: str, on_conflict: OnConflict
    ) -> AttachResult:
        """`attach` with the existing file taken from, and the outcome written to, this cache."""
        existing = await self.existing_file(folder_id, name)
        return await attach(
            self.requester,
            self.target,
            folder_id=folder_id,
            name=name,
            upload_uuid=upload_uuid,
            on_conflict=on_conflict,
            existing=existing,
            mirror=self,
        )

    def record_file(self, folder_id: int, remote: RemoteFile) -> None:
        """Note a file created or versioned in a folder so later lookups see it."""
        listing = self._listings.get(folder_id)
        if listing is not None:
            listing.files[remote.name] = remote

    async def refresh(self, folder_id: int) -> FolderListing:
        """List the folder again: someone else changed it (a name clash told us so)."""
        async with self._listing_lock(folder_id):
            return await self._fetch(folder_id)

    async def _resolve(self, path: str) -> int:
        if (known := self._ids.get(path)) is not None:
            return known
        # Locks are only ever taken child-then-parent, so concurrent resolutions cannot deadlock.
        async with self._path_locks.setdefault(path, anyio.Lock()):
            if (known := self._ids.get(path)) is not None:
                return known
            if not path:
                root = await self._fetch(None)
                self._ids[""] = root.id
                return root.id
            parent_path, _, name = path.rpartition("/")
            parent_id = await self._resolve(parent_path)
            folder_id = (await self._listing(parent_id)).folders.get(name)
            if folder_id is None:
                folder_id = await self._create(parent_id, name)
            self._ids[path] = folder_id
            return folder_id

    def _listing_lock(self, folder_id: int) -> anyio.Lock:
        return self._listing_locks.setdefault(folder_id, anyio.Lock())

    async def _listing(self, folder_id: int) -> FolderListing:
        if (cached := self._listings.get(folder_id)) is not None:
            return cached
        async with self._listing_lock(folder_id):
            if (cached := self._listings.get(folder_id)) is not None:
                return cached
            return await self._fetch(folder_id)

    async def _fetch(self, folder_id: int | None) -> FolderListing:
        listing = await list_folder(self.requester, self.target, folder_id)
        self.folders_listed += 1
        self._listings[listing.id] = listing
        return listing

    async def _create(self, parent_id: int, name: str) -> int:
        body = {"folder": {"name": name, "parent_id": parent_id}}
        try:
            resp = await self.requester.request(
                "POST", self.target.folders_path, json=body, params=self.target.params()
            )
        except ApiError as exc:
            # Another uploader created it since our listing: use theirs.
            if not _name_taken(exc):
                raise
            folder_id = (await self.refresh(parent_id)).folders.get(name)
            if folder_id is None:
                raise
            return folder_id
        self.folders_created += 1
        folder_id = int(resp.data["id"])
        # A folder we just made is empty: remember that instead of listing it.
        self._listings[folder_id] = FolderListing(folder_id)
        if (parent := self._listings.get(parent_id)) is not None:
            parent.folders[name] = folder_id
        return folder_id


async def attach(
    requester: ApiRequester,
    target: Target | DocumentsTarget,
    *,
    folder_id: int,
    name: str,
    upload_uuid: str,
    on_conflict: OnConflict,
    existing: RemoteFile | None,
    mirror: FolderMirror | None = None,
) -> AttachResult:
    """Attach an upload as the file `name` in a folder: one API call, none for a skip.

    `existing` is the file already holding that name, if known. `on_conflict` decides what a clash
    means: "version" adds a version to it, "skip" leaves it (the upload stays unattached and
    Procore deletes it after a week), "rename" lets Procore pick "name (1).ext". A clash the
    listing did not know about (another uploader was faster) is detected from the server's
    "name taken" answer and then handled the same way. `mirror`, if given, learns the outcome.
    """
    docs = DocumentsTarget.of(target)
    name = remote_name(name)

    def done(remote: RemoteFile, action: AttachAction) -> AttachResult:
        if mirror is not None:
            mirror.record_file(folder_id, remote)
        return AttachResult(remote.id, folder_id, remote.name, remote.latest_version, action)

    if existing is None or on_conflict == "rename":
        # With "rename" unique_name costs nothing when the name is free: still one call.
        body = {
            "file": {
                "name": name,
                "parent_id": folder_id,
                "upload_uuid": upload_uuid,
                "unique_name": on_conflict == "rename",
            }
        }
        try:
            resp = await requester.request("POST", docs.files_path, json=body, params=docs.params())
        except ApiError as exc:
            if not _name_taken(exc) or on_conflict == "rename":
                raise
            listing = await (
                mirror.refresh(folder_id)
                if mirror is not None
                else list_folder(requester, docs, folder_id)
            )
            existing = listing.files.get(name)
            if existing is None:
                raise
            if existing.latest_upload_uuid == upload_uuid:
                # Our own earlier attempt got through and only its answer was lost.
                return done(existing, "created")
        else:
            remote = RemoteFile.from_json(resp.data)
            return done(remote, "created" if remote.name == name else "renamed")

    if on_conflict == "skip":
        return AttachResult(
            existing.id, folder_id, existing.name, existing.latest_version, "skipped"
        )
    resp = await requester.request(
        "PATCH",
        docs.file_path(existing.id),
        json={"file": {"upload_uuid": upload_uuid}},
        params=docs.params(),
    )
    return done(RemoteFile.from_json(resp.data), "versioned")
