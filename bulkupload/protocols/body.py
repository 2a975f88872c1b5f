"""The one request body every storage request sends: a byte range of a local file.

A multipart POST of a whole file (the form fields before it and the closing boundary after it,
as `head` and `tail`) and a segment PUT (the raw range) are the same thing here:
- a declared size, so aiohttp sends Content-Length (S3 refuses chunked bodies);
- file bytes read in `chunk_size` executor reads and hashed in the reading thread (hashlib
  releases the GIL), one chunk in memory per body;
- the file checked before (fstat), while (short reads, growth, shrink) and after (fstat) it is
  read, and for a planned segment the last chunk held back unless the SHA-256 matches, so a file
  that changed never reaches storage as a complete body;
- progress counted on the `Meter` as bytes go, and taken back (`rewind`) when the attempt fails.
A range of at most one chunk is opened, read, hashed and closed in one executor call: measured at
about half the cost of separate calls for small files. A small range of a local file whose bytes
are in the page cache is read on the event loop instead, with no hop at all (`cached`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar

from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload

from bulkupload.errors import FileChanged, FileProblem
from bulkupload.models import FileEntry
from bulkupload.protocols.base import Meter
from bulkupload.protocols.cached import CachedReads
from bulkupload.protocols.files import CHUNK, check_unchanged, read_errors, read_exactly
from bulkupload.protocols.throttle import Bandwidth

__all__ = ["OCTETS", "FileRange", "PlannedDigests"]

OCTETS = "application/octet-stream"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PlannedDigests:
    """What a range must hash to: a segment hashed before its upload was created."""

    sha256: str
    md5: str


class FileRange(Payload):
    """`length` bytes of `entry` from `offset` (the rest of the file by default), between `head`
    and `tail`. Written at most once: a retry builds a new body.

    Call `await open()` before the request, so a file that is gone or changed fails before any
    byte goes out. `md5` is the range's MD5 once written (the planned one for a planned range);
    `failure` is the file problem that stopped a write, which aiohttp reports wrapped.
    """

    def __init__(
        self,
        entry: FileEntry,
        meter: Meter,
        *,
        offset: int = 0,
        length: int | None = None,
        head: bytes = b"",
        tail: bytes = b"",
        content_type: str = OCTETS,
        planned: PlannedDigests | None = None,
        reader: concurrent.futures.Executor | None = None,
        chunk_size: int = CHUNK,
        throttle: Bandwidth | None = None,
        cached: CachedReads | None = None,
    ) -> None:
        super().__init__(b"", content_type=content_type)
        length = entry.size - offset if length is None else length
        if offset < 0 or length < 0 or offset + length > entry.size:
            raise ValueError(f"no range of {length} bytes at {offset} in {entry.size} bytes")
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self._entry, self._meter = entry, meter
        self._offset, self._length = offset, length
        self._head, self._tail = head, tail
        self._planned = planned
        self._reader, self._chunk_size = reader, chunk_size
        # A range `cached` takes (small, on a local device) is read on the loop when its bytes
        # are cached (open()); the worker that reads a small one it does not take tells it of
        # the file's device (`learn`).
        self._cached = cached if cached is not None and cached.takes(entry, length) else None
        small = cached is not None and length <= cached.max_size
        self._learner = cached if small and self._cached is None else None
        self._throttle = throttle  # `--bwlimit`: each chunk waits for its bytes
        # A planned range is checked by SHA-256 (its MD5, if any, was planned too): each byte
        # is hashed once.
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha256 = hashlib.sha256()
        self._file: BinaryIO | None = None
        self._small: bytes | None = None  # a range of at most one chunk, read by open()
        self._opened = self._started = self._closed = False
        self._pending: asyncio.Future[Any] | None = None  # the job a worker runs or ran last
        self.sent = 0  # file bytes handed to the connection by this body
        self.failure: FileProblem | None = None

    @property
    def size(self) -> int:
        return len(self._head) + self._length + len(self._tail)

    @property
    def consumed(self) -> bool:
        """Once writing began the body cannot be sent again (aiohttp must not replay it)."""
        return self._started

    @property
    def md5(self) -> str:
        return self._planned.md5 if self._planned is not None else self._md5.hexdigest()

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a streamed file body cannot be decoded")

    async def open(self) -> None:
        """Open and check the file; a small range is read, hashed and closed right here."""
        if self._opened:
            return
        self._opened = True
        if self._length <= self._chunk_size:
            if self._cached is not None and (small := self._read_cached()) is not None:
                self._small = small
                return
            self._small = await self._in_worker(self._read_small)
        else:
            await self._in_worker(self._open_file)

    async def write(self, writer: AbstractStreamWriter) -> None:
        self._started = True
        try:
            await self.open()
            if self._small is not None:
                # One write, one send() in the common case of a small file.
                if self._throttle is not None:
                    await self._throttle.take(self.size)
                await writer.write(self._head + self._small + self._tail)
                self._count(len(self._small))
                return
            await writer.write(self._head)
            # One chunk at a time, no read-ahead: memory stays at one chunk per body, and
            # read-ahead measured no faster (hashing at ~0.7 GB/s per core is the cap).
            left = self._length
            while left > 0:
                n = min(self._chunk_size, left)
                left -= n
                data = await self._in_worker(self._read_chunk, n, left == 0)
                if self._throttle is not None:
                    await self._throttle.take(n)
                await writer.write(data)
                self._count(n)
            await writer.write(self._tail)  # only a complete, unchanged range gets a valid body
        except FileProblem as exc:
            self.failure = exc  # aiohttp wraps it in ClientConnectionError; the sender unwraps
            raise
        finally:
            self._release()

    async def close(self) -> None:
        """Close the file, now or, when a worker still reads it, as soon as that read ends."""
        if self._started and not self._closed:
            # aiohttp closes a body once the answer's headers are in, which a server may send
            # before it read everything: the write goes on until aiohttp cancels it (when the
            # answer is released), and closes the file itself as it ends.
            return
        self._release()

    def rewind(self) -> None:
        """The attempt failed: its bytes leave the meter (the next attempt sends them again)."""
        if self.sent:
            self._meter.moved(-self.sent)
            self.sent = 0

    # ── on the event loop ─────────────────────────────────────────────────────────────────
    def _read_cached(self) -> bytes | None:
        """The small range read right here if that cannot block (`protocols.cached`), checked
        and hashed like a worker's read; None when the worker must read it."""
        assert self._cached is not None
        entry = self._entry
        to_end = self._offset + self._length == entry.size
        with read_errors(entry):
            got = self._cached.read(entry, self._offset, self._length + to_end)
        if got is None:
            return None
        data, after = got
        return self._took(data, self._length, after)

    def _count(self, n: int) -> None:
        self.sent += n
        self._meter.moved(n)

    async def _in_worker(self, job: Callable[..., T], *args: object) -> T:
        if self._closed:
            raise ConnectionAbortedError("the request ended before its body was written")
        loop = asyncio.get_running_loop()
        pending = loop.run_in_executor(self._reader, job, *args)
        self._pending = pending
        # Shielded: a cancelled request must not cancel the job's future while the worker still
        # runs it, or close() could not tell when the file is free to close.
        return await asyncio.shield(pending)

    def _release(self) -> None:
        self._closed = True
        pending = self._pending
        if pending is not None and not pending.done():
            pending.add_done_callback(lambda _: self._close_file())
        else:
            self._close_file()

    def _close_file(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            f.close()

    # ── in a worker thread ────────────────────────────────────────────────────────────────
    def _open_file(self) -> None:
        entry = self._entry
        with read_errors(entry):
            f = open(entry.path, "rb", buffering=0)  # noqa: SIM115 (closed by _release)
            try:
                check_unchanged(entry, os.fstat(f.fileno()), "since it was listed")
                f.seek(self._offset)
            except BaseException:
                f.close()
                raise
        self._file = f  # set here, not on the loop: a cancelled open is still closed

    def _read_small(self) -> bytes:
        entry = self._entry
        with read_errors(entry), open(entry.path, "rb", buffering=0) as f:
            st = os.fstat(f.fileno())
            if self._learner is not None:
                self._learner.learn(st.st_dev, f.fileno())
            check_unchanged(entry, st, "since it was listed")
            f.seek(self._offset)
            return self._read(f, self._length, last=True)

    def _read_chunk(self, n: int, last: bool) -> bytes:
        if self._file is None:
            raise ConnectionAbortedError("the request ended before its body was written")
        with read_errors(self._entry):
            return self._read(self._file, n, last=last)

    def _read(self, f: BinaryIO, n: int, *, last: bool) -> bytes:
        # At the end of the file one byte more shows growth, in the same read call.
        to_end = last and self._offset + self._length == self._entry.size
        data = read_exactly(f, n + 1 if to_end else n)
        return self._took(data, n, os.fstat(f.fileno()) if last else None)

    def _took(self, data: bytes, n: int, after: os.stat_result | None) -> bytes:
        """`data`, read where `n` bytes were due, hashed; with `after` (the file's stat once
        the range's last bytes are read) the whole range is checked."""
        entry = self._entry
        if len(data) < n:
            raise FileChanged(f"{entry.display_rel}: shrank during upload")
        if len(data) > n:
            raise FileChanged(f"{entry.display_rel}: grew during upload")
        planned = self._planned
        (self._md5 if planned is None else self._sha256).update(data)
        if after is not None:
            check_unchanged(entry, after, "during upload")
            if planned is not None and self._sha256.hexdigest() != planned.sha256:
                raise FileChanged(f"{entry.display_rel}: changed during upload")
        return data
