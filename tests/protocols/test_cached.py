"""Small local files read on the event loop: only from local filesystems, only bytes already in
the page cache, and every other case handed back to the reader pool with nothing lost."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bulkupload.errors import FileChanged, FileVanished
from bulkupload.events import EventBus
from bulkupload.models import FileEntry
from bulkupload.protocols import FileRange, Meter, cached
from bulkupload.protocols.cached import INLINE_MAX, CachedReads, LocalMounts, local_mounts, mount_id
from tests.protocols.test_body import AcceptingWriter, CountingPool

NOWAIT = hasattr(os, "RWF_NOWAIT") and hasattr(os, "preadv")
needs_nowait = pytest.mark.skipif(not NOWAIT, reason="preadv(RWF_NOWAIT) is Linux's")

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:21 / /proc rw,nosuid - proc proc rw
24 22 0:23 / /dev/shm rw shared:2 - tmpfs tmpfs rw
25 22 0:50 / /mnt/share rw,relatime shared:3 master:1 - nfs4 server:/export rw,vers=4.2
26 22 0:51 / /mnt/ssh rw - fuse.sshfs user@host: rw
27 22 0:60 / /var/lib/docker/overlay rw - overlay overlay rw,lowerdir=/a
28 22 0:41 /@home /home rw - btrfs /dev/sda2 rw
29 22 0:52 / /mnt/smb rw - cifs //server/share rw
garbage line
30 22 x:y / /broken rw - ext4 /dev/sdb rw
"""


def entry_of(path: Path) -> FileEntry:
    st = path.stat()
    return FileEntry(str(path), path.name, st.st_size, st.st_mtime_ns, st.st_dev)


def cached_file(tmp_path: Path, size: int = 64 << 10) -> tuple[FileEntry, bytes, CachedReads]:
    """A file whose bytes are in the page cache (just written), on a filesystem that reads
    with RWF_NOWAIT; the test is skipped where the filesystem refuses (tmpfs)."""
    path = tmp_path / "f.bin"
    data = os.urandom(size)
    path.write_bytes(data)
    entry = entry_of(path)
    reads = CachedReads(LocalMounts(frozenset({entry.dev}), frozenset({1})))
    if reads.read(entry, 0, size) is None:
        pytest.skip("this filesystem does not read with RWF_NOWAIT")
    return entry, data, reads


def os_raises(monkeypatch: pytest.MonkeyPatch, error: OSError, call: str = "preadv") -> None:
    def fail(*args: Any) -> int:
        raise error

    monkeypatch.setattr(os, call, fail)


def test_local_devices_are_the_local_filesystems_of_the_mount_table(tmp_path: Path) -> None:
    table = tmp_path / "mountinfo"
    table.write_text(MOUNTINFO)
    # ext4, overlay and btrfs; not proc, tmpfs, NFS, FUSE or SMB, nor the broken lines.
    mounts = local_mounts(table)
    assert mounts.devices == {os.makedev(8, 1), os.makedev(0, 60), os.makedev(0, 41)}
    assert mounts.ids == {22, 27, 28}
    assert local_mounts(tmp_path / "missing") == LocalMounts()


@pytest.mark.skipif(not Path("/proc/self/fdinfo").is_dir(), reason="needs /proc/self/fdinfo")
@pytest.mark.parametrize("local", [True, False])
def test_a_device_the_mount_table_does_not_list_is_learnt_from_a_worker_read(
    tmp_path: Path, local: bool
) -> None:
    # As on Btrfs, where each subvolume has an st_dev of its own: the file's mount decides.
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 100)
    entry = entry_of(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        on = mount_id(fd)
        assert on is not None
        reads = CachedReads(LocalMounts(ids=frozenset({on} if local else set())))
        assert not reads.takes(entry, entry.size)
        reads.learn(entry.dev, fd)
    finally:
        os.close(fd)
    assert reads.takes(entry, entry.size) is local


def test_no_cached_reads_without_rwf_nowait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "RWF_NOWAIT", raising=False)
    assert CachedReads.here() is None


def test_takes_small_ranges_of_files_on_its_devices() -> None:
    reads = CachedReads(LocalMounts(frozenset({7})))
    small = FileEntry("/x", "x", 10, 0, dev=7)
    assert reads.takes(small, INLINE_MAX)
    assert not reads.takes(small, INLINE_MAX + 1)
    assert not reads.takes(FileEntry("/x", "x", 10, 0, dev=8), 10)
    assert not reads.takes(FileEntry("/x", "x", 10, 0), 10)  # device unknown


@needs_nowait
def test_reads_cached_bytes_with_the_stat_after(tmp_path: Path) -> None:
    entry, data, reads = cached_file(tmp_path)
    got = reads.read(entry, 0, entry.size + 1)  # one byte more, as at the end of a file
    assert got is not None
    assert got[0] == data and got[1].st_size == entry.size
    part = reads.read(entry, 100, 50)
    assert part is not None and part[0] == data[100:150]


@needs_nowait
def test_bytes_not_in_the_page_cache_go_to_the_reader_pool(tmp_path: Path) -> None:
    entry, _, reads = cached_file(tmp_path)
    fd = os.open(entry.path, os.O_RDONLY)
    try:
        os.fsync(fd)  # clean pages, which DONTNEED drops (as rclone does after uploading)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    if reads.read(entry, 0, entry.size) is not None:
        pytest.skip("the pages stayed in the page cache")
    assert reads.takes(entry, entry.size)  # the device still reads on the loop


@needs_nowait
def test_a_short_read_goes_to_the_reader_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry, _, reads = cached_file(tmp_path)
    real = os.preadv

    def half(fd: int, buffers: list[bytearray], offset: int, flags: int = 0) -> int:
        return int(real(fd, [memoryview(buffers[0])[: len(buffers[0]) // 2]], offset, flags))

    monkeypatch.setattr(os, "preadv", half)
    assert reads.read(entry, 0, entry.size) is None


@needs_nowait
@pytest.mark.parametrize(
    ("call", "error", "keeps_device"),
    [
        # The filesystem refuses RWF_NOWAIT: its files go to workers from then on.
        ("preadv", OSError(errno.EOPNOTSUPP, "Operation not supported"), False),
        # Another process's lease: the non-blocking open says EAGAIN; only this file goes.
        ("open", BlockingIOError(errno.EAGAIN, "Resource unavailable"), True),
    ],
)
def test_what_the_loop_cannot_read_goes_to_the_reader_pool(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    call: str,
    error: OSError,
    keeps_device: bool,
) -> None:
    entry, _, reads = cached_file(tmp_path)
    os_raises(monkeypatch, error, call)
    assert reads.read(entry, 0, entry.size) is None
    assert reads.takes(entry, entry.size) is keeps_device


@needs_nowait
def test_other_read_errors_are_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry, _, reads = cached_file(tmp_path)

    os_raises(monkeypatch, OSError(errno.EIO, "Input/output error"))
    with pytest.raises(OSError, match="Input/output"):
        reads.read(entry, 0, entry.size)


@needs_nowait
def test_a_fifo_in_place_of_the_file_fails_it_without_waiting(tmp_path: Path) -> None:
    entry, _, reads = cached_file(tmp_path)
    remove(entry)
    os.mkfifo(entry.path)  # opening it without O_NONBLOCK would wait for a writer
    done = threading.Event()
    result: list[object] = []

    def read() -> None:
        try:
            result.append(reads.read(entry, 0, entry.size))
        except FileChanged as exc:
            result.append(exc)
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(10), "the read blocked on a FIFO"
    assert isinstance(result[0], FileChanged) and "no longer a regular file" in str(result[0])


@needs_nowait
def test_a_symlink_in_place_of_the_file_goes_to_the_reader_pool(tmp_path: Path) -> None:
    entry, _, reads = cached_file(tmp_path)
    moved = tmp_path / "elsewhere.bin"
    Path(entry.path).rename(moved)
    Path(entry.path).symlink_to(moved)  # same size and mtime behind it: only the link tells
    assert reads.read(entry, 0, entry.size) is None
    assert reads.takes(entry, entry.size)


@needs_nowait
def test_a_file_on_another_device_than_listed_goes_to_the_reader_pool(tmp_path: Path) -> None:
    entry, _, _ = cached_file(tmp_path)
    elsewhere = replace(entry, dev=entry.dev + 1)  # a filesystem mounted over it since the walk
    reads = CachedReads(LocalMounts(frozenset({elsewhere.dev})))
    assert reads.read(elsewhere, 0, entry.size) is None


@needs_nowait
def test_a_device_whose_reads_keep_being_slow_goes_to_the_reader_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry, data, reads = cached_file(tmp_path)
    monkeypatch.setattr(cached, "SLOW", 0.0)  # every read counts as slow
    for _ in range(cached.SLOW_READS - 1):
        assert reads.read(entry, 0, entry.size) is not None
        assert reads.takes(entry, entry.size)
    got = reads.read(entry, 0, entry.size)
    assert got is not None and got[0] == data  # this one is still read...
    assert not reads.takes(entry, entry.size)  # ...the next ones go to the pool


@needs_nowait
def test_a_file_that_changed_since_listed_is_not_read(tmp_path: Path) -> None:
    entry, _, reads = cached_file(tmp_path)
    with open(entry.path, "ab") as f:
        f.write(b"more")
    with pytest.raises(FileChanged, match="since it was listed"):
        reads.read(entry, 0, entry.size)


def remove(entry: FileEntry) -> None:
    Path(entry.path).unlink()


def body(entry: FileEntry, reads: CachedReads, pool: CountingPool) -> FileRange:
    return FileRange(entry, Meter(EventBus()), head=b"<", tail=b">", reader=pool, cached=reads)


@needs_nowait
@pytest.mark.parametrize(("in_cache", "jobs"), [(True, 0), (False, 1)])
async def test_only_an_uncached_small_file_reaches_the_reader_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_cache: bool, jobs: int
) -> None:
    entry, data, reads = cached_file(tmp_path)
    if not in_cache:
        os_raises(monkeypatch, BlockingIOError(errno.EAGAIN, "Resource unavailable"))
    pool = CountingPool()
    try:
        writer = AcceptingWriter()
        sent = body(entry, reads, pool)
        await sent.write(writer)  # type: ignore[arg-type]
    finally:
        pool.shutdown()
    assert pool.jobs == jobs
    assert writer.written == len(data) + 2 and sent.sent == len(data)
    assert sent.md5 == hashlib.md5(data).hexdigest()


@needs_nowait
async def test_growth_seen_in_a_cached_read_fails_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry, _, reads = cached_file(tmp_path)
    real = os.preadv

    def grown(fd: int, buffers: list[bytearray], offset: int, flags: int = 0) -> int:
        n = int(real(fd, buffers, offset, flags))
        buffers[0][n : n + 1] = b"+"  # one byte past the listed end came back
        return n + 1

    monkeypatch.setattr(os, "preadv", grown)
    with pytest.raises(FileChanged, match="grew during upload"):
        await body(entry, reads, CountingPool()).open()


@needs_nowait
async def test_a_vanished_file_fails_as_gone(tmp_path: Path) -> None:
    entry, _, reads = cached_file(tmp_path)
    remove(entry)
    with pytest.raises(FileVanished):
        await body(entry, reads, CountingPool()).open()


@needs_nowait
async def test_after_one_worker_read_an_unlisted_local_device_is_read_on_the_loop(
    tmp_path: Path,
) -> None:
    entry, data, _ = cached_file(tmp_path)
    on = await asyncio.to_thread(file_mount, entry)  # reads /proc: not on the loop
    reads = CachedReads(LocalMounts(ids=frozenset({on})))  # its device is not listed
    pool = CountingPool()
    try:
        for _ in range(2):
            sent = body(entry, reads, pool)
            await sent.write(AcceptingWriter())  # type: ignore[arg-type]
            assert sent.md5 == hashlib.md5(data).hexdigest()
    finally:
        pool.shutdown()
    assert pool.jobs == 1  # the first in a worker, which learnt the device; the second here


def file_mount(entry: FileEntry) -> int:
    fd = os.open(entry.path, os.O_RDONLY)
    try:
        found = mount_id(fd)
    finally:
        os.close(fd)
    assert found is not None
    return found
