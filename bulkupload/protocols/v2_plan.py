"""How a file is cut into v2.1 parts and hashed, in one pass, before its upload is created.

Procore asks, at creation, for every part's size and SHA-256 (MD5 too, which storage checks)
and the whole file's digests: one read of the file computes all four, chunk by chunk.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import threading

from bulkupload.config import MAX_PART, MIN_PART
from bulkupload.errors import FileChanged, UnsupportedFileSize
from bulkupload.models import FileEntry
from bulkupload.state import PartPlan

from .files import CHUNK, check_unchanged, read_errors

__all__ = ["MAX_PARTS", "MAX_SIZE", "part_size_for", "plan_parts"]

MAX_PARTS = 10_000
MAX_SIZE = MAX_PARTS * MAX_PART  # the largest file v2.1 takes: 10,000 parts of 100 MiB
_MIB = 1 << 20


def part_size_for(size: int, wanted: int) -> int:
    """The part size for a file of `size` bytes: one part up to 100 MiB, else `wanted` grown
    (in whole MiB) until 10,000 parts are enough. UnsupportedFileSize when nothing fits."""
    if size < 1 or size > MAX_SIZE:
        raise UnsupportedFileSize(
            f"v2.1 unified uploads take 1 byte to {MAX_SIZE:,} bytes, not {size:,}"
        )
    if size <= MAX_PART:
        return size
    least = -(-size // MAX_PARTS)
    part = max(wanted, -(-least // _MIB) * _MIB)
    if not MIN_PART < part <= MAX_PART:  # wanted is checked by Settings; this is the grown one
        raise UnsupportedFileSize(f"{size:,} bytes do not fit in {MAX_PARTS:,} parts of 100 MiB")
    return part


def plan_parts(
    entry: FileEntry,
    part_size: int,
    *,
    chunk_size: int = CHUNK,
    stop: threading.Event | None = None,
) -> tuple[list[PartPlan], str, str]:
    """Each part's size, SHA-256 and MD5, then the whole file's SHA-256 and MD5, in one pass.

    Blocking: run it in a worker thread; it gives up at the next chunk once `stop` is set.
    FileChanged if the file is not as the walk listed it, or changes while it is read.
    """
    whole_sha, whole_md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    parts = []
    with read_errors(entry), open(entry.path, "rb", buffering=0) as f:
        check_unchanged(entry, os.fstat(f.fileno()), "since it was listed")
        left = entry.size
        while left > 0:
            length = min(part_size, left)
            left -= length
            sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
            todo = length
            while todo > 0:
                if stop is not None and stop.is_set():
                    raise concurrent.futures.CancelledError
                data = f.read(min(chunk_size, todo))
                if not data:
                    raise FileChanged(f"{entry.display_rel}: shrank while being hashed")
                for digest in (sha, md5, whole_sha, whole_md5):
                    digest.update(data)
                todo -= len(data)
            parts.append(PartPlan(size=length, sha256=sha.hexdigest(), md5=md5.hexdigest()))
        if f.read(1):
            raise FileChanged(f"{entry.display_rel}: grew while being hashed")
        check_unchanged(entry, os.fstat(f.fileno()), "while being hashed")
    return parts, whole_sha.hexdigest(), whole_md5.hexdigest()
