"""Large files as a segmented upload: hash the segments, PUT them in parallel, PATCH to complete.

One pass over the file plans the segments (SHA-256 + MD5 each, and the whole file's MD5); then
each segment's byte range is streamed from a worker thread in 1 MiB chunks, at most `parallel`
at once, so at most `parallel` × 1 MiB of file data is in memory. Every segment URL passes the
connection rule (`bulkupload.urls`) before the first PUT.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
import anyio
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload
from anyio.abc import TaskGroup

from bulkupload.errors import (
    FileChanged,
    FileProblem,
    FileUnreadable,
    FileVanished,
    PolicyExpired,
    StorageError,
)
from bulkupload.models import FileEntry, Target
from bulkupload.procore.answers import MAX_STORAGE_ANSWER_BYTES, read_capped
from bulkupload.procore.client import ApiClient
from bulkupload.procore.documents import remote_name
from bulkupload.procore.segments import (
    SegmentPlan,
    SegmentTarget,
    complete_segmented_upload,
    create_segmented_upload,
)
from bulkupload.retry import RetryPolicy, retrying
from bulkupload.transfer import (
    MD5_ETAG,
    check_unchanged,
    parse_s3_error,
    read_exactly,
    storage_network_error,
    storage_receipt,
)
from bulkupload.urls import check_storage_url

__all__ = ["SegmentedReceipt", "plan_segments", "segment_headers", "send_segmented"]

_CHUNK = 1 << 20
_OCTETS = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class SegmentedReceipt:
    """A completed segmented upload: its uuid, the whole file's MD5 and each segment's ETag."""

    uuid: str
    md5: str
    etags: list[str] = field(default_factory=list)


def plan_segments(path: str, size: int, segment_size: int) -> list[SegmentPlan]:
    """Hash `path` (`size` bytes) in one pass into segments of `segment_size`; the last may be
    smaller. Blocking: run it in a worker thread. Raises FileChanged when the size is not `size`.
    """
    with open(path, "rb", buffering=0) as f:
        plans, _ = _hash_segments(f, path, size, segment_size)
    return plans


def _hash_segments(
    f: BinaryIO, label: str, size: int, segment_size: int
) -> tuple[list[SegmentPlan], str]:
    if segment_size <= 0:
        raise ValueError("segment_size must be positive")
    if size <= 0:
        raise ValueError("a segmented upload needs a non-empty file")
    whole = hashlib.md5(usedforsecurity=False)
    plans = []
    left = size
    while left > 0:
        length = min(segment_size, left)
        sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        todo = length
        while todo > 0:
            try:
                data = f.read(min(_CHUNK, todo))
            except OSError as exc:
                raise FileUnreadable(f"{label}: read failed: {exc.strerror or exc}") from exc
            if not data:
                raise FileChanged(f"{label}: shrank while being hashed")
            sha.update(data)
            md5.update(data)
            whole.update(data)
            todo -= len(data)
        plans.append(SegmentPlan(size=length, sha256=sha.hexdigest(), md5=md5.hexdigest()))
        left -= length
    if f.read(1):
        raise FileChanged(f"{label}: grew while being hashed")
    return plans, whole.hexdigest()


def _file_errors(entry: FileEntry, exc: OSError) -> FileProblem:
    if isinstance(exc, FileNotFoundError):
        return FileVanished(f"{entry.display_rel}: no longer exists")
    return FileUnreadable(f"{entry.display_rel}: {exc.strerror or exc}")


def _stat(entry: FileEntry, when: str) -> None:
    try:
        st = Path(entry.path).stat()
    except OSError as exc:
        raise _file_errors(entry, exc) from exc
    check_unchanged(entry, st, when)


def _plan_entry(entry: FileEntry, segment_size: int) -> tuple[list[SegmentPlan], str]:
    _stat(entry, "since it was listed")
    try:
        f = open(entry.path, "rb", buffering=0)  # noqa: SIM115 (closed just below)
    except OSError as exc:
        raise _file_errors(entry, exc) from exc
    with f:
        plans, md5 = _hash_segments(f, entry.display_rel, entry.size, segment_size)
        check_unchanged(entry, os.fstat(f.fileno()), "while being hashed")
    return plans, md5


class _SegmentBody(Payload):
    """One segment's byte range with a declared size; writes it exactly or fails (never re-sent).

    The bytes are hashed as they go and the last chunk is held back unless the SHA-256 matches
    the plan, so a file changed under us never reaches storage as a complete (wrong) body.
    """

    def __init__(
        self,
        entry: FileEntry,
        segment: SegmentTarget,
        offset: int,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        super().__init__(b"", content_type="application/octet-stream")
        self._entry = entry
        self._segment = segment
        self._offset = offset
        self._on_progress = on_progress
        self._size = segment.size
        self.sent = 0  # file bytes handed to the transport
        self.failure: FileProblem | None = None  # why the body stopped short, if it was us

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a streamed upload body cannot be decoded")

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        await self.write(writer)

    def _open(self) -> BinaryIO:
        try:
            f = open(self._entry.path, "rb", buffering=0)  # noqa: SIM115 (closed by write)
        except OSError as exc:
            raise _file_errors(self._entry, exc) from exc
        f.seek(self._offset)
        return f

    def _read(self, f: BinaryIO, n: int, sha: Any) -> bytes:
        data = read_exactly(f, self._entry, n)
        sha.update(data)  # hashlib releases the GIL on big buffers: hash in the worker
        return data

    async def write(self, writer: AbstractStreamWriter) -> None:
        self._consumed = True
        loop = asyncio.get_running_loop()
        entry, segment = self._entry, self._segment
        pending: asyncio.Future[Any] | None = None
        f: BinaryIO | None = None
        try:
            pending = loop.run_in_executor(None, self._open)
            f = await pending
            sha = hashlib.sha256()
            left = segment.size
            while left > 0:
                n = min(_CHUNK, left)
                pending = loop.run_in_executor(None, self._read, f, n, sha)
                data = await pending
                if len(data) != n:
                    raise FileChanged(f"{entry.display_rel}: shrank during upload")
                left -= n
                if left == 0 and sha.hexdigest() != segment.sha256:
                    raise FileChanged(f"{entry.display_rel}: changed during upload")
                await writer.write(data)
                self.sent += n
                if self._on_progress is not None:
                    self._on_progress(n)
        except FileProblem as exc:
            self.failure = exc  # aiohttp wraps it in ClientConnectionError; _put unwraps
            raise
        finally:
            if f is not None:
                if pending is not None and not pending.done():
                    # Cancelled mid-read: close the file when the worker is done, not under it.
                    pending.add_done_callback(lambda _: f.close())
                else:
                    f.close()


def _etag(status: int, headers: Any, body: bytes, md5: str) -> str:
    """The segment's ETag from storage's answer, or the error it means."""
    if 200 <= status < 300:
        etag = headers.get("ETag")
        etag = etag.strip().strip('"') if etag else ""
        if not etag:
            raise StorageError(status, "MissingETag", "storage answered a segment without ETag")
        if MD5_ETAG.fullmatch(etag) and etag.lower() != md5:
            raise StorageError(status, "BadDigest", f"storage stored MD5 {etag}, we sent {md5}")
        return etag
    code, message = parse_s3_error(body)
    if status == 403 and "expired" in message.lower():
        raise PolicyExpired(status, code or "AccessDenied", message)
    storage_receipt(status, headers, body, md5)  # raises the single-POST mapping of any other error
    raise AssertionError("unreachable: storage_receipt raises for error statuses")


def segment_headers(signed: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers of one segment PUT: the signed ones exactly as Procore returned them, plus
    `Content-Type: application/octet-stream` (as Procore's tutorial sends) unless they name one.

    Never an Authorization header: storage gets no credentials, whatever an answer says.
    """
    headers = [(name, value) for name, value in signed if name.lower() != "authorization"]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", _OCTETS))
    return headers


async def _put(
    storage: aiohttp.ClientSession,
    entry: FileEntry,
    segment: SegmentTarget,
    offset: int,
    on_progress: Callable[[int], None] | None,
) -> str:
    body = _SegmentBody(entry, segment, offset, on_progress)
    try:
        try:
            async with storage.put(
                segment.url,
                data=body,
                headers=segment_headers(segment.headers),
                allow_redirects=False,
            ) as resp:
                answer, _ = await read_capped(resp, MAX_STORAGE_ANSWER_BYTES)
                status, headers = resp.status, resp.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            if body.failure is not None:
                raise body.failure from exc
            raise storage_network_error("PUT", segment.url, exc) from exc
        return _etag(status, headers, answer, segment.md5)
    except BaseException:
        if body.sent and on_progress is not None:
            on_progress(-body.sent)  # the next attempt sends these bytes again
        raise


async def _put_all(
    storage: aiohttp.ClientSession,
    entry: FileEntry,
    segments: Sequence[SegmentTarget],
    *,
    policy: RetryPolicy,
    on_progress: Callable[[int], None] | None,
    parallel: int,
) -> list[str]:
    etags = [""] * len(segments)
    failures: list[BaseException] = []
    limiter = anyio.CapacityLimiter(parallel)

    async def put_one(index: int, offset: int, tg: TaskGroup) -> None:
        async with limiter:
            try:
                async for attempt in retrying(policy):
                    with attempt:
                        etags[index] = await _put(
                            storage, entry, segments[index], offset, on_progress
                        )
            except Exception as exc:
                # Keep the first real error and stop the others, so the caller sees one plain
                # exception rather than an ExceptionGroup of cancellations.
                failures.append(exc)
                tg.cancel_scope.cancel()

    async with anyio.create_task_group() as tg:
        offset = 0
        for index, segment in enumerate(segments):
            tg.start_soon(put_one, index, offset, tg)
            offset += segment.size
    if failures:
        raise failures[0]
    return etags


async def send_segmented(
    api: ApiClient,
    storage: aiohttp.ClientSession,
    target: Target,
    entry: FileEntry,
    *,
    segment_size: int,
    content_type: str,
    policy: RetryPolicy,
    on_progress: Callable[[int], None] | None = None,
    parallel: int = 2,
    allow_http: bool = False,
    api_version: str = "1.1",
) -> SegmentedReceipt:
    """Upload `entry` as a segmented upload and complete it; return the uuid, MD5 and ETags.

    Each segment is retried on its own under `policy`; an expired upload is created afresh once.
    `on_progress(n)` gets file bytes as they are sent; whatever did not end in a completed upload
    is reported back negatively. Raises FileVanished/FileUnreadable/FileChanged, PolicyExpired,
    StorageUnavailable, StorageError, NetworkError, the API's errors, or InsecureStorage (a
    segment URL over plain http to a host other than loopback without `allow_http`, refused
    before any PUT; or a TLS certificate that does not verify), never retried.
    """
    if parallel < 1:
        raise ValueError("parallel must be at least 1")
    if "Authorization" in storage.headers or storage.auth is not None:
        raise ValueError("the storage session must not carry credentials")
    counted = 0  # net progress reported by this call, rewound if it does not succeed

    def progress(n: int) -> None:
        nonlocal counted
        counted += n
        if on_progress is not None:
            on_progress(n)

    try:
        plans, md5 = await anyio.to_thread.run_sync(_plan_entry, entry, segment_size)
        for fresh in (True, False):
            uuid, segments = await create_segmented_upload(
                api,
                target,
                filename=remote_name(entry.name),
                content_type=content_type,
                segments=plans,
                api_version=api_version,
            )
            for segment in segments:  # every URL before the first byte goes anywhere
                check_storage_url(segment.url, allow_http=allow_http)
            try:
                etags = await _put_all(
                    storage,
                    entry,
                    segments,
                    policy=policy,
                    on_progress=progress,
                    parallel=parallel,
                )
                break
            except PolicyExpired:
                if not fresh:
                    raise
                # New URLs, new upload: every segment goes again, so its bytes count again.
                if counted and on_progress is not None:
                    on_progress(-counted)
                counted = 0
        # Checked before completing, so a file changed mid-upload never becomes a stored object.
        await anyio.to_thread.run_sync(_stat, entry, "during upload")
        await complete_segmented_upload(
            api, target, uuid, segments=plans, etags=etags, api_version=api_version
        )
    except BaseException:
        if counted and on_progress is not None:
            on_progress(-counted)
        raise
    return SegmentedReceipt(uuid=uuid, md5=md5, etags=etags)
