"""Benchmark: v2.1 unified uploads of one very big file, side by side with the same bytes as
100 MiB files, and against a storage bandwidth cap with latency.

    .venv/bin/python -m benchmarks.unified [--size 20GiB] [--skip-cap]

1. One sparse file of `--size` at -j8 (parts of the default size, sent in parallel within the
   run's budget) vs the same bytes as 100 MiB sparse files at -j8: the big file's throughput
   must be at least 0.9 of the small files', with the client's peak RSS at most 150 MB.
2. With the emulator's storage capped at 100 MB/s and 40 ms of latency per request: at least
   0.9 of the cap.

The emulator keeps its bytes on disk here (the data set is bigger than RAM can hold twice), in
a folder removed afterwards; every client runs as a subprocess measured by wait4 rusage.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bulkupload.config import parse_size

from .datasets import MIB, sparse_files
from .harness import PROJECT_ID, Emulator, Measured, run_measured

RSS_LIMIT_MB = 150.0
CAP = 100e6  # bytes/s


def upload(emulator: Emulator, src: Path, work: Path, *flags: str) -> Measured:
    command = [
        *[sys.executable, "-m", "bulkupload", str(src), "--project", str(PROJECT_ID)],
        *["--base-url", emulator.base_url, "--login-url", emulator.base_url],
        *["--manifest", str(work / "manifest.jsonl"), "--state", str(work / "state.sqlite")],
        *["--progress", "none", "--api-version", "2.1", "--no-attach", *flags],
    ]
    measured = run_measured(command, emulator.env())
    if measured.returncode != 0:
        raise RuntimeError(f"bulkupload exited {measured.returncode}: {' '.join(command)}")
    (work / "state.sqlite").unlink()
    return measured


def row(label: str, size: int, m: Measured) -> str:
    rate = size / m.wall_s / 1e6
    return f"| {label} | {size / 2**30:.1f} GiB | {m.wall_s:.1f} s | {rate:.0f} MB/s | " + (
        f"{m.cpu_s:.0f} s | {m.peak_rss_mb:.1f} MB |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.unified")
    parser.add_argument("--size", type=parse_size, default=parse_size("20GiB"))
    parser.add_argument("--skip-cap", action="store_true", help="leave out the capped run")
    args = parser.parse_args(argv)
    size = args.size // (100 * MIB) * (100 * MIB)
    lines = [
        "| run | bytes | wall | throughput | client CPU | peak RSS |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory(prefix="bulkupload-unified-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        one, many = work / "one", work / "many"
        sparse_files(one, 1, size)
        sparse_files(many, size // (100 * MIB), 100 * MIB)
        with Emulator(work, in_memory=False) as emulator:
            big = upload(emulator, one, work, "-j", "8")
            emulator.purge_objects()
            small = upload(emulator, many, work, "-j", "8")
            emulator.purge_objects()
        lines.append(row("1 file, -j8", size, big))
        lines.append(row(f"{size // (100 * MIB)} x 100 MiB, -j8", size, small))
        ratio = small.wall_s / big.wall_s
        capped = None
        if not args.skip_cap:
            shutil.rmtree(many)
            capped_set = work / "capped"
            sparse_files(capped_set, 1, 2 << 30)
            flags = ("--storage-bandwidth", str(int(CAP)), "--storage-latency", "0.04")
            with Emulator(work, *flags, in_memory=False) as emulator:
                capped = upload(emulator, capped_set, work, "-j", "8")
            lines.append(row("1 file, storage 100 MB/s + 40 ms, -j8", 2 << 30, capped))
    print("## v2.1 unified uploads\n")
    print("\n".join(lines))
    print(f"\nthe big file at {ratio:.2f} of the 100 MiB files' throughput (>= 0.9)")
    if capped is not None:
        share = (2 << 30) / capped.wall_s / CAP
        print(f"capped storage: {share:.2f} of 100 MB/s (>= 0.9)")
    print(f"peak client RSS {max(big.peak_rss_mb, small.peak_rss_mb):.1f} MB (<= 150)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
