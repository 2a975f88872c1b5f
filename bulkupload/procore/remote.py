"""The Documents tool's published shapes, decoded: a folder's children and a file's latest
version. Procore returns no upload uuid and no content hash on a file version, so what a client
can know of a version is its number, size, creation time and creator."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from bulkupload.errors import ApiError

from .client import ApiRequester, ApiResponseLike
from .routes import DocumentsRoutes

__all__ = ["FolderListing", "RemoteFile", "decoded", "list_folder", "remote_name"]

T = TypeVar("T")


def remote_name(local: str) -> str:
    """The Documents name for a local name.

    Local names are surrogate-escaped text; Procore needs valid UTF-8, so each undecodable byte
    becomes U+FFFD. That is lossy (two local names may map to one remote name) but the result is
    what a user sees in Procore's UI; a collision is handled like any other name clash.
    """
    return local.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A file already in Documents, as far as the published File object tells (`latest_*`:
    its latest version)."""

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


async def list_folder(
    requester: ApiRequester, routes: DocumentsRoutes, folder_id: int | None
) -> FolderListing:
    """One folder's children (`None`: the root), in one API call.

    Only each file's latest version is asked for: that is all a run needs, and it keeps the
    answer of a big folder (not paginated) small.
    """
    path = routes.folders if folder_id is None else routes.folder(folder_id)
    # Published for project-level folders only; the company level lists every version.
    params = (
        routes.params(show_latest_file_version_only="true")
        if routes.target.kind == "project"
        else routes.params()
    )
    resp = await requester.request("GET", path, params=params)
    return decoded(resp, FolderListing.from_json)
