"""The Documents tool: the local tree mirrored as folders, each file attached as a file or a
new version; a file of the same name is handled by `--on-conflict`."""

from __future__ import annotations

import datetime as dt
import logging
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bulkupload.errors import STOPS_THE_RUN, BulkUploadError
from bulkupload.messages import Planned, Slot, Stored
from bulkupload.models import Disposition, FileResult, OnConflict, Placement, Status, Target
from bulkupload.procore.attach import attach
from bulkupload.procore.client import ApiRequester
from bulkupload.procore.folders import FolderMirror
from bulkupload.procore.ownership import latest_is_ours
from bulkupload.procore.remote import RemoteFile, remote_name
from bulkupload.procore.routes import target_errors
from bulkupload.results import placed, skipped, unplaced

from .storage_only import UNATTACHED_LIFETIME

__all__ = ["Documents", "DocumentsSlot", "documents_state_key"]

log = logging.getLogger("bulkupload")


def documents_state_key(target: Target, folder: str) -> str:
    """The state's key for files mirrored under `folder` of `target`'s Documents."""
    return f"{target.key}/{folder}" if folder else target.key


@dataclass(frozen=True, slots=True)
class DocumentsSlot(Slot):
    """The folder a file goes into, and the file already holding its name there, if any."""

    folder_id: int
    existing: RemoteFile | None


class Documents:
    """Attaches uploads to the Documents tool under `folder`, creating folders as needed."""

    name = "documents"
    max_batch = 1
    api_calls_per_file = 1.0  # for the plan's estimate
    api_calls_per_folder = 2.0
    linger = 0.0
    checks_in_dry_run = False  # a dry run asks nothing of Procore here
    places = True
    deadline = UNATTACHED_LIFETIME

    def __init__(
        self,
        api: ApiRequester,
        target: Target,
        *,
        folder: str = "",
        on_conflict: OnConflict = "version",
        keep_folders: int = 64,
    ) -> None:
        self.api = api
        self.target = target
        self.on_conflict: OnConflict = on_conflict
        self.mirror = FolderMirror(api, target, folder, keep=keep_folders)
        self.state_key = documents_state_key(target, folder)
        # Uploads sent with --no-attach belong to the target, not to a folder yet.
        self.sent_keys = (target.key,) if self.state_key != target.key else ()

    async def locate(self, item: Planned) -> Planned | FileResult:
        entry = item.entry
        rel_dir = posixpath.dirname(entry.rel)
        self.mirror.focus(rel_dir)
        with target_errors(self.target):
            folder_id = await self.mirror.folder_id_for(rel_dir)
            existing = await self.mirror.existing_file(folder_id, entry.name)
        if existing is not None and self.on_conflict == "skip":
            return replace(
                skipped(entry, "exists in Procore (--on-conflict skip)", prior=item.prior),
                disposition=Disposition.DONE,  # the state remembers the skip and where
                placement=Placement(existing.id, folder_id, existing.latest_version, "skipped"),
            )
        return replace(item, slot=DocumentsSlot(folder_id, existing))

    async def resume(self, item: Planned) -> FileResult | None:
        row, slot = item.prior, item.slot
        if row is None or item.resume is None or not isinstance(slot, DocumentsSlot):
            return None
        stored = Stored(item, item.resume, row.md5 or "", row.attempts, _timestamp(row.updated_at))
        existing = slot.existing
        if existing is not None and latest_is_ours(
            existing, size=item.entry.size, sent_at=stored.stored_at, me=self.mirror.me
        ):
            # Attached before a crash, never recorded: nothing to send, nothing to attach.
            placement = Placement(existing.id, slot.folder_id, existing.latest_version)
            return placed(
                stored, replace(placement, action="already in Procore, unchanged since it was sent")
            )
        try:
            return await self.attach(stored)
        except STOPS_THE_RUN:
            raise
        except BulkUploadError as exc:
            log.info("stored bytes not attachable, sending again: %s: %s", item.entry.rel, exc)
            return None  # expired, deleted or refused: upload again

    async def place(self, batch: Sequence[Stored]) -> list[FileResult]:
        return [await self._place_one(stored) for stored in batch]

    async def _place_one(self, stored: Stored) -> FileResult:
        try:
            return await self.attach(stored)
        except STOPS_THE_RUN:
            raise
        except BulkUploadError as exc:
            return unplaced(
                stored,
                f"stored but not attached to Documents: {exc} "
                "(the next run attaches these bytes without sending them again)",
                lifetime=self.deadline,
            )

    async def attach(self, stored: Stored) -> FileResult:
        """Attach one stored upload (located first); its errors are raised, not recorded."""
        item = stored.item
        slot = item.slot
        if not isinstance(slot, DocumentsSlot):
            raise TypeError(f"{item.entry.display_rel}: placed before it was located")
        done = await attach(
            self.api,
            self.mirror,
            folder_id=slot.folder_id,
            name=remote_name(item.entry.name),
            upload_uuid=stored.upload_id,
            size=item.entry.size,
            on_conflict=self.on_conflict,
            existing=slot.existing,
        )
        placement = Placement(done.file_id, done.folder_id, done.version, done.action)
        status = Status.SKIPPED if done.action == "skipped" else Status.UPLOADED
        return placed(stored, placement, status=status)


def _timestamp(iso: str) -> float:
    try:
        return dt.datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return 0.0  # unreadable: no version can be proven ours by its time
