"""Local directories resolved to Documents folders, each listed and created at most once.

API-call economy is the point: a remote folder is listed at most once per run (never when we
just created it) and created at most once, however many workers ask for it at the same time.
Memory stays bounded on a tree of any size: the walk is sorted and depth-first, so once it has
left a folder it never comes back, and only the folders on the current path plus the last
`keep` ones used are remembered (`focus`).
"""

from __future__ import annotations

from collections import OrderedDict

import anyio

from bulkupload.errors import BulkUploadError
from bulkupload.models import Target

from .client import ApiRequester
from .ownership import settled_write
from .remote import FolderListing, RemoteFile, decoded, list_folder, remote_name
from .routes import DocumentsRoutes

__all__ = ["FolderMirror"]


def _split(path: str) -> list[str]:
    return [remote_name(part) for part in path.split("/") if part]


def _ancestors(path: str) -> set[str]:
    """`a/b/c` → {"", "a", "a/b", "a/b/c"}: a folder and every folder above it."""
    parts = path.split("/") if path else []
    return {"/".join(parts[:n]) for n in range(len(parts) + 1)}


class FolderMirror:
    """Resolves local relative directories to Documents folder ids, creating what is missing.

    Safe under many concurrent callers: a per-path lock makes each folder be looked up and
    created once; listings are cached (folders and files) so `existing_file` costs no call.
    `me` is the Procore user id of our own identity, learnt from the first version we create
    (`created_by`), and used to tell our own earlier work from someone else's.
    """

    def __init__(
        self, requester: ApiRequester, target: Target, base_folder: str = "", *, keep: int = 64
    ) -> None:
        self.requester = requester
        self.routes = DocumentsRoutes(target)
        self.base = "/".join(_split(base_folder))
        self.me: int | None = None
        self._keep = keep
        self._ids: dict[str, int] = {}  # remote path ("" = Documents root) → folder id
        self._paths: dict[int, str] = {}  # folder id → remote path
        self._listings: dict[int, FolderListing] = {}
        self._path_locks: dict[str, anyio.Lock] = {}
        self._listing_locks: dict[int, anyio.Lock] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._focused: str | None = None

    @property
    def remembered(self) -> int:
        """How many folders the mirror holds right now (ids and listings): the memory bound."""
        return len(self._paths) + len(self._listings)

    def _remote_path(self, rel_dir: str) -> str:
        return "/".join([*_split(self.base), *_split(rel_dir)])

    def focus(self, rel_dir: str) -> None:
        """The walk has reached `rel_dir`: forget folders it has left for good.

        Kept: every folder above `rel_dir` and the last `keep` folders focused on (workers
        take files a little out of order). Forgetting costs at most one listing more later.
        """
        path = self._remote_path(rel_dir)
        if path == self._focused:
            return
        self._focused = path
        self._recent[path] = None
        self._recent.move_to_end(path)
        while len(self._recent) > self._keep:
            self._recent.popitem(last=False)
        kept: set[str] = set()
        for recent in self._recent:
            kept |= _ancestors(recent)
        for gone in [p for p in self._ids if p not in kept]:
            folder_id = self._ids.pop(gone)
            self._paths.pop(folder_id, None)
            self._listings.pop(folder_id, None)
        for folder_id in [i for i, p in self._paths.items() if p not in kept]:
            del self._paths[folder_id]
        for folder_id in [i for i in self._listings if i not in self._paths]:
            del self._listings[folder_id]  # left behind, or listed again after it was forgotten
        for stale in [p for p, lock in self._path_locks.items() if p not in kept]:
            if not self._path_locks[stale].locked():
                del self._path_locks[stale]
        for stale_id in [i for i in self._listing_locks if i not in self._paths]:
            if not self._listing_locks[stale_id].locked():
                del self._listing_locks[stale_id]

    async def folder_id_for(self, rel_dir: str) -> int:
        """The folder id for `rel_dir` (``/``-separated, relative to the base folder)."""
        return await self._resolve(self._remote_path(rel_dir))

    async def existing_file(self, folder_id: int, name: str) -> RemoteFile | None:
        """The file called `name` (local form) in the folder, from the cached listing."""
        return (await self._listing(folder_id)).files.get(remote_name(name))

    def record_file(self, folder_id: int, remote: RemoteFile) -> None:
        """Note a file created or versioned in a folder so later lookups see it."""
        listing = self._listings.get(folder_id)
        if listing is not None:
            listing.files[remote.name] = remote
        if self.me is None and remote.latest_created_by is not None:
            self.me = remote.latest_created_by

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
                folder_id = (await self._fetch(None)).id
            else:
                parent_path, _, name = path.rpartition("/")
                parent_id = await self._resolve(parent_path)
                listed = (await self._listing(parent_id)).folders.get(name)
                folder_id = listed if listed is not None else await self._create(parent_id, name)
            self._ids[path] = folder_id
            self._paths[folder_id] = path
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
        listing = await list_folder(self.requester, self.routes, folder_id)
        self._listings[listing.id] = listing
        return listing

    async def _create(self, parent_id: int, name: str) -> int:
        body = {"folder": {"name": name, "parent_id": parent_id}}

        async def write() -> int:
            # Sent once per attempt: Procore publishes no refusal of a second folder of the
            # same name, so a lost answer is settled from the listing before sending again.
            resp = await self.requester.request(
                "POST", self.routes.folders, json=body, params=self.routes.params(), retry=False
            )
            folder_id = decoded(resp, lambda data: int(data["id"]))
            # A folder we just made is empty: remember that instead of listing it.
            self._listings[folder_id] = FolderListing(folder_id)
            if (parent := self._listings.get(parent_id)) is not None:
                parent.folders[name] = folder_id
            return folder_id

        async def landed(exc: BulkUploadError) -> int:
            # Whatever the status or words: if the folder now exists (another uploader made it,
            # or our own answer was lost), use it; a folder has no owner worth telling apart.
            folder_id = (await self.refresh(parent_id)).folders.get(name)
            if folder_id is None:
                raise exc
            return folder_id

        retried = self.requester.on_retry("POST", self.routes.folders)
        return await settled_write(write, landed, self.requester.policy, on_retry=retried)
