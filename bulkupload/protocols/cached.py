"""Small files read on the event loop when that cannot block: local filesystems, cached bytes.

A read in a worker thread costs a thread hop, and under load the hop is mostly waiting: the
worker takes the GIL back after each of its system calls (open, fstat, read, hash, fstat,
close) while the event loop holds it. Measured on 5,000 × 64 KiB files at -j32 against
SeaweedFS, 10-17 ms per file passed between asking for a small file's bytes and having them,
with the transfer slot held all along, so only about 18 of 32 storage POSTs were in flight.
Read on the loop, that is 0.15 ms, and files/s beside rclone went from 0.75 to 0.88 (2,000
files, five runs, each on a fresh SeaweedFS with the page cache warm).

The loop must never wait on a disk or a network, so a range is read here only when:
- it is small (`INLINE_MAX`: hashing it takes the loop well under a millisecond);
- its file is on a local filesystem (`local_mounts`: ext4, XFS, Btrfs, ...), where opening a
  file the walk just listed does not leave the machine; network and FUSE filesystems (NFS,
  SMB, sshfs, rclone mount) always read in a worker, as before;
- its bytes are in the page cache: `preadv` with `RWF_NOWAIT` (Linux 4.14+) returns them or
  fails with EAGAIN instead of waiting for the disk, and then the worker reads as before.
Elsewhere (no `RWF_NOWAIT`: macOS, Windows) every read goes to a worker, as before.

Also to a worker: a path that is now a symlink (O_NOFOLLOW) or on another device than the walk
saw, and a file another process holds a lease on (the non-blocking open says EAGAIN). A FIFO put
in the file's place fails the file without waiting for a writer. And a safety valve for what no
flag shows (an on-access scanner, a journal busy with writes, an inode the cache dropped): after
`SLOW_READS` reads here of `SLOW` seconds or more, a device's files go to workers.

A device the mount table does not list (each Btrfs subvolume has an `st_dev` of its own) is
learnt from the first of its files a worker reads: the file's mount (`mnt_id`) is looked up.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from bulkupload.errors import FileChanged
from bulkupload.models import FileEntry

from .files import check_unchanged

__all__ = ["INLINE_MAX", "LOCAL_FILESYSTEMS", "CachedReads", "LocalMounts", "local_mounts"]

#: The largest range read on the loop: its MD5 takes ~0.4 ms at ~0.65 GB/s.
INLINE_MAX = 256 * 1024

#: Block-device filesystems whose buffered reads honour RWF_NOWAIT (tmpfs answers EOPNOTSUPP
#: on today's kernels; a filesystem that refuses takes its device out, see `CachedReads.read`).
LOCAL_FILESYSTEMS = frozenset(
    {"ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "jfs", "bcachefs", "zfs", "overlay"}
)

MOUNTINFO = Path("/proc/self/mountinfo")

#: A read here that takes this long (seconds) counts as slow; after `SLOW_READS` of them its
#: device's files are read in workers. A cached 64 KiB read takes about 0.1 ms.
SLOW = 0.005
SLOW_READS = 3

log = logging.getLogger("bulkupload")

_NOT_SUPPORTED = frozenset({errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS})


@dataclass(frozen=True, slots=True)
class LocalMounts:
    """The mounts of `LOCAL_FILESYSTEMS` types: their `st_dev`s and their mount IDs."""

    devices: frozenset[int] = frozenset()
    ids: frozenset[int] = frozenset()


def local_mounts(mountinfo: Path = MOUNTINFO) -> LocalMounts:
    """The local mounts in the kernel's mount table (proc(5): `ID PARENT MAJOR:MINOR ROOT
    MOUNTPOINT OPTIONS [TAGS...] - TYPE SOURCE ...`). Empty when the table cannot be read:
    nothing is then read on the loop."""
    try:
        text = mountinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return LocalMounts()
    devices, ids = set(), set()
    for line in text.splitlines():
        fields = line.split()
        try:
            fstype = fields[fields.index("-", 6) + 1]
            major, minor = fields[2].split(":")
            device, mount_id = os.makedev(int(major), int(minor)), int(fields[0])
        except (ValueError, IndexError):
            continue
        if fstype in LOCAL_FILESYSTEMS:
            devices.add(device)
            ids.add(mount_id)
    return LocalMounts(frozenset(devices), frozenset(ids))


def mount_id(fd: int) -> int | None:
    """The ID of the mount an open file is on (`mnt_id` in /proc/self/fdinfo, Linux 3.15+)."""
    try:
        text = Path(f"/proc/self/fdinfo/{fd}").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == "mnt_id":
            return int(value) if value.strip().isdigit() else None
    return None


class CachedReads:
    """Reads small ranges of files on local `devices` without blocking, or says it cannot."""

    def __init__(self, mounts: LocalMounts, max_size: int = INLINE_MAX) -> None:
        self._devices = set(mounts.devices)
        self._mount_ids = mounts.ids
        self._known = set(mounts.devices)  # devices classified (`learn`): never twice
        self._slow: dict[int, int] = {}
        self.max_size = max_size

    @classmethod
    def here(cls) -> CachedReads | None:
        """For this machine, or None where non-blocking reads do not exist. Reads the mount
        table: call it in a worker thread."""
        if not hasattr(os, "RWF_NOWAIT") or not hasattr(os, "preadv"):
            return None
        mounts = local_mounts()
        return cls(mounts) if mounts.ids else None

    def takes(self, entry: FileEntry, length: int) -> bool:
        return length <= self.max_size and entry.dev in self._devices

    def learn(self, device: int, fd: int) -> None:
        """In a worker reading a file of `device` (open as `fd`): a device the mount table
        does not list (a Btrfs subvolume's own `st_dev`) is local when the mount the file is
        on is; its files are then read here. Blocking (reads /proc): in the worker."""
        if device in self._known or device == 0:
            return
        self._known.add(device)
        if mount_id(fd) in self._mount_ids:
            self._devices.add(device)

    def read(self, entry: FileEntry, offset: int, n: int) -> tuple[bytes, os.stat_result] | None:
        """Up to `n` bytes of `entry` from `offset` and the file's stat after reading them, or
        None when they are not all in the page cache, or opening would wait (a lease), or the
        path is now a symlink or on another filesystem: the caller reads them in a worker.
        Raises OSError (open, fstat) and FileChanged (the file is not as listed, or no regular
        file any more) like a worker's read."""
        started = time.perf_counter()
        try:
            # O_NONBLOCK: a FIFO put in the file's place does not block the open, and neither
            # does another process's lease on the file (EAGAIN). O_NOFOLLOW: a symlink put in
            # its place could lead anywhere (ELOOP; --follow-symlinks files: the worker).
            fd = os.open(entry.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOFOLLOW)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return None
            raise
        try:
            before = os.fstat(fd)
            if before.st_dev != entry.dev:
                return None  # not the filesystem the walk saw (a mount since): the worker
            if not stat.S_ISREG(before.st_mode):
                raise FileChanged(f"{entry.display_rel}: is no longer a regular file")
            check_unchanged(entry, before, "since it was listed")
            buffer = bytearray(n)
            try:
                got = os.preadv(fd, [buffer], offset, os.RWF_NOWAIT)
            except BlockingIOError:
                return None  # not (all) cached: the disk would be read
            except OSError as exc:
                if exc.errno not in _NOT_SUPPORTED:
                    raise
                self._devices.discard(entry.dev)  # this filesystem refuses: workers read it
                return None
            if got < n and got < entry.size - offset:
                return None  # a short read: part cached, or the file shrank; a worker decides
            del buffer[got:]
            return bytes(buffer), os.fstat(fd)
        finally:
            os.close(fd)
            self._timed(entry.dev, time.perf_counter() - started)

    def _timed(self, device: int, seconds: float) -> None:
        """A safety valve for what no flag shows (an on-access scanner, a journal under heavy
        writes, an inode the cache had dropped): a device whose reads here keep taking long
        is read in workers for the rest of the run."""
        if seconds < SLOW:
            return
        self._slow[device] = slow = self._slow.get(device, 0) + 1
        if slow >= SLOW_READS and device in self._devices:
            self._devices.discard(device)
            log.debug("small files on device %#x read in worker threads: slow reads", device)
