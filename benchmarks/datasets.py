"""Benchmark data sets: many small files of random bytes, or big sparse files; all under one dir."""

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


def total_bytes(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths)
