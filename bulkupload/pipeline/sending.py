"""Stage 4, send: the bytes go to storage under the layers every protocol shares.

Fresh instructions when a ticket is too old to start or storage says it expired (policy
`renew_instruction`), one more try from a fresh stat when the file changed while it was read
(policy `file_changed`), and a new upload when Procore's processing failed and says a new one
may pass (policy `recreate_upload`), around the protocol's own `send`, which retries its
transport unit.
"""

from __future__ import annotations

import functools
import time
from dataclasses import replace

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from bulkupload.errors import FileChanged, PolicyExpired, ProcessingFailed
from bulkupload.messages import Stored, Ticket
from bulkupload.models import FileResult
from bulkupload.protocols.base import Meter, select
from bulkupload.results import failed, left_behind

from .control import Stage
from .preparing import prepare, restated
from .rule import per_file

__all__ = ["deliver", "send_stage"]


async def deliver(stage: Stage, ticket: Ticket, meter: Meter) -> Stored:
    """Store the bytes of `ticket`'s file, renewing instructions and re-reading a changed file
    as the run's policies allow."""
    policies, events = stage.policies, stage.events
    renewals = changes = recreations = 0
    try:
        while True:
            protocol = select(stage.protocols, ticket.item.entry.size)
            if protocol.stale(ticket, time.monotonic()):
                events.retried(policies.renew_instruction.name, "instructions too old to start")
                ticket = await prepare(stage, ticket.item)
            try:
                return await protocol.send(ticket, meter)
            except PolicyExpired as exc:
                renewals += 1
                if renewals >= policies.renew_instruction.attempts:
                    raise
                events.retried(policies.renew_instruction.name, str(exc))
                ticket = await prepare(stage, ticket.item)
            except ProcessingFailed as exc:
                recreations += 1
                if not exc.retryable or recreations >= policies.recreate_upload.attempts:
                    raise
                events.retried(policies.recreate_upload.name, str(exc))
                ticket = await prepare(stage, replace(ticket.item, transfer=None))
            except FileChanged as exc:
                changes += 1
                if changes >= policies.file_changed.attempts:
                    raise FileChanged(
                        f"{exc} (changed again after a fresh read: not sent)"
                    ) from exc
                events.retried(policies.file_changed.name, str(exc))
                ticket = await prepare(stage, await restated(ticket.item))
    finally:
        meter.settle()


async def send_stage(
    stage: Stage,
    tickets: MemoryObjectReceiveStream[Ticket],
    stored: MemoryObjectSendStream[Stored],
    results: MemoryObjectSendStream[FileResult],
) -> None:
    control = stage.control
    async with tickets, stored, results:
        while True:
            await stage.backlog.room()  # placing is behind: take no new file until it catches up
            try:
                ticket = await tickets.receive()
            except anyio.EndOfStream:
                return
            if control.stopping:
                await results.send(left_behind(ticket.item, control.why, sending=False))
                continue
            stage.ledger.sending(ticket.item.entry.rel)
            meter = Meter(stage.events)
            failure = functools.partial(_failed, ticket, meter)
            async with per_file(control, results, failure):
                done = await deliver(stage, ticket, meter)
                stage.backlog.add(1)  # stored, not placed: counts until a placer is done with it
                await stored.send(done)


def _failed(ticket: Ticket, meter: Meter, exc: BaseException) -> FileResult:
    return failed(ticket.item, exc, attempts=meter.attempts)
