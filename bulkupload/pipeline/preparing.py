"""Stage 3, locate and prepare: the destination finds the file's slot (or finishes it from bytes
an earlier run stored), then the file's protocol gets just-in-time instructions.

The stream to the send stage has no buffer, so a ticket is handed over only when a send worker
takes it: at most `concurrency` tickets ever wait unused, and each is checked for age again
just before its bytes go out.
"""

from __future__ import annotations

import functools
from dataclasses import replace

import anyio
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from bulkupload.errors import FileChanged
from bulkupload.messages import Planned, Ticket
from bulkupload.models import WOULD_UPLOAD, FileResult
from bulkupload.procore.routes import target_errors
from bulkupload.protocols.base import select
from bulkupload.protocols.files import restat
from bulkupload.results import failed_before_sending, left_behind, skipped

from .control import Stage
from .rule import per_file

__all__ = ["prepare", "prepare_stage"]


async def prepare(stage: Stage, item: Planned) -> Ticket:
    """Instructions for `item` from the protocol that accepts its size; a file that changes
    while a protocol reads it (hashing parts) is stat'ed afresh and prepared once more."""
    changes = 0
    while True:
        protocol = select(stage.protocols, item.entry.size)
        try:
            with target_errors(stage.settings.target):
                return await protocol.prepare(item)
        except FileChanged as exc:
            changes += 1
            if changes >= stage.policies.file_changed.attempts:
                raise
            stage.events.retried(stage.policies.file_changed.name, str(exc))
            item = await restated(item)


async def restated(item: Planned) -> Planned:
    """`item` with a fresh stat of its file (FileChanged if it cannot be read any more)."""
    entry = await anyio.to_thread.run_sync(restat, item.entry)
    return replace(item, entry=entry, md5=None, transfer=None)


async def prepare_stage(
    stage: Stage,
    planned: MemoryObjectReceiveStream[Planned],
    tickets: MemoryObjectSendStream[Ticket],
    results: MemoryObjectSendStream[FileResult],
) -> None:
    destination, control = stage.destination, stage.control
    async with planned, tickets, results:
        async for item in planned:
            if control.stopping:
                await results.send(left_behind(item, stage.control.why, sending=False))
                continue
            async with per_file(control, results, functools.partial(failed_before_sending, item)):
                located = await destination.locate(item)
                if isinstance(located, FileResult):
                    await results.send(located)
                    continue
                if stage.settings.dry_run:  # checked (read-only), nothing sent
                    await results.send(skipped(item.entry, WOULD_UPLOAD, prior=item.prior))
                    continue
                stage.ledger.planned(located)
                if located.resume is not None:
                    finished = await destination.resume(located)
                    if finished is not None:
                        await results.send(replace(finished, resumed=True))
                        continue
                ticket = await prepare(stage, located)
                await tickets.send(ticket)
