"""Direct File Uploads v1.1 (or v1.0) in segments, for files over the segment threshold:
hash every segment, Create Upload with the hashes, PUT the segments in parallel, PATCH to
complete.

One pass over the file plans the segments (SHA-256 and MD5 each, and the whole file's MD5). Each
segment then goes as its own `FileRange`, at most `parallel` at once, so at most `parallel`
chunks of the file are in memory; a segment is retried on its own. A file that changes is caught
by each segment's SHA-256 and by a stat before completing, so it never becomes a stored object.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import anyio
from anyio.abc import TaskGroup

from bulkupload.errors import ApiError, FileChanged, StorageError
from bulkupload.messages import Planned, Stored, Ticket
from bulkupload.models import FileEntry, Target
from bulkupload.procore.decode import SegmentPlan, SegmentTarget, parse_segmented_upload
from bulkupload.procore.routes import uploads_path
from bulkupload.protocols.base import Meter, Transport
from bulkupload.protocols.body import OCTETS, FileRange, PlannedDigests
from bulkupload.protocols.files import CHUNK, check_unchanged, read_errors, verify_unchanged
from bulkupload.protocols.storage import send_body
from bulkupload.protocols.v1_post import DEFAULT_MAX_AGE, create_upload_json
from bulkupload.retry import call_with_retries
from bulkupload.urls import check_storage_url

__all__ = ["SegmentTicket", "V1Segmented", "plan_segments", "segment_headers"]


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
) -> tuple[list[SegmentPlan], str]:
    """Hash `entry` in one pass into segments of `segment_size` (the last may be smaller): each
    segment's SHA-256 and MD5, and the whole file's MD5. Blocking: run it in a worker thread;
    it gives up at the next chunk once `stop` is set. FileChanged if the file is not as listed.
    """
    if segment_size < 1:
        raise ValueError("segment_size must be positive")
    if entry.size < 1:
        raise ValueError("a segmented upload needs a non-empty file")
    whole = hashlib.md5(usedforsecurity=False)
    plans = []
    with read_errors(entry), open(entry.path, "rb", buffering=0) as f:
        check_unchanged(entry, os.fstat(f.fileno()), "since it was listed")
        left = entry.size
        while left > 0:
            length = min(segment_size, left)
            left -= length
            sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
            todo = length
            while todo > 0:
                if stop is not None and stop.is_set():
                    raise concurrent.futures.CancelledError
                data = f.read(min(chunk_size, todo))
                if not data:
                    raise FileChanged(f"{entry.display_rel}: shrank while being hashed")
                sha.update(data)
                md5.update(data)
                whole.update(data)
                todo -= len(data)
            plans.append(SegmentPlan(size=length, sha256=sha.hexdigest(), md5=md5.hexdigest()))
        if f.read(1):
            raise FileChanged(f"{entry.display_rel}: grew while being hashed")
        check_unchanged(entry, os.fstat(f.fileno()), "while being hashed")
    return plans, whole.hexdigest()


def segment_headers(signed: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers of one segment PUT: the signed ones exactly as Procore returned them, plus
    `Content-Type: application/octet-stream` (as Procore's tutorial sends) unless they name one.

    Never an Authorization header: storage gets no credentials, whatever an answer says.
    """
    headers = [(name, value) for name, value in signed if name.lower() != "authorization"]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", OCTETS))
    return headers


def _plan_json(plan: SegmentPlan | SegmentTarget) -> dict[str, object]:
    return {"size": plan.size, "sha256": plan.sha256, "md5": plan.md5}


class V1Segmented:
    """Files over `threshold` bytes as a segmented upload of `segment_size` segments, at most
    `parallel` PUTs at once, each retried under the run's `segment_part` policy."""

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

    async def _plan(self, entry: FileEntry) -> tuple[list[SegmentPlan], str]:
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

        async def put_one(index: int, offset: int, tg: TaskGroup) -> None:
            async with limiter:
                try:
                    etags[index] = await self._put(ticket, index, offset, meter)
                except Exception as exc:
                    # Keep the first real error and stop the others, so the caller sees one
                    # plain exception rather than an ExceptionGroup of cancellations.
                    failures.append(exc)
                    tg.cancel_scope.cancel()

        async with anyio.create_task_group() as tg:
            offset = 0
            for index, target in enumerate(ticket.targets):
                tg.start_soon(put_one, index, offset, tg)
                offset += target.size
        if failures:
            raise failures[0]
        return etags

    async def _put(self, ticket: SegmentTicket, index: int, offset: int, meter: Meter) -> str:
        """One segment, retried on its own (a PolicyExpired is not retried: it propagates)."""
        transport, entry = self.transport, ticket.item.entry
        target = ticket.targets[index]
        policy = transport.policies.segment_part

        async def attempt() -> str:
            body = FileRange(
                entry,
                meter,
                offset=offset,
                length=target.size,
                planned=PlannedDigests(sha256=target.sha256, md5=target.md5),
                reader=transport.reader,
                chunk_size=transport.chunk_size,
            )
            receipt = await send_body(
                transport.storage,
                "PUT",
                target.url,
                body,
                headers=segment_headers(target.headers),
                allow_http=transport.allow_http,
                slots=transport.storage_slots,
            )
            if receipt.etag is None:
                body.rewind()
                raise StorageError(receipt.status, "MissingETag", "a segment stored without ETag")
            return receipt.etag

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
