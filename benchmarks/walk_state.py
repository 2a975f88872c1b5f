"""Benchmark: walk a large tree and diff every file against a full state store.

Checks the memory bound of the walk + state diff (the part of a nightly run that touches every
file even when nothing changed): peak RSS must stay under 200 MB for 200,000 files.

    .venv/bin/python -m benchmarks.walk_state [--files N] [--per-dir M]

The measured phase runs in a fresh child process so its peak RSS is not inflated by building
the tree and the state.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from bulkupload.models import FileEntry, FileResult, Placement, Status
from bulkupload.plan import Skip, decide
from bulkupload.state import StateStore
from bulkupload.walk import walk

TARGET = "project:1"
BATCH = 500  # entries per state lookup, as the pipeline batches them
RSS_LIMIT_MB = 200
CHANGED_EVERY = 100  # one file in a hundred differs from its state row


def make_tree(root: Path, files: int, per_dir: int) -> int:
    """`files` empty files in two levels of directories, `per_dir` per leaf; returns dir count."""
    dirs = max(1, -(-files // per_dir))
    fanout = max(1, int(dirs**0.5))
    made = 0
    for d in range(dirs):
        leaf = root / f"group{d // fanout:03}" / f"dir{d:04}"
        leaf.mkdir(parents=True)
        for i in range(min(per_dir, files - made)):
            # os.open/close: the cheapest way to make an empty file, no Python file object.
            os.close(os.open(leaf / f"file{i:05}.dat", os.O_CREAT | os.O_WRONLY, 0o644))
        made += per_dir
    return dirs


def populate(root: Path, state_path: Path) -> None:
    """One state row per file, as if a previous run had uploaded everything."""
    with StateStore.open(state_path) as store:
        run = store.begin_run(TARGET)
        batch: list[FileResult] = []
        for n, item in enumerate(walk([str(root)])):
            assert isinstance(item, FileEntry)
            size = item.size + (1 if n % CHANGED_EVERY == 0 else 0)
            batch.append(
                FileResult(
                    rel=item.rel,
                    size=size,
                    mtime_ns=item.mtime_ns,
                    status=Status.UPLOADED,
                    md5="d41d8cd98f00b204e9800998ecf8427e",
                    upload_uuid=f"uuid-{n}",
                    attempts=1,
                    placement=Placement(file_id=n, folder_id=1, version=1),
                )
            )
            if len(batch) >= 5000:
                store.record(TARGET, batch, run)
                batch.clear()
        store.record(TARGET, batch, run)
        store.finish_run(run, {"uploaded": n + 1})


def _batches(items: Iterator[FileEntry], size: int) -> Iterator[list[FileEntry]]:
    batch: list[FileEntry] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def diff_phase(root: Path, state_path: Path) -> dict[str, float]:
    """Walk + lookup + mark_seen + gone, as a run with nothing to upload does; in this process."""
    start = time.perf_counter()
    unchanged = changed = 0
    with StateStore.open(state_path) as store:
        run = store.begin_run(TARGET)
        entries = (item for item in walk([str(root)]) if isinstance(item, FileEntry))
        for batch in _batches(entries, BATCH):
            rows = store.lookup(TARGET, [e.rel for e in batch])
            same = [
                e.rel
                for e in batch
                if isinstance(decide(e, rows.get(e.rel), md5=None, places=True), Skip)
            ]
            unchanged += len(same)
            changed += len(batch) - len(same)
            store.mark_seen(TARGET, same, run)
        gone, _ = store.gone(TARGET, run, 0)
        store.finish_run(run, {"unchanged": unchanged, "changed": changed})
    return {
        "seconds": time.perf_counter() - start,
        "unchanged": unchanged,
        "changed": changed,
        "gone": gone,
        "peak_rss_mb": peak_rss_mb(),
    }


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv: Sequence[str] | None = None) -> int:
    """Build the tree and state, run the measured phase in a child, print Markdown, check RSS."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.walk_state")
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--per-dir", type=int, default=1000)
    parser.add_argument("--diff-only", nargs=2, metavar=("ROOT", "STATE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.diff_only:
        print(json.dumps(diff_phase(Path(args.diff_only[0]), Path(args.diff_only[1]))))
        return 0

    with tempfile.TemporaryDirectory(prefix="bulkupload-bench-") as tmp:
        root, state_path = Path(tmp) / "tree", Path(tmp) / "state" / "state.sqlite"
        t0 = time.perf_counter()
        dirs = make_tree(root, args.files, args.per_dir)
        t1 = time.perf_counter()
        populate(root, state_path)
        t2 = time.perf_counter()
        child = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.walk_state",
                "--diff-only",
                str(root),
                str(state_path),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(child.stdout)
        state_mb = state_path.stat().st_size / 2**20
        shutil.rmtree(root)

    rate = args.files / result["seconds"]
    print(f"## walk + state diff, {args.files:,} files\n")
    print("| measure | value |\n|---|---|")
    print(f"| files / directories | {args.files:,} / {dirs:,} |")
    print(f"| build tree | {t1 - t0:.1f} s |")
    print(f"| populate state (record, batches of 5,000) | {t2 - t1:.1f} s |")
    print(f"| state file size | {state_mb:.1f} MB |")
    print(f"| walk + lookup + mark_seen + gone | {result['seconds']:.2f} s ({rate:,.0f} files/s) |")
    counts = f"{result['unchanged']:,} / {result['changed']:,} / {result['gone']:,}"
    print(f"| unchanged / changed / gone (the changed: not re-sent here) | {counts} |")
    print(f"| peak RSS of that phase (VmHWM) | {result['peak_rss_mb']:.1f} MB |")
    expected_changed = -(-args.files // CHANGED_EVERY)
    assert result["changed"] == expected_changed, result
    assert result["unchanged"] + result["changed"] == args.files, result
    assert result["peak_rss_mb"] < RSS_LIMIT_MB, f"peak RSS {result['peak_rss_mb']:.1f} MB"
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
