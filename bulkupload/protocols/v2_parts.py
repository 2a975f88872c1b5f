"""The parts of one v2.1 upload on their way: PUT in parallel within the run's budget of
storage requests, each retried on its own, each recorded once stored; URLs renewed from the
status call when they would expire before a part is sent."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import anyio.abc

from bulkupload.errors import ApiError, PolicyExpired
from bulkupload.messages import Ticket
from bulkupload.procore.unified import PartUrl, UnifiedUpload, complete_upload, upload_status
from bulkupload.retry import call_with_retries
from bulkupload.state import TransferRow

from .base import Meter, Transport
from .parts import put_part

__all__ = ["PartSender", "UnifiedTicket"]

# A part's URL must outlast its sending: a minute plus the part at a slow 1 MiB/s.
URL_MARGIN, SLOW_RATE = 60.0, float(1 << 20)
# Parts of one file sent at once when the run sets no budget.
PARALLEL = 4


@dataclass(frozen=True, slots=True)
class UnifiedTicket(Ticket):
    """An upload ready for its parts: what Procore was promised (`transfer`, with the ETags of
    parts already stored), a URL per part, and the status Procore last gave."""

    transfer: TransferRow
    urls: tuple[PartUrl, ...]
    status: str


class PartSender:
    """The parts of one upload being sent: which are stored, and the URLs to send the rest."""

    def __init__(
        self,
        transport: Transport,
        path: str,
        ticket: UnifiedTicket,
        meter: Meter,
        *,
        on_stored: Callable[[int], None] | None = None,
    ) -> None:
        self.transport, self.path, self.ticket, self.meter = transport, path, ticket, meter
        self.on_stored = on_stored  # told each part's index once it is stored
        self.transfer = ticket.transfer
        self.etags: dict[int, str] = dict(ticket.transfer.etags)
        self.urls = list(ticket.urls)
        self.renewed = time.monotonic()
        self._renewing = anyio.Lock()
        self.started = False

    @property
    def complete(self) -> bool:
        return len(self.etags) == len(self.transfer.parts)

    def etag_list(self) -> list[str | None]:
        return [self.etags.get(n) for n in range(len(self.transfer.parts))]

    async def send_missing(self) -> None:
        todo = iter([n for n in range(len(self.transfer.parts)) if n not in self.etags])
        slots = self.transport.storage_slots
        workers = int(slots.total_tokens) if slots is not None else PARALLEL
        failures: list[Exception] = []

        async def worker(group: anyio.abc.TaskGroup) -> None:
            for number in todo:
                try:
                    await self._send(number)
                except Exception as exc:
                    # The first real error, raised plainly: the other parts stop.
                    failures.append(exc)
                    group.cancel_scope.cancel()
                    return

        async with anyio.create_task_group() as group:
            for _ in range(min(workers, len(self.transfer.parts))):
                group.start_soon(worker, group)
        if failures:
            raise failures[0]

    async def _send(self, number: int) -> None:
        transport = self.transport
        plan = self.transfer.parts[number]
        offset = sum(p.size for p in self.transfer.parts[:number])
        entry = self.ticket.item.entry
        part_policy, renewals = (
            transport.policies.segment_part,
            transport.policies.renew_instruction,
        )

        async def attempt() -> str:
            url = await self._url(number)
            self.started = True
            return await put_part(
                transport,
                entry,
                self.meter,
                offset=offset,
                plan=plan,
                url=url.url,
                headers=url.headers,
            )

        for renewal in range(renewals.attempts):
            try:
                etag = await call_with_retries(
                    part_policy,
                    attempt,
                    on_retry=lambda exc: transport.events.retried(
                        part_policy.name, f"{entry.display_rel} part {number + 1}: {exc}"
                    ),
                )
                break
            except PolicyExpired as exc:
                if renewal + 1 >= renewals.attempts:
                    raise
                transport.events.retried(renewals.name, f"{entry.display_rel}: {exc}")
                await self._renew(force=True)
        self.etags[number] = etag
        if self.on_stored is not None:
            self.on_stored(number)
        if transport.journal is not None:
            await transport.journal.part_stored(entry.rel, self.transfer.upload_id, number, etag)

    async def _url(self, number: int) -> PartUrl:
        """Part `number`'s URL, renewed first when it would expire before the part is sent."""
        size = self.transfer.parts[number].size
        if self.urls[number].expires_at - time.time() < URL_MARGIN + size / SLOW_RATE:
            await self._renew(force=False)
        return self.urls[number]

    async def _renew(self, *, force: bool) -> None:
        """Fresh URLs for every part from the status call (one call for all waiting parts)."""
        asked = time.monotonic()
        async with self._renewing:
            if self.renewed > asked and not force:
                return  # another part renewed them while this one waited
            upload: UnifiedUpload = await upload_status(
                self.transport.api, self.path, self.transfer.upload_id
            )
            if len(upload.parts) != len(self.transfer.parts):
                raise ApiError(
                    200, f"upload {upload.upload_id} is {upload.status}: no part URLs to renew"
                )
            self.urls = list(upload.parts)
            self.renewed = time.monotonic()
            if not force:
                self.transport.events.retried("renewal", "part URLs about to expire")

    async def tell_procore(self) -> None:
        """The file stops short (a failure, an abort): Procore hears which parts it has, as our
        state does (best effort, shielded, briefly)."""
        if not self.etags:
            return
        transport = self.transport
        with (
            anyio.CancelScope(shield=True),
            anyio.move_on_after(10),
            contextlib.suppress(Exception),
        ):
            await complete_upload(
                transport.api, self.path, self.transfer.upload_id, self.etag_list()
            )
