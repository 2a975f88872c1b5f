"""The streamed file body: reads go to the run's reader pool, a small file costs one trip there,
and a request cancelled mid-read never leaks or yanks the file from under the reading thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bulkupload.emulator.server import RunningEmulator
from bulkupload.events import EventBus
from bulkupload.messages import Planned
from bulkupload.protocols import FileRange, Meter, V1Post
from tests.protocols.conftest import MIB, TARGET, assert_stored, emulator_run, write_file

T = TypeVar("T")


class CountingPool(ThreadPoolExecutor):
    """A reader pool that counts the jobs it is given and can hold them at a gate."""

    def __init__(self) -> None:
        super().__init__(max_workers=2, thread_name_prefix="reader")
        self.jobs = 0
        self.gate = threading.Event()
        self.gate.set()
        self.on_submit: Callable[[], object] | None = None

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        self.jobs += 1
        if self.on_submit is not None:
            self.on_submit()

        def gated() -> T:
            self.gate.wait(30)
            return fn(*args, **kwargs)

        return super().submit(gated)


def open_fds(path: Path) -> int:
    """How many of this process's file descriptors point at `path` (Linux)."""
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        try:
            count += str(fd.readlink()) == str(path)
        except OSError:
            continue  # closed while we looked
    return count


@pytest.mark.parametrize(("size", "jobs"), [(64 << 10, 1), (3 * MIB, 1 + 3)])
async def test_reads_go_to_the_run_reader_pool(
    emulator: RunningEmulator, tmp_path: Path, size: int, jobs: int
) -> None:
    path = tmp_path / "f.bin"
    entry = write_file(path, size)
    pool = CountingPool()
    try:
        async with emulator_run(emulator) as run:
            transport = replace(run.transport, reader=pool)
            protocol = V1Post(transport, TARGET)
            ticket = await protocol.prepare(Planned(entry, None, "now"))
            stored = await protocol.send(ticket, run.meter())
    finally:
        pool.shutdown()
    assert_stored(emulator, stored.upload_id, path)
    # A small file is opened, read, hashed and closed in one job; a big one: open + a chunk each.
    assert pool.jobs == jobs


class AcceptingWriter:
    """A connection that takes whatever it is given."""

    def __init__(self) -> None:
        self.written = 0

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        self.written += len(chunk)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
async def test_cancelled_mid_read_the_file_closes_when_the_read_ends(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    entry = write_file(path, 4 * MIB)
    pool = CountingPool()
    moved: list[int] = []
    body = FileRange(
        entry, Meter(EventBus(lambda e: moved.append(getattr(e, "size", 0)))), reader=pool
    )
    await body.open()
    assert open_fds(path) == 1
    pool.gate.clear()  # the next read is held in its worker thread
    reading = asyncio.Event()
    pool.on_submit = reading.set
    writing = asyncio.create_task(body.write(AcceptingWriter()))  # type: ignore[arg-type]
    await reading.wait()
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
    await body.close()
    assert open_fds(path) == 1  # not closed under the worker still reading it
    pool.gate.set()
    await asyncio.to_thread(pool.shutdown, True)  # the held read ends
    for _ in range(3):
        await asyncio.sleep(0)  # its completion reaches the loop
    assert open_fds(path) == 0
    assert body.consumed and moved == []  # nothing was counted for bytes never sent
    body.rewind()
    assert moved == []


def test_a_range_must_lie_in_the_file(tmp_path: Path) -> None:
    entry = write_file(tmp_path / "f", 10)
    meter = Meter(EventBus())
    assert FileRange(entry, meter, offset=4).size == 6
    assert FileRange(entry, meter, offset=2, length=3, head=b"ab", tail=b"c").size == 6
    with pytest.raises(ValueError, match="no range of 5 bytes at 6"):
        FileRange(entry, meter, offset=6, length=5)
