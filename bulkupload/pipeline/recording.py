"""The recorder, the one writer of what the run did: checkpoints and outcomes.

A checkpoint tells the state that a file's bytes are stored (`sent`) before it is placed, so a
run killed before placing places those bytes next time instead of sending them again. Every
outcome becomes a manifest line and a state row, then a `FileDone` event. Both are gathered
for a moment, so a batch costs one thread hand-off and one transaction (per-file hand-offs
were the largest CPU cost of small files).
When the stream ends, every file found that still has no line gets one (`Ledger`): that is
how a stop, whatever its cause, leaves no file unaccounted for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import anyio
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from bulkupload.errors import StateError
from bulkupload.events import FileDone
from bulkupload.manifest import ManifestWriter
from bulkupload.messages import Stored
from bulkupload.models import FileResult
from bulkupload.results import stored_only
from bulkupload.state import AsyncStateStore, TransferRow

from .batching import batched
from .control import Stage
from .rule import as_state_error

__all__ = ["CHECKPOINT_LINGER", "RECORD_BATCH", "RECORD_LINGER", "checkpoint_stage", "record_stage"]

RECORD_BATCH = 500
RECORD_LINGER = 0.05  # seconds a result may wait to share its batch's write
CHECKPOINT_LINGER = 0.02  # seconds a stored file may wait to share its batch's transaction


async def checkpoint_stage(
    stage: Stage,
    stored: MemoryObjectReceiveStream[Stored],
    placeable: MemoryObjectSendStream[Stored],
) -> None:
    """Record 'sent' (stored, not placed) for each stored upload before it is placed. Never
    waits for placing (`placeable` has room for the whole backlog, which the senders bound)."""
    key = stage.destination.state_key
    async with stored, placeable:
        async for batch in batched(stored, RECORD_BATCH, CHECKPOINT_LINGER):
            try:
                lifetime = stage.destination.deadline
                sent = [stored_only(s, lifetime=lifetime) for s in batch]
                await stage.store.record(key, sent, stage.run_id)
            except Exception as exc:
                stage.control.fail(as_state_error(exc))  # their lines come from the ledger
                return
            for item in batch:
                placeable.send_nowait(item)


class StateJournal:
    """Uploads in progress as the protocols report them (`protocols.base.TransferJournal`),
    written to the state at once: a part counts as stored only once the state knows it."""

    def __init__(self, store: AsyncStateStore, state_key: str) -> None:
        self._store, self._key = store, state_key

    async def began(self, rel: str, transfer: TransferRow) -> None:
        with anyio.CancelScope(shield=True):
            await self._store.begin_transfer(self._key, rel, transfer)

    async def part_stored(self, rel: str, upload_id: str, number: int, etag: str) -> None:
        with anyio.CancelScope(shield=True):
            await self._store.part_stored(self._key, rel, upload_id, number, etag)

    async def document_uploads_made(self, made: Sequence[tuple[str, str]]) -> None:
        with anyio.CancelScope(shield=True):
            await self._store.note_document_uploads(self._key, made)


async def record_stage(
    stage: Stage, results: MemoryObjectReceiveStream[FileResult], manifest: ManifestWriter
) -> None:
    async with results:
        async for batch in batched(results, RECORD_BATCH, RECORD_LINGER):
            await _write(stage, batch, manifest)
    left = stage.ledger.left_behind(stage.control.why)
    if left:
        await _write(stage, left, manifest)


async def _write(stage: Stage, batch: list[FileResult], manifest: ManifestWriter) -> None:
    written = False

    def lines() -> None:
        nonlocal written
        manifest.write_many(batch)
        written = True

    keep = [] if stage.settings.dry_run else batch  # a dry run writes no state
    with anyio.CancelScope(shield=True):  # a line handed to the recorder is never lost
        try:
            if not isinstance(stage.control.fatal, StateError):
                # Stopping on another error (credentials, the target) or not at all: what the
                # files that finished did is kept, or the next run would send them again.
                await stage.store.record(
                    stage.destination.state_key, keep, stage.run_id, alongside=lines
                )
            else:  # the records are what failed: the lines still go, the state may not
                await anyio.to_thread.run_sync(lines)
        except Exception as exc:
            stage.control.fail(as_state_error(exc))
            if not written:
                # The manifest itself may be what failed; the error above says so either way.
                with contextlib.suppress(Exception):
                    await anyio.to_thread.run_sync(lines)
    for result in batch:
        stage.ledger.done(result.rel)
        stage.events.emit(FileDone(result))
