"""Mirror a local tree into Procore's Documents tool: resolve folders once, attach uploads as files.

API-call economy is the point: each remote folder is listed at most once per run (never when we
just created it) and created at most once, however many workers ask for it at the same time; a
file costs one call to attach (none to skip).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar

import anyio

from bulkupload.errors import ApiError, AuthError, BulkUploadError, NetworkError, NotFound
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
        form: Mapping[str, str] | None = None,
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
    """A file already in Documents, as far as the published File object tells.

    Procore returns no upload uuid and no content hash, so what a client can know of a version
    is its number, size, creation time and creator (`latest_*`).
    """

    id: int
    name: str
    size: int | None
    latest_version: int | None
    latest_created_at: float | None = None
    latest_created_by: int | None = None

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> RemoteFile:
        versions = [v for v in obj.get("file_versions") or [] if isinstance(v, Mapping)]
        latest = max(versions, key=lambda v: _int(v.get("number")) or 0, default=None)
        size = obj.get("size")
        if size is None and latest is not None:
            size = latest.get("size")
        creator = latest.get("created_by") if latest is not None else None
        return cls(
            id=int(obj["id"]),
            name=str(obj["name"]),
            size=_int(size),
            latest_version=None if latest is None else _int(latest.get("number")),
            latest_created_at=None if latest is None else _timestamp(latest.get("created_at")),
            latest_created_by=_int(creator.get("id")) if isinstance(creator, Mapping) else None,
        )


def _int(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def _timestamp(value: Any) -> float | None:
    """Unix seconds of an ISO 8601 date-time (``...Z`` or with an offset); None if unreadable."""
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


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
    """One folder's children (`None`: the root), in one API call.

    Only each file's latest version is asked for: that is all a run needs, and it keeps the
    answer of a big folder (not paginated) small.
    """
    docs = DocumentsTarget.of(target)
    path = docs.folders_path if folder_id is None else docs.folder_path(folder_id)
    # Published for project-level folders only; the company level lists every version.
    params = (
        docs.params(show_latest_file_version_only="true")
        if docs.kind == "project"
        else docs.params()
    )
    resp = await requester.request("GET", path, params=params)
    return decoded(resp, FolderListing.from_json)


T = TypeVar("T")


def decoded(resp: ApiResponseLike, decode: Callable[[Any], T]) -> T:
    """`decode(resp.data)`, or an ApiError for that call when the answer has an unexpected shape
    (a missing id, a list where an object belongs): a per-file failure, never a crash."""
    try:
        return decode(resp.data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        call = getattr(resp, "call", "") or None
        raise ApiError(
            resp.status, f"unexpected answer from Procore ({type(exc).__name__}: {exc})", call=call
        ) from exc


def _split(path: str) -> list[str]:
    return [remote_name(part) for part in path.split("/") if part]


# A write whose answer went missing (lost connection, a 5xx, or a 4xx on the client's retry
# because the first try already did the work) is settled by looking at Procore's state. These
# errors are never such a case: they say nothing was done or that nothing can be looked at.
_UNAMBIGUOUS = (AuthError, NotFound)
# Procore's clock and ours may differ; a version created this long before our call is not ours.
CLOCK_SKEW = 300.0


def _ambiguous(exc: BulkUploadError) -> bool:
    if isinstance(exc, _UNAMBIGUOUS):
        return False
    return isinstance(exc, ApiError | NetworkError)


def _form(root: str, fields: Mapping[str, Any]) -> dict[str, str]:
    """The published multipart form of a Documents write: ``file[name]`` and so on."""
    out: dict[str, str] = {}
    for key, value in fields.items():
        if value is None:
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        out[f"{root}[{key}]"] = text
    return out


class FolderMirror:
    """Resolves local relative directories to Documents folder ids, creating what is missing.

    Safe under many concurrent callers: a per-path lock makes each folder be looked up and
    created once; listings are cached (folders and files) so `existing_file` costs no call.
    `folders_listed` and `folders_created` count the API calls made, for progress and tests.
    `me` is the Procore user id of our own identity, learnt from the first version we create
    (`created_by`), and used to tell our own earlier work from someone else's.
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
        self.me: int | None = None
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
        self, *, folder_id: int, name: str, upload_uuid: str, size: int, on_conflict: OnConflict
    ) -> AttachResult:
        """`attach` with the existing file taken from, and the outcome written to, this cache."""
        existing = await self.existing_file(folder_id, name)
        return await attach(
            self.requester,
            self.target,
            folder_id=folder_id,
            name=name,
            upload_uuid=upload_uuid,
            size=size,
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
        """List the folder again: someone else changed it, or an answer of ours was lost."""
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
        except BulkUploadError as exc:
            # Whatever the status or words: if the folder now exists (another uploader made it,
            # or our own answer was lost), use it; a folder has no owner worth telling apart.
            if not _ambiguous(exc):
                raise
            folder_id = (await self.refresh(parent_id)).folders.get(name)
            if folder_id is None:
                raise
            return folder_id
        self.folders_created += 1
        folder_id = decoded(resp, lambda data: int(data["id"]))
        # A folder we just made is empty: remember that instead of listing it.
        self._listings[folder_id] = FolderListing(folder_id)
        if (parent := self._listings.get(parent_id)) is not None:
            parent.folders[name] = folder_id
        return folder_id


@dataclass(frozen=True, slots=True)
class _Attempt:
    """What we knew before a write, to recognise its effect in Procore's state afterwards."""

    size: int
    since: float  # our clock, minus the allowed skew
    me: int | None
    known_version: int  # the target file's latest version number before the write (0: no file)

    def made(self, remote: RemoteFile) -> bool:
        """Is `remote`'s latest version the one our write created?"""
        if remote.latest_version != self.known_version + 1 or remote.size != self.size:
            return False
        if remote.latest_created_at is not None and remote.latest_created_at < self.since:
            return False
        return self.me is None or remote.latest_created_by in (None, self.me)


def _renamed_from(name: str, candidate: str) -> bool:
    """``report (3).pdf`` is what Procore's unique_name makes of ``report.pdf``."""
    stem, dot, ext = name.rpartition(".")
    if not stem:
        stem, dot, ext = name, "", ""
    head = f"{stem} ("
    tail = f"){dot}{ext}"
    if not (candidate.startswith(head) and candidate.endswith(tail)):
        return False
    return candidate[len(head) : len(candidate) - len(tail)].isdigit()


async def attach(
    requester: ApiRequester,
    target: Target | DocumentsTarget,
    *,
    folder_id: int,
    name: str,
    upload_uuid: str,
    size: int,
    on_conflict: OnConflict,
    existing: RemoteFile | None,
    mirror: FolderMirror | None = None,
) -> AttachResult:
    """Attach an upload as the file `name` in a folder: one API call, none for a skip.

    `existing` is the file already holding that name, if known. `on_conflict` decides what a clash
    means: "version" adds a version to it, "skip" leaves it (the upload stays unattached and
    Procore deletes it after a week), "rename" lets Procore pick "name (1).ext".

    When a write fails without a clear answer (a lost answer, a 5xx, or a 4xx on our retry
    because the first try already did the work), Procore's state decides, from published fields
    only: the folder is listed again and a file or version that matches our write (name, size,
    one more version than we knew, created since our call, by us when we know who we are) is
    ours and recorded as done; a file someone else put there is a clash for `on_conflict`.
    """
    docs = DocumentsTarget.of(target)
    name = remote_name(name)
    me = mirror.me if mirror is not None else None

    def done(remote: RemoteFile, action: AttachAction) -> AttachResult:
        if mirror is not None:
            mirror.record_file(folder_id, remote)
            if mirror.me is None and remote.latest_created_by is not None:
                mirror.me = remote.latest_created_by
        return AttachResult(remote.id, folder_id, remote.name, remote.latest_version, action)

    async def relist() -> FolderListing:
        if mirror is not None:
            return await mirror.refresh(folder_id)
        return await list_folder(requester, docs, folder_id)

    def attempt(known_version: int) -> _Attempt:
        return _Attempt(size, time.time() - CLOCK_SKEW, me, known_version)

    async def create(unique: bool) -> AttachResult:
        fields = {"name": name, "parent_id": folder_id, "upload_uuid": upload_uuid}
        if unique:
            fields["unique_name"] = True
        ours = attempt(0)
        try:
            resp = await requester.request(
                "POST", docs.files_path, form=_form("file", fields), params=docs.params()
            )
        except BulkUploadError as exc:
            if not _ambiguous(exc):
                raise
            listing = await relist()
            mine = [
                f
                for f in listing.files.values()
                if (f.name == name or (unique and _renamed_from(name, f.name))) and ours.made(f)
            ]
            if mine:
                found = max(mine, key=lambda f: f.id)
                return done(found, "created" if found.name == name else "renamed")
            clash = listing.files.get(name)
            if clash is None or unique:
                raise
            return await on_clash(clash)
        remote = decoded(resp, RemoteFile.from_json)
        return done(remote, "created" if remote.name == name else "renamed")

    async def new_version(file: RemoteFile) -> AttachResult:
        ours = attempt(file.latest_version or 0)
        try:
            resp = await requester.request(
                "PATCH",
                docs.file_path(file.id),
                form=_form("file", {"upload_uuid": upload_uuid}),
                params=docs.params(),
            )
        except BulkUploadError as exc:
            if not _ambiguous(exc):
                raise
            now = next((f for f in (await relist()).files.values() if f.id == file.id), None)
            if now is not None and ours.made(now):
                return done(now, "versioned")
            raise
        return done(decoded(resp, RemoteFile.from_json), "versioned")

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
