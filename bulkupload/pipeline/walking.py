"""Stage 1, walk: SOURCE → batches of walk items, from a worker thread (scandir blocks)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import anyio.from_thread
from anyio.streams.memory import MemoryObjectSendStream

from bulkupload.errors import BulkUploadError
from bulkupload.events import FilesFound, WalkEnded
from bulkupload.models import FileEntry, WalkItem
from bulkupload.sources import walk_sources

from .control import Stage

__all__ = ["WALK_BATCH", "walk_in_batches", "walk_stage"]

log = logging.getLogger("bulkupload")

WALK_BATCH = 200  # items per hand-over from the walk thread: one thread hop per batch
# The first hand-over is small, so the first uploads start after a few stats, not 200.
FIRST_WALK_BATCH = 16


def walk_in_batches(
    stage: Stage,
    size: int,
    deliver: Callable[[list[WalkItem]], Coroutine[Any, Any, None]],
    *,
    first: int | None = None,
) -> bool:
    """In a worker thread: walk every SOURCE, handing `deliver` (run on the event loop) `size`
    items at a time (the first time `first`); False when a stop cut the walk short."""
    batch: list[WalkItem] = []
    limit = size if first is None else min(first, size)
    for item in walk_sources(stage.settings):
        if stage.control.stopping:
            return False
        batch.append(item)
        if len(batch) >= limit:
            anyio.from_thread.run(deliver, batch)
            batch, limit = [], size
    if batch:
        anyio.from_thread.run(deliver, batch)
    return True


async def walk_stage(stage: Stage, batches: MemoryObjectSendStream[list[WalkItem]]) -> None:
    control = stage.control

    async def deliver(batch: list[WalkItem]) -> None:
        # On the loop: the ledger and the events are never touched from the walk thread. Items
        # count as found once handed over, so a batch lost to an abort is never counted.
        stage.ledger.found(batch)
        stage.events.emit(
            FilesFound(len(batch), sum(i.size for i in batch if isinstance(i, FileEntry)))
        )
        await batches.send(batch)

    complete = False
    async with batches:
        try:
            # Not abandoned on cancel: the thread ends at its next hand-over (which raises), so
            # no walk outlives its run in an embedding program.
            complete = await anyio.to_thread.run_sync(
                functools.partial(walk_in_batches, first=FIRST_WALK_BATCH),
                stage,
                WALK_BATCH,
                deliver,
            )
        except Exception as exc:
            log.exception("the walk failed")
            control.fail(
                exc
                if isinstance(exc, BulkUploadError)
                else BulkUploadError(f"internal error while walking: {type(exc).__name__}: {exc}")
            )
    stage.events.emit(WalkEnded(complete=complete))
