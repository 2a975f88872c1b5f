"""Benchmark: the memory bound when half of a big tree fails.

A tree of N tiny files where every other file is unreadable (mode 000, and the client runs
without CAP_DAC_OVERRIDE when it is root): each of those fails with its own manifest line. The
client's peak RSS must stay within the bound documented in `bulkupload/config.py`, whatever N:
failures are kept up to 1,000 for the summary (the counts are exact, the manifest has them all).
Two sizes run side by side, so the ratio shows memory does not grow with the tree.

    .venv/bin/python -m benchmarks.failures_rss [--files 200000] [--per-dir 1000] [--attach]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from .harness import PROJECT_ID, Emulator, Measured, run_measured

# config.py: 60 MB interpreter + concurrency × 2 × 1 MiB + queues + 1,000 failures + 1,000 gone
# + (depth + 64) folder listings, stated as "under 100 MB" at the defaults.
BOUND_MB = 100.0


def make_tree(root: Path, files: int, per_dir: int) -> None:
    """`files` files of 32 bytes, `per_dir` per directory; every other one unreadable."""
    for n in range(files):
        folder = root / f"dir{n // per_dir:04}"
        if n % per_dir == 0:
            folder.mkdir(parents=True)
        path = folder / f"file{n:06}.dat"
        path.write_bytes(n.to_bytes(32, "big"))
        if n % 2:
            path.chmod(0)


def unprivileged(command: list[str]) -> list[str]:
    """Root reads mode-000 files: drop that capability, as an ordinary user has none."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() == 0 and setpriv is not None:
        return [setpriv, "--bounding-set=-dac_override,-dac_read_search", *command]
    return command


def run_once(
    workdir: Path, files: int, per_dir: int, attach: bool
) -> tuple[Measured, Counter[str]]:
    src = workdir / f"tree-{files}"
    make_tree(src, files, per_dir)
    manifest, state = workdir / f"manifest-{files}.jsonl", workdir / f"state-{files}.sqlite"
    with Emulator(workdir) as emulator:
        command = [
            *[sys.executable, "-m", "bulkupload", str(src), "--project", str(PROJECT_ID)],
            *["--base-url", emulator.base_url, "--login-url", emulator.base_url],
            *["--manifest", str(manifest), "--state", str(state), "--progress", "none"],
            *(["--folder", "Failures"] if attach else ["--no-attach"]),
        ]
        measured = run_measured(unprivileged(command), emulator.env())
    statuses: Counter[str] = Counter()
    with manifest.open(encoding="utf-8") as lines:
        for line in lines:
            statuses[json.loads(line)["status"]] += 1
    shutil.rmtree(src)
    return measured, statuses


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.failures_rss")
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--per-dir", type=int, default=1000)
    parser.add_argument("--attach", action="store_true", help="attach to Documents too")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bulkupload-failures-") as tmp:
        for files in (args.files // 100, args.files):
            measured, statuses = run_once(Path(tmp), files, args.per_dir, args.attach)
            rows.append((files, measured, statuses))
    mode = "attaching" if args.attach else "--no-attach"
    print(f"## half the files fail: peak client RSS ({mode})\n")
    print("| files | failed | uploaded | exit | wall | peak RSS |\n|---:|---:|---:|---:|---:|---:|")
    for files, m, statuses in rows:
        print(
            f"| {files:,} | {statuses['failed']:,} | {statuses['uploaded']:,} | {m.returncode} "
            f"| {m.wall_s:.0f} s | {m.peak_rss_mb:.1f} MB |"
        )
    (small, m_small, _), (big, m_big, s_big) = rows
    print(
        f"\n{big:,} files hold {m_big.peak_rss_mb / m_small.peak_rss_mb:.2f}× the memory of "
        f"{small:,}; documented bound {BOUND_MB:.0f} MB."
    )
    assert s_big["failed"] == big // 2 and sum(s_big.values()) == big, s_big
    assert m_big.returncode == 1, m_big
    assert m_big.peak_rss_mb <= BOUND_MB, f"peak RSS {m_big.peak_rss_mb:.1f} MB"
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
