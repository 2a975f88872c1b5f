"""Local files as the upload protocols read them: OS errors mapped to this file's problem once,
the checks that a file did not change, and a whole file's MD5.

Every function here blocks: call it from a worker thread (`Transport.reader`), never on the loop.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from bulkupload.errors import FileChanged, FileUnreadable, FileVanished
from bulkupload.models import FileEntry

__all__ = [
    "CHUNK",
    "check_unchanged",
    "file_md5",
    "read_errors",
    "read_exactly",
    "restat",
    "verify_unchanged",
]

#: Read size for file bytes: 64 KiB reads cap at ~0.7 GB/s, 1 MiB is the measured sweet spot
#: (shared/aiohttp-notes.md), and bigger buffers only cost memory per transfer.
CHUNK = 1 << 20


@contextmanager
def read_errors(entry: FileEntry) -> Iterator[None]:
    """OS errors raised while opening, stating or reading `entry`, as this file's problem:
    gone is FileVanished, anything else (permission, a directory, I/O) FileUnreadable."""
    try:
        yield
    except FileNotFoundError as exc:
        raise FileVanished(f"{entry.display_rel}: no longer exists") from exc
    except OSError as exc:
        raise FileUnreadable(f"{entry.display_rel}: {exc.strerror or exc}") from exc


def check_unchanged(entry: FileEntry, st: os.stat_result, when: str) -> None:
    """FileChanged when `st` is not the size and mtime the walk saw (`when`: "during upload")."""
    if st.st_size != entry.size or st.st_mtime_ns != entry.mtime_ns:
        raise FileChanged(
            f"{entry.display_rel}: changed {when} (size {entry.size} -> {st.st_size})"
        )


def verify_unchanged(entry: FileEntry, when: str) -> None:
    """Stat `entry` afresh: FileChanged, FileVanished or FileUnreadable unless it is as listed."""
    with read_errors(entry):
        st = os.stat(entry.path)
    check_unchanged(entry, st, when)


def restat(entry: FileEntry) -> FileEntry:
    """`entry` as it is now, for one more try after it changed while it was sent."""
    try:
        st = os.stat(entry.path)
    except OSError as exc:
        raise FileChanged(
            f"{entry.display_rel}: changed during upload and now unreadable: {exc.strerror or exc}"
        ) from exc
    return FileEntry(
        path=entry.path, rel=entry.rel, size=st.st_size, mtime_ns=st.st_mtime_ns, dev=st.st_dev
    )


def read_exactly(f: BinaryIO, n: int) -> bytes:
    """Up to `n` bytes, fewer only at the end of the file: pipes and network filesystems may
    return short reads before it."""
    data = f.read(n) or b""
    while 0 < len(data) < n:
        more = f.read(n - len(data))
        if not more:
            break
        data += more
    return data


def file_md5(entry: FileEntry, chunk_size: int = CHUNK) -> str:
    """The MD5 of the whole file as it is now (`--checksum`)."""
    digest = hashlib.md5(usedforsecurity=False)
    with read_errors(entry), open(entry.path, "rb", buffering=0) as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
