"""One upload run: the stages wired with anyio task groups and bounded memory-object streams.

    walk ─batches─▶ plan ─planned─▶ locate+prepare ×C ─tickets─▶ send ×C ─stored─▶ checkpoint
                     │                   │               (no buffer)  │                 │
                     │                   │                            │        place ×C ┘
                     └───────────────────┴──────── results ───────────┴──────────┴─▶ record

Memory does not grow with the tree: at most 4 walk batches, C planned files, no unused ticket
beyond the C held by preparing workers, the placing backlog (stored, not yet placed, whether
before or after the checkpoint: fewer than max(2 C, 2 batches) + C, since senders take no new
file while it is full; the checkpoint itself never waits for placing), and one record batch.
A stop (graceful, hard, or an error no file can get past) ends the stages; the record stage
then gives every file found its line.
"""

from __future__ import annotations

import math
import time

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectSendStream

from bulkupload.manifest import open_manifest
from bulkupload.messages import Planned, Stored, Ticket
from bulkupload.models import FileResult, WalkItem
from bulkupload.stats import KEPT_GONE, RunOutcome, Tally, summary_dict

from .census import census_stage
from .control import Stage
from .placing import PLACING_PER_SLOT, place_stage
from .planning import plan_stage
from .preparing import prepare_stage
from .recording import RECORD_BATCH, checkpoint_stage, record_stage
from .sending import send_stage
from .walking import walk_stage

__all__ = ["run_stages"]

WALK_QUEUE = 4  # walk batches waiting to be planned


async def run_stages(stage: Stage, tally: Tally) -> RunOutcome:
    """Run every stage to the end; `tally` subscribes to `stage.events` already."""
    started = time.monotonic()
    settings, control = stage.settings, stage.control
    results_send, results_recv = anyio.create_memory_object_stream[FileResult](RECORD_BATCH)
    async with (
        open_manifest(settings.manifest) as manifest,
        anyio.create_task_group() as recording,
    ):
        recording.start_soon(record_stage, stage, results_recv, manifest)
        async with results_send, anyio.create_task_group() as work:
            control.scope = work.cancel_scope
            _start(stage, work, results_send)
    if control.fatal is not None:
        raise control.fatal  # every file found has its line; now the run fails as a whole
    # "Not seen" only means "gone" after a full walk that marked what it saw: a dry run marks
    # nothing, and a stopped walk never reached the rest of SOURCE.
    key = stage.destination.state_key
    gone_count, gone_rows = (
        await stage.store.gone(key, stage.run_id, KEPT_GONE)
        if tally.walk_done and not settings.dry_run
        else (0, [])
    )
    keys = (key, *stage.destination.sent_keys)
    unplaced, deadline = await stage.store.unplaced(keys, time.time())
    return RunOutcome(
        unplaced_stored=unplaced,
        unplaced_deadline=deadline,
        tally=tally,
        duration=time.monotonic() - started,
        stopped_by=control.signum,
        time_limited=control.time_limited,
        plan=control.plan,
        notes=list(control.notes),
        gone=[row.rel for row in gone_rows],
        gone_count=gone_count,
        run_id=stage.run_id,
    )


def _start(stage: Stage, work: TaskGroup, results: MemoryObjectSendStream[FileResult]) -> None:
    concurrency = stage.settings.concurrency
    walked_send, walked_recv = anyio.create_memory_object_stream[list[WalkItem]](WALK_QUEUE)
    planned_send, planned_recv = anyio.create_memory_object_stream[Planned](concurrency)
    tickets_send, tickets_recv = anyio.create_memory_object_stream[Ticket](0)
    stored_send, stored_recv = anyio.create_memory_object_stream[Stored](concurrency)
    work.start_soon(walk_stage, stage, walked_send)
    if stage.settings.plan:
        work.start_soon(census_stage, stage)
    work.start_soon(plan_stage, stage, walked_recv, planned_send, results.clone())
    batch = stage.destination.max_batch
    room = concurrency  # nothing to place (storage only): a placer per slot, to hand results on
    if stage.destination.places:
        # One file at a time: PLACING_PER_SLOT files per slot, each in placement at once. In
        # batches: one batch in placement while the next fills (with room for one batch only,
        # the senders stopped while a batch was placed: sending and placing took turns).
        room = max(PLACING_PER_SLOT * concurrency, 2 * batch if batch > 1 else 0)
        stage.backlog.limit = room
        # Senders keep the backlog below `room` (+ a file each), so this stream holds no more:
        # the checkpoint never waits for placing, and no stored file goes unrecorded for long.
        placeable_send, placeable_recv = anyio.create_memory_object_stream[Stored](math.inf)
        work.start_soon(checkpoint_stage, stage, stored_recv, placeable_send)
    else:  # nothing to place: a stored file is done, no checkpoint needed
        placeable_recv = stored_recv
    for _ in range(concurrency):
        work.start_soon(
            prepare_stage, stage, planned_recv.clone(), tickets_send.clone(), results.clone()
        )
        work.start_soon(
            send_stage, stage, tickets_recv.clone(), stored_send.clone(), results.clone()
        )
    # One file at a time: every file of the backlog can be in placement; in batches: one
    # batch at a time.
    for _ in range(room if batch == 1 else 1):
        work.start_soon(place_stage, stage, placeable_recv.clone(), results.clone())
    # Each task holds its own clones; closing the originals lets each loop end with its inputs.
    for stream in (planned_recv, tickets_send, tickets_recv, stored_send, placeable_recv):
        stream.close()


async def finish(stage: Stage, outcome: RunOutcome) -> None:
    """Record the run's summary in the state store."""
    await stage.store.finish_run(stage.run_id, summary_dict(outcome))
