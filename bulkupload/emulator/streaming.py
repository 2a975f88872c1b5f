"""Storage bodies to disk: streamed into a temp file in ~1 MiB hand-offs to worker threads, with
digests computed on the way, then moved into place under the emulator's data directory."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

from aiohttp import web

from .checksums import Digest
from .config import FAULTS_KEY
from .faults import BANDWIDTH_KEY, RANDOM_KEY, reset_connection
from .state import STATE_KEY

CHUNK = 1024 * 1024
DATA_DIR_KEY: web.AppKey[Path] = web.AppKey("emulator_data_dir", Path)


def object_path(data_dir: Path, bucket: str, key: str) -> Path:
    """Where a stored object's bytes live: a file named by the SHA-256 of `bucket/key`."""
    return data_dir / "objects" / hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()


@contextlib.asynccontextmanager
async def temp_file(data_dir: Path, final: Path) -> AsyncIterator[int]:
    """A new temp file's descriptor: moved to `final` when the block ends, deleted if it raises."""
    loop = asyncio.get_running_loop()
    fd, tmp_path = await loop.run_in_executor(None, _open_temp, data_dir / "tmp")
    try:
        yield fd
    except BaseException:
        # Synchronous on purpose: a reset connection cancels this task, and a cancelled executor
        # job might never run; closing and unlinking one file is quick.
        _discard_temp(fd, tmp_path)
        raise
    await loop.run_in_executor(None, _finish_temp, fd, tmp_path, final)


async def stream_to_disk(
    request: web.Request,
    read: Callable[[int], Awaitable[bytes]],
    fd: int,
    max_size: int,
    digests: Sequence[Digest],
) -> int:
    """Copy `read(n)` chunks to `fd` (~1 MiB per hand-off), updating `digests`; return the size.

    One write is in flight while the next chunk is read, so memory stays at about two chunks.
    Past `max_size` bytes are counted but not written (the answer will be EntityTooLarge).
    """
    app = request.app
    faults, state = app[FAULTS_KEY], app[STATE_KEY]
    reset_after: int | None = None
    if faults.reset and app[RANDOM_KEY].random() < faults.reset:
        # Partway: half the body, at most 1 MiB in, so even small files see the reset.
        reset_after = max(1, min((request.content_length or 2) // 2, CHUNK))
    loop = asyncio.get_running_loop()
    size = 0
    batch: list[bytes] = []
    batched = 0
    pending: asyncio.Future[tuple[None, None]] | None = None
    try:
        while True:
            chunk = await read(CHUNK)
            if chunk:
                size += len(chunk)
                await app[BANDWIDTH_KEY].spend(len(chunk), faults.storage_bandwidth)
                if reset_after is not None and size >= reset_after:
                    state.counters.faults_injected["reset"] += 1
                    reset_connection(request)
                    raise ConnectionResetError("injected connection reset")
                if size <= max_size:
                    batch.append(chunk)
                    batched += len(chunk)
            # Hand ~1 MiB at a time to the writer thread: fewer thread hops than per chunk.
            if batch and (batched >= CHUNK or not chunk):
                if pending is not None:
                    await pending
                # Hashing and writing run side by side (both release the GIL).
                pending = asyncio.gather(
                    loop.run_in_executor(None, _hash, digests, batch),
                    loop.run_in_executor(None, _write, fd, batch),
                )
                batch, batched = [], 0
            if not chunk:
                break
    finally:
        if pending is not None:
            await asyncio.shield(pending)
    return size


def _open_temp(tmp_dir: Path) -> tuple[int, str]:
    tmp_dir.mkdir(parents=True, exist_ok=True)
    path = tmp_dir / os.urandom(12).hex()
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), str(path)


def _hash(digests: Sequence[Digest], chunks: list[bytes]) -> None:
    for digest in digests:
        for chunk in chunks:
            digest.update(chunk)


def _write(fd: int, chunks: list[bytes]) -> None:
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view) :]


def _discard_temp(fd: int, path: str) -> None:
    os.close(fd)
    Path(path).unlink(missing_ok=True)


def _finish_temp(fd: int, tmp_path: str, final: Path) -> None:
    os.close(fd)
    final.parent.mkdir(parents=True, exist_ok=True)
    Path(tmp_path).replace(final)
