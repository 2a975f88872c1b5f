"""Direct File Uploads v1.1 (or v1.0) in segments, for files over the segment threshold:
hash every segment, Create Upload with the hashes, PUT the segments in parallel, PATCH to
complete.

One pass over the file plans the segments (SHA-256 and MD5 each, and the whole file's MD5). Each
segment then goes as its own `FileRange`, at most `parallel` at once, so at most `parallel`
chunks of the file are in memory; a segment is retried on its own. Segment URLs are not renewed
(Procore publishes no way), so a file too big to start every segment within the instructions'
max age at that pace starts the rest together then, a chunk in memory each. A file that
changes is caught by each segment's SHA-256 and by a stat before completing, so it never
becomes a stored object.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import anyio
from anyio.abc import TaskGroup

from bulkupload.errors import ApiError
from bulkupload.messages import Planned, Stored, Ticket
from bulkupload.models import FileEntry, Target
from bulkupload.procore.decode import SegmentTarget, parse_segmented_upload
from bulkupload.procore.routes import uploads_path
from bulkupload.protocols.base import Meter, Transport
from bulkupload.protocols.files import CHUNK, verify_unchanged
from bulkupload.protocols.parts import part_headers, plan_parts, put_part
from bulkupload.protocols.v1_post import DEFAULT_MAX_AGE, create_upload_json
from bulkupload.retry import call_with_retries
from bulkupload.state import PartPlan
from bulkupload.urls import check_storage_url

__all__ = ["SegmentTicket", "V1Segmented", "plan_segments", "segment_headers"]

#: The headers of one segment PUT (`parts.part_headers`): the signed ones, never credentials.
segment_headers = part_headers


@dataclass(frozen=True, slots=True)
class SegmentTicket(Ticket):
    """A segmented upload ready to be fed: its `uuid`, the whole file's `md5`, and per segment
    (in order) its plan with the signed URL and the exact headers to PUT it with."""

    uuid: str
    md5: str
    targets: tuple[SegmentTarget, ...]


def plan_segments(
    entry: FileEntry,
    segment_size: int,
    *,
    chunk_size: int = CHUNK,
    stop: threading.Event | None = None,
) -> tuple[list[PartPlan], str]:
    """Each segment's size, SHA-256 and MD5 and the whole file's MD5, in one pass (blocking)."""
    plans, _, md5 = plan_parts(
        entry, segment_size, chunk_size=chunk_size, stop=stop, whole_sha256=False
    )
    return plans, md5


def _plan_json(plan: PartPlan | SegmentTarget) -> dict[str, object]:
    return {"size": plan.size, "sha256": plan.sha256, "md5": plan.md5}


class V1Segmented:
    """Files over `threshold` bytes as a segmented upload of `segment_size` segments, at most
    `parallel` PUTs at once, each retried under the run's `segment_part` policy."""

    api_calls = 2.0  # Create Upload and its completion, for the plan's estimate

    def __init__(
        self,
        transport: Transport,
        target: Target,
        *,
        threshold: int,
        segment_size: int,
        api_version: str = "1.1",
        instruction_max_age: float = DEFAULT_MAX_AGE,
        parallel: int = 2,
    ) -> None:
        if parallel < 1:
            raise ValueError("parallel must be at least 1")
        if segment_size < 1:
            raise ValueError("segment_size must be positive")
        self.transport = transport
        self.target = target
        self.threshold = threshold
        self.segment_size = segment_size
        self.api_version = api_version
        self.instruction_max_age = instruction_max_age
        self.parallel = parallel

    @property
    def name(self) -> str:
        return f"v{self.api_version} segmented"

    def accepts(self, size: int) -> bool:
        return size > self.threshold

    async def prepare(self, item: Planned) -> SegmentTicket:
        """Hash the file, then Create Upload with its segments (errors are the caller's to map)."""
        plans, md5 = await self._plan(item.entry)
        body = {**create_upload_json(item.entry), "segments": [_plan_json(p) for p in plans]}
        path = uploads_path(self.target, self.api_version)
        answer = await self.transport.api.request("POST", path, json=body)
        uuid, targets = parse_segmented_upload(
            answer.status, answer.data, plans, call=answer.call or None
        )
        return SegmentTicket(
            item=item,
            protocol=self.name,
            created=time.monotonic(),
            uuid=uuid,
            md5=md5,
            targets=tuple(targets),
        )

    def stale(self, ticket: Ticket, now: float) -> bool:
        return now - ticket.created > self.instruction_max_age

    async def send(self, ticket: Ticket, meter: Meter) -> Stored:
        """PUT every segment and complete the upload. One attempt on the meter for the whole
        upload; whatever does not end in a completed upload is taken back off the meter."""
        if not isinstance(ticket, SegmentTicket):
            raise TypeError(f"{self.name} cannot send a {type(ticket).__name__}")
        transport, entry = self.transport, ticket.item.entry
        meter.attempt()
        counted_before = meter.net
        try:
            for target in ticket.targets:  # every URL before the first byte goes anywhere
                check_storage_url(target.url, allow_http=transport.allow_http)
            etags = await self._put_all(ticket, meter)
            # Checked before completing, so a file changed mid-upload never becomes an object.
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(transport.reader, verify_unchanged, entry, "during upload")
            await self._complete(ticket, etags)
        except BaseException:
            meter.moved(counted_before - meter.net)
            raise
        return Stored(
            item=ticket.item,
            upload_id=ticket.uuid,
            md5=ticket.md5,
            attempts=meter.attempts,
            stored_at=time.time(),
        )

    async def _plan(self, entry: FileEntry) -> tuple[list[PartPlan], str]:
        stop = threading.Event()
        loop = asyncio.get_running_loop()
        plan = functools.partial(
            plan_segments, entry, self.segment_size, chunk_size=self.transport.chunk_size, stop=stop
        )
        try:
            return await loop.run_in_executor(self.transport.reader, plan)
        except BaseException:
            stop.set()  # cancelled: the worker stops at its next chunk rather than hash on
            raise

    async def _put_all(self, ticket: SegmentTicket, meter: Meter) -> list[str]:
        etags = [""] * len(ticket.targets)
        failures: list[Exception] = []
        limiter = anyio.CapacityLimiter(self.parallel)
        late = anyio.Event()  # the instructions reached their max age: start what is left now
        slots = self.transport.storage_slots

        async def put_one(index: int, offset: int, tg: TaskGroup) -> None:
            async with limiter:
                # One of the run's storage slots for the segment, unless the deadline comes
                # first: a segment then starts at once, wherever the other files stand.
                holder = object()
                held = slots is not None and await _slot_or_late(slots, late, holder)
                try:
                    etags[index] = await self._put(ticket, index, offset, meter)
                except Exception as exc:
                    # Keep the first real error and stop the others, so the caller sees one
                    # plain exception rather than an ExceptionGroup of cancellations.
                    failures.append(exc)
                    tg.cancel_scope.cancel()
                finally:
                    if held:
                        assert slots is not None
                        slots.release_on_behalf_of(holder)

        async with anyio.create_task_group() as watch:
            watch.start_soon(self._start_in_time, ticket, limiter, late)
            async with anyio.create_task_group() as tg:
                offset = 0
                for index, target in enumerate(ticket.targets):
                    tg.start_soon(put_one, index, offset, tg)
                    offset += target.size
            watch.cancel_scope.cancel()
        if failures:
            raise failures[0]
        return etags

    async def _start_in_time(
        self, ticket: SegmentTicket, limiter: anyio.CapacityLimiter, late: anyio.Event
    ) -> None:
        """Procore's segment URLs must be used within the hour after Create, and nothing
        renews them: once the instructions reach their max age, every segment not yet started
        starts at once (more in flight, one chunk each), without waiting for one of the run's
        storage slots, rather than after its URL expired."""
        await anyio.sleep(max(0.0, ticket.created + self.instruction_max_age - time.monotonic()))
        late.set()
        limiter.total_tokens = max(limiter.total_tokens, len(ticket.targets))

    async def _put(self, ticket: SegmentTicket, index: int, offset: int, meter: Meter) -> str:
        """One segment, retried on its own (a PolicyExpired is not retried: it propagates)."""
        transport, entry = self.transport, ticket.item.entry
        target = ticket.targets[index]
        policy = transport.policies.segment_part

        async def attempt() -> str:
            return await put_part(
                transport,
                entry,
                meter,
                offset=offset,
                plan=PartPlan(target.size, target.sha256, target.md5),
                url=target.url,
                headers=target.headers,
                slot=False,  # the segment holds one already (`_put_all`), or its time is up
            )

        return await call_with_retries(
            policy,
            attempt,
            on_retry=lambda exc: transport.events.retried(
                policy.name, f"{entry.display_rel} segment {index + 1}: {exc}"
            ),
        )

    async def _complete(self, ticket: SegmentTicket, etags: Sequence[str]) -> None:
        """PATCH every segment's ETag in order: storage assembles the object. A status other
        than complete is an ApiError; an answer with no status is taken as done (the published
        answer requires none)."""
        body = {
            "segments": [
                # Size and hashes alongside each ETag is the form Procore documents as safe.
                {**_plan_json(target), "etag": etag}
                for target, etag in zip(ticket.targets, etags, strict=True)
            ]
        }
        path = f"{uploads_path(self.target, self.api_version)}/{ticket.uuid}"
        answer = await self.transport.api.request("PATCH", path, json=body)
        data = answer.data
        status = data.get("status") if isinstance(data, dict) else None
        if status is not None and status != "complete":
            raise ApiError(
                answer.status,
                f"segmented upload {ticket.uuid} is {status!r}, not complete",
                call=answer.call or None,
            )


async def _slot_or_late(slots: anyio.CapacityLimiter, late: anyio.Event, holder: object) -> bool:
    """True once `holder` holds one of `slots`; False if `late` is set first (nothing held)."""
    if late.is_set():
        return False
    got = False
    async with anyio.create_task_group() as race:

        async def take() -> None:
            nonlocal got
            await slots.acquire_on_behalf_of(holder)
            got = True
            race.cancel_scope.cancel()

        async def deadline() -> None:
            await late.wait()
            race.cancel_scope.cancel()

        race.start_soon(take)
        race.start_soon(deadline)
    return got
