"""Stage 5, place: stored uploads become files in Procore, off the transfer slots.

Each arrives after the recorder's checkpoint (the state knows its bytes are stored), and the
destination places them, `max_batch` at a time, with `concurrency` placements in flight.
"""

from __future__ import annotations

import functools

from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from bulkupload.messages import Stored
from bulkupload.models import FileResult
from bulkupload.results import error_text, unplaced

from .batching import batched
from .control import Stage
from .rule import per_file

__all__ = ["PLACE_LINGER", "PLACING_PER_SLOT", "place_stage"]

PLACE_LINGER = 0.02  # seconds a stored file may wait to share a batching destination's call
# Stored files that may wait to be placed (each in placement at once), per transfer slot:
# placing (an API round trip) takes longer than a small file's storage POST (issue 14: at -j32
# with 100 ms API latency, one per slot held attaching to 0.53 of --no-attach's files/s).
PLACING_PER_SLOT = 2


async def place_stage(
    stage: Stage,
    placeable: MemoryObjectReceiveStream[Stored],
    results: MemoryObjectSendStream[FileResult],
) -> None:
    destination = stage.destination
    async with placeable, results:
        linger = max(destination.linger, PLACE_LINGER)
        async for batch in batched(placeable, destination.max_batch, linger):
            failure = functools.partial(_all_failed, batch, destination.deadline)
            try:
                async with per_file(stage.control, results, failure):
                    for result in await destination.place(batch):
                        await results.send(result)
            finally:
                stage.backlog.done(len(batch))


def _all_failed(batch: list[Stored], lifetime: float, exc: BaseException) -> list[FileResult]:
    # A destination answers per file; an error of the whole call fails each file of the
    # batch, and the state keeps their bytes 'sent' so the next run places them.
    why = f"not placed: {error_text(exc)}"
    return [unplaced(stored, why, lifetime=lifetime) for stored in batch]
