"""The folder tree of every project's and company's Documents: lookups and navigation.

`DocumentsStore` builds on it with the writes and their rules.
"""

from __future__ import annotations

from collections.abc import Iterator

from bulkupload.emulator.core import Clock

from .model import RECYCLE_BIN, DocFile, DocFolder, SpaceKey, rejected


class FolderTree:
    """Folders and files by id (unique across every space), each space's root and recycle bin."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._next_id = 1
        self.folders: dict[int, DocFolder] = {}
        self.files: dict[int, DocFile] = {}
        self.roots: dict[SpaceKey, int] = {}
        self.recycle_bins: dict[SpaceKey, int] = {}

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def now(self) -> float:
        return self.clock.now()

    def root(self, space: SpaceKey) -> DocFolder:
        """The space's root folder, created (with its recycle bin) on first use."""
        if space not in self.roots:
            now = self.now()
            root = DocFolder(self._new_id(), space, "", None, now, None, now)
            self.folders[root.id] = root
            self.roots[space] = root.id
            # The recycle bin hangs off root outside the name map: a user folder may share its name.
            rb = DocFolder(self._new_id(), space, RECYCLE_BIN, root.id, now, None, now, True)
            self.folders[rb.id] = rb
            self.recycle_bins[space] = rb.id
        return self.folders[self.roots[space]]

    def folder(self, space: SpaceKey, folder_id: int) -> DocFolder:
        self.root(space)
        found = self.folders.get(folder_id)
        if found is None or found.space != space:
            raise rejected(404, f"Folder {folder_id} not found")
        return found

    def file(self, space: SpaceKey, file_id: int) -> DocFile:
        found = self.files.get(file_id)
        if found is None or found.space != space:
            raise rejected(404, f"File {file_id} not found")
        return found

    def path_of(self, folder_id: int | None) -> str:
        """``A/B/C`` for a folder, ``""`` for a root."""
        parts: list[str] = []
        while folder_id is not None:
            f = self.folders[folder_id]
            if f.parent_id is not None:
                parts.append(f.name)
            folder_id = f.parent_id
        return "/".join(reversed(parts))

    def ancestors(self, folder: DocFolder) -> Iterator[DocFolder]:
        """The folder itself, then its parent, up to the root."""
        current: DocFolder | None = folder
        while current is not None:
            yield current
            current = None if current.parent_id is None else self.folders[current.parent_id]

    def folder_read_only(self, folder: DocFolder) -> bool:
        """A read-only folder makes everything under it read-only too."""
        return any(f.read_only for f in self.ancestors(folder))

    def file_read_only(self, file: DocFile) -> bool:
        return file.read_only or self.folder_read_only(self.folders[file.parent_id])

    def descendants(self, folder: DocFolder, depth: int) -> Iterator[DocFolder | DocFile]:
        """Folders and files under `folder`, at most `depth` levels down (recycle bin left out)."""
        if depth <= 0:
            return
        for file_id in folder.files.values():
            yield self.files[file_id]
        for folder_id in folder.folders.values():
            child = self.folders[folder_id]
            yield child
            yield from self.descendants(child, depth - 1)
