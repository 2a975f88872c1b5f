"""Benchmark data sets: many small files of random bytes, big sparse files, or big files of real
bytes; all under one dir."""

from __future__ import annotations

import os
from pathlib import Path

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


def small_files(root: Path, count: int, size: int) -> list[Path]:
    """`count` files of `size` bytes, 1,000 per folder; content differs per file (random block
    plus the index), without paying for `count` x `size` random bytes."""
    block = os.urandom(size)
    paths = []
    for index in range(count):
        folder = root / f"d{index // 1000:04d}"
        if index % 1000 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"f{index:07d}.bin"
        stamp = index.to_bytes(8, "little")
        path.write_bytes(stamp + block[len(stamp) :] if size >= len(stamp) else block)
        paths.append(path)
    return paths


def sparse_files(root: Path, count: int, size: int) -> list[Path]:
    """`count` sparse files of `size` bytes (a random first MiB, holes after): no disk cost."""
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = root / f"big{index:03d}.bin"
        with path.open("wb") as handle:
            handle.write(os.urandom(min(size, MIB)))
            handle.truncate(size)
        paths.append(path)
    return paths


def filled_files(root: Path, count: int, size: int) -> list[Path]:
    """`count` files of `size` bytes written out: a random MiB, stamped with the file's and the
    MiB's index, so no two MiB are alike and none is zeros. Storage may skip zeros (SeaweedFS's
    S3 PUT stores 2 GiB of holes writing 0.03 GB), which no drawing or model lets it do."""
    root.mkdir(parents=True, exist_ok=True)
    block = os.urandom(MIB)
    paths = []
    for index in range(count):
        path = root / f"big{index:03d}.bin"
        with path.open("wb") as handle:
            for mib in range(-(-size // MIB)):
                stamp = index.to_bytes(4, "little") + mib.to_bytes(4, "little")
                handle.write((stamp + block[len(stamp) :])[: min(MIB, size - mib * MIB)])
        paths.append(path)
    return paths


def total_bytes(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths)


def warm(paths: list[Path]) -> None:
    """Read every file once, so its pages are in the page cache when a timed run starts.

    rclone drops the pages of each file it uploaded (its local backend calls
    `fadvise(POSIX_FADV_DONTNEED)` as it reads), so without this a client timed after rclone
    reads its data from disk while the others read it from memory.
    """
    for path in paths:
        with path.open("rb", buffering=0) as handle:
            while handle.read(MIB):
                pass
