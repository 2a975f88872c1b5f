"""`make bench` / `make bench-quick`: naive vs bulkupload vs the curl ceiling, side by side.

Each scenario starts its own emulator subprocess (latency, bandwidth and rate-limit knobs), builds
its data set under a temp dir, runs every client as a subprocess measured by wait4 rusage, and
deletes everything afterwards. Results go to benchmarks/results/latest.md.

Run: python -m benchmarks.run [--quick] [--workdir DIR] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import datasets
from .ceiling import prepare, run_ceiling
from .harness import COMPANY_ID, PROJECT_ID, Emulator, Row, run_measured, startup_cpu

RESULTS = Path(__file__).parent / "results" / "latest.md"
SPIKE_LIMIT, SPIKE_WINDOW = 50, 10.0
BANDWIDTH = 100e6  # bytes/s
RSS_LIMIT_MB = 150.0
# CPU of an interpreter that only imports each client, measured once per run (see main()).
STARTUP_CPU: dict[str, float] = {}


@dataclass(slots=True)
class Scenario:
    """One table: a data set, emulator flags and the rows of every client run against it."""

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self, client: str) -> Row | None:
        return next((r for r in self.rows if r.client == client), None)


@dataclass(frozen=True, slots=True)
class Target:
    """One target of the issue: a measured ratio against its threshold."""

    name: str
    ratio: float | None
    threshold: float
    detail: str
    higher_is_better: bool = True
    extra_ok: bool = True

    @property
    def met(self) -> bool:
        if self.ratio is None:
            return False
        ok = self.ratio >= self.threshold if self.higher_is_better else self.ratio <= self.threshold
        return ok and self.extra_ok


class Bench:
    """Runs clients against one emulator and turns their results into rows."""

    def __init__(self, emulator: Emulator, workdir: Path) -> None:
        self.emulator = emulator
        self.workdir = workdir
        self.runs = 0

    def _fresh_dir(self) -> Path:
        self.runs += 1
        path = self.workdir / f"run{self.runs:02d}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _counted(self, client: str, run: Callable[[Path], tuple[Row, str]]) -> Row:
        self.emulator.reset()
        scratch = self._fresh_dir()
        emulator_cpu = self.emulator.cpu_seconds()
        row, log = run(scratch)
        start = float(row.extra.get("emulator_cpu_start", emulator_cpu))
        row.emulator_cpu_s = self.emulator.cpu_seconds() - start
        counters = self.emulator.counters()
        row.api_calls = int(counters["api_calls"])
        row.rate_limited = int(counters["rate_limited"])
        row.extra["storage_success"] = counters["storage_success"]
        if row.measured.returncode != 0:
            row.note = (row.note + f" exit {row.measured.returncode}").strip()
            tail = (scratch / log).read_text(errors="replace")[-800:] if log else ""
            print(f"  {client}: exit {row.measured.returncode}\n{tail}", file=sys.stderr)
        self.emulator.purge_objects()
        shutil.rmtree(scratch, ignore_errors=True)
        print(
            f"  {row.client:<26} {row.files:>7} files {row.files_per_s:9.1f} files/s "
            f"{row.mb_per_s:8.1f} MB/s cpu {row.cpu_ms_per_file:7.3f} "
            f"({row.net_cpu_ms_per_file:.3f} net) ms/file "
            f"rss {row.measured.peak_rss_mb:6.1f} MB api {row.api_calls} 429 {row.rate_limited}",
            flush=True,
        )
        return row

    def bulkupload(
        self, source: Path, concurrency: int, *, attach: bool = False, label: str = ""
    ) -> Row:
        client = label or f"bulkupload -j{concurrency}" + (" +attach" if attach else "")

        def run(scratch: Path) -> tuple[Row, str]:
            base = self.emulator.base_url
            command = [
                sys.executable,
                "-m",
                "bulkupload",
                str(source),
                "--project",
                str(PROJECT_ID),
                "--concurrency",
                str(concurrency),
                "--progress",
                "none",
                "--state",
                str(scratch / "state.sqlite"),
                "--manifest",
                str(scratch / "manifest.jsonl"),
                "--report",
                str(scratch / "report.json"),
                "--base-url",
                base,
                "--login-url",
                base,
                *([] if attach else ["--no-attach"]),
                *(["--folder", "Bench"] if attach else []),
            ]
            measured = run_measured(command, self.emulator.env(), scratch / "log.txt")
            report = _read_json(scratch / "report.json")
            row = Row(
                client=client,
                files=int(report.get("uploaded", 0)),
                nbytes=int(report.get("bytes_uploaded", 0)),
                measured=measured,
                api_calls=0,
                rate_limited=0,
                run_duration_s=report.get("duration_s"),
                startup_cpu_s=STARTUP_CPU.get("bulkupload", 0.0),
            )
            return row, "log.txt"

        return self._counted(client, run)

    def naive(self, source: Path, limit: int | None = None) -> Row:
        client = "naive (sequential urllib)"

        def run(scratch: Path) -> tuple[Row, str]:
            command = [
                sys.executable,
                "-m",
                "benchmarks.naive",
                str(source),
                "--base-url",
                self.emulator.base_url,
                "--project",
                str(PROJECT_ID),
                "--report",
                str(scratch / "report.json"),
                *(["--limit", str(limit)] if limit else []),
            ]
            measured = run_measured(command, self.emulator.env(), scratch / "log.txt")
            report = _read_json(scratch / "report.json")
            row = Row(
                client=client,
                files=int(report.get("uploaded", 0)),
                nbytes=int(report.get("bytes_uploaded", 0)),
                measured=measured,
                api_calls=0,
                rate_limited=0,
                run_duration_s=report.get("duration_s"),
                note=f"first {limit} files" if limit else "",
                startup_cpu_s=STARTUP_CPU.get("naive", 0.0),
            )
            return row, "log.txt"

        return self._counted(client, run)

    def ceiling(self, files: list[Path], parallel: int) -> Row:
        client = f"ceiling: curl --parallel {parallel}"

        def run(scratch: Path) -> tuple[Row, str]:
            config = prepare(self.emulator, files, scratch, PROJECT_ID, COMPANY_ID)
            emulator_cpu = self.emulator.cpu_seconds()
            measured = run_ceiling(config, parallel, scratch / "curl.log")
            done = int(self.emulator.counters()["storage_success"])
            row = Row(
                client=client,
                files=done,
                nbytes=datasets.total_bytes(files) if done == len(files) else 0,
                measured=measured,
                api_calls=0,
                rate_limited=0,
                note="storage POSTs only; Create Upload done beforehand, untimed",
            )
            row.extra["emulator_cpu_start"] = emulator_cpu
            return row, "curl.log"

        return self._counted(client, run)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data


# ---- scenarios -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sizes:
    """Data-set sizes for one mode."""

    small: int = 5000
    medium: int = 200
    large: tuple[int, int] = (2, datasets.GIB)
    latency_files: int = 2000
    latency_naive: int = 500
    latency_concurrency: tuple[int, ...] = (8, 32)
    bandwidth: tuple[int, int] = (20, 200_000_000)
    rate_files: int = 300
    rss_big: int = 4 * datasets.GIB
    rss_many: int = 200_000


FULL = Sizes()
QUICK = Sizes(
    small=300,
    medium=20,
    large=(1, 192 * datasets.MIB),
    latency_files=800,
    latency_naive=40,
    latency_concurrency=(32,),
    bandwidth=(5, 100_000_000),
    rate_files=80,
    rss_big=512 * datasets.MIB,
    rss_many=1500,
)


def throughput(work: Path, sizes: Sizes, kind: str) -> Scenario:
    """No latency, no caps: every client on one data set."""
    if kind == "small":
        title = f"{sizes.small:,} x 64 KiB, no latency, no caps"
        files = datasets.small_files(work / "data", sizes.small, 64 * datasets.KIB)
    elif kind == "medium":
        title = f"{sizes.medium:,} x 4 MiB, no latency, no caps"
        files = datasets.small_files(work / "data", sizes.medium, 4 * datasets.MIB)
    else:
        count, size = sizes.large
        title = f"{count} x {size / datasets.MIB:,.0f} MiB (sparse), no latency, no caps"
        files = datasets.sparse_files(work / "data", count, size)
    scenario = Scenario(kind, title)
    with Emulator(work) as emulator:
        bench = Bench(emulator, work)
        scenario.rows.append(bench.naive(work / "data"))
        for concurrency in (1, 8, 32):
            scenario.rows.append(bench.bulkupload(work / "data", concurrency))
        if kind == "small":
            scenario.rows.append(bench.bulkupload(work / "data", 8, attach=True))
        scenario.rows.append(bench.ceiling(files, 8))
    return scenario


def latency(work: Path, sizes: Sizes) -> Scenario:
    """Target 1: 100 ms API latency, 30 ms storage latency, small files."""
    datasets.small_files(work / "data", sizes.latency_files, 64 * datasets.KIB)
    scenario = Scenario(
        "latency",
        f"{sizes.latency_files:,} x 64 KiB, API latency 100 ms, storage latency 30 ms",
    )
    flags = ("--api-latency", "0.1", "--storage-latency", "0.03")
    with Emulator(work, *flags) as emulator:
        bench = Bench(emulator, work)
        limit = sizes.latency_naive if sizes.latency_naive < sizes.latency_files else None
        scenario.rows.append(bench.naive(work / "data", limit))
        for concurrency in sizes.latency_concurrency:
            scenario.rows.append(bench.bulkupload(work / "data", concurrency))
    if limit:
        scenario.notes.append(
            f"naive runs the first {limit} files only (a sequential script's files/s is steady)."
        )
    return scenario


def bandwidth(work: Path, sizes: Sizes) -> Scenario:
    """Target 2: storage capped at 100 MB/s over all connections."""
    count, size = sizes.bandwidth
    files = datasets.sparse_files(work / "data", count, size)
    scenario = Scenario("bandwidth", f"{count} x {size / 1e6:,.0f} MB, storage capped at 100 MB/s")
    with Emulator(work, "--storage-bandwidth", str(int(BANDWIDTH))) as emulator:
        bench = Bench(emulator, work)
        scenario.rows.append(bench.bulkupload(work / "data", 8))
        scenario.rows.append(bench.ceiling(files, 8))
    return scenario


def rate_limit(work: Path, sizes: Sizes) -> Scenario:
    """Target 3: 50 requests per 10 s spike window."""
    datasets.small_files(work / "data", sizes.rate_files, 64 * datasets.KIB)
    scenario = Scenario(
        "rate",
        f"{sizes.rate_files:,} x 64 KiB, rate limit {SPIKE_LIMIT} requests / {SPIKE_WINDOW:.0f} s",
    )
    flags = ("--spike-limit", str(SPIKE_LIMIT), "--spike-window", str(SPIKE_WINDOW))
    with Emulator(work, *flags) as emulator:
        scenario.rows.append(Bench(emulator, work).bulkupload(work / "data", 8))
    return scenario


def rss(work: Path, sizes: Sizes) -> Scenario:
    """Target 5: peak RSS with one huge file and with very many files."""
    scenario = Scenario(
        "rss",
        f"memory: 1 x {sizes.rss_big / datasets.MIB:,.0f} MiB (sparse); {sizes.rss_many:,} x 1 KiB",
    )
    datasets.sparse_files(work / "big", 1, sizes.rss_big)
    datasets.small_files(work / "many", sizes.rss_many, datasets.KIB)
    with Emulator(work) as emulator:
        bench = Bench(emulator, work)
        big = f"bulkupload -j8, {sizes.rss_big / datasets.MIB:,.0f} MiB file"
        scenario.rows.append(bench.bulkupload(work / "big", 8, label=big))
        many = f"bulkupload -j32, {sizes.rss_many:,} files"
        scenario.rows.append(bench.bulkupload(work / "many", 32, label=many))
    return scenario


# ---- targets and report --------------------------------------------------------------------


def targets(scenarios: dict[str, Scenario]) -> list[Target]:
    found: list[Target] = []

    def get(scenario: str, client: str) -> Row | None:
        return scenarios[scenario].row(client) if scenario in scenarios else None

    naive, fast = get("latency", "naive (sequential urllib)"), get("latency", "bulkupload -j32")
    if naive and fast:
        ratio = fast.files_per_s / max(naive.files_per_s, 1e-9)
        detail = f"{fast.files_per_s:.1f} vs {naive.files_per_s:.2f} files/s"
        found.append(Target("1. latency: bulkupload -j32 / naive files/s", ratio, 25, detail))
    capped = get("bandwidth", "bulkupload -j8")
    if capped and capped.run_duration_s:
        achieved = capped.nbytes / capped.run_duration_s
        detail = (
            f"{achieved / 1e6:.1f} MB/s in-run ({capped.mb_per_s:.1f} MB/s incl. process start)"
        )
        found.append(
            Target("2. bandwidth: achieved / 100 MB/s cap", achieved / BANDWIDTH, 0.95, detail)
        )
    limited = get("rate", "bulkupload -j8")
    if limited and limited.run_duration_s:
        rate = limited.api_calls / limited.run_duration_s
        limit = SPIKE_LIMIT / SPIKE_WINDOW
        detail = (
            f"{rate:.2f} req/s vs {limit:.0f} req/s ({limited.api_calls} calls in "
            f"{limited.run_duration_s:.1f} s), {limited.rate_limited} x 429"
        )
        found.append(
            Target(
                "3. rate limit: API req/s / limit, zero 429s",
                rate / limit,
                0.9,
                detail,
                extra_ok=limited.rate_limited == 0,
            )
        )
    small = get("small", "bulkupload -j8")
    if small:
        detail = (
            f"{small.net_cpu_ms_per_file:.3f} ms/file net of start-up "
            f"({small.measured.cpu_s - small.startup_cpu_s:.2f} s over {small.files:,} files); "
            f"{small.cpu_ms_per_file:.3f} ms/file for the whole process"
        )
        found.append(
            Target(
                "4a. CPU: client ms per 64 KiB file (-j8, net of start-up)",
                small.net_cpu_ms_per_file,
                1.5,
                detail,
                higher_is_better=False,
            )
        )
    large, curl = get("large", "bulkupload -j8"), get("large", "ceiling: curl --parallel 8")
    if large and curl:
        detail = f"{large.mb_per_s:.0f} vs {curl.mb_per_s:.0f} MB/s"
        ratio = large.mb_per_s / max(curl.mb_per_s, 1e-9)
        found.append(Target("4b. large files: bulkupload -j8 / curl MB/s", ratio, 0.5, detail))
    peaks = [
        (row.measured.peak_rss_mb, f"{s.name}: {row.client}")
        for s in scenarios.values()
        for row in s.rows
        if row.client.startswith("bulkupload")
    ]
    if peaks:
        peak, where = max(peaks)
        found.append(
            Target(
                "5. peak client RSS, MB (max over all bulkupload runs)",
                peak,
                RSS_LIMIT_MB,
                f"max at {where}",
                higher_is_better=False,
            )
        )
    return found


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; load average at the end {load} (1/5/15 min: "
        "other work on the machine adds noise)"
    )


def render(scenarios: dict[str, Scenario], quick: bool, elapsed: float) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    mode = "QUICK mode (reduced data sets)" if quick else "full mode"
    lines = [
        "# bulkupload benchmark",
        "",
        f"- Date: {now}; mode: **{mode}**; total run time {elapsed:.0f} s",
        f"- Machine: {machine()}",
        "- Every client is a subprocess measured by `os.wait4` rusage (CPU = user + system, "
        "whole process incl. interpreter start; peak RSS = ru_maxrss). The emulator runs in its "
        "own process; its CPU is not counted.",
        "- 'net of start-up' subtracts the CPU of an interpreter that only imports the client "
        f"(bulkupload {STARTUP_CPU.get('bulkupload', 0) * 1000:.0f} ms, "
        f"naive {STARTUP_CPU.get('naive', 0) * 1000:.0f} ms): the per-file cost.",
        "- bulkupload runs with `--no-attach` (Create Upload + storage POST, the same two steps "
        "as naive) unless the row says +attach. files/s and MB/s use the client's wall time.",
        "- API calls and 429s are the emulator's counters (`/_emulator/counters`) per client run; "
        "'emulator CPU' is the emulator process's CPU over the client's wall time (100% = one "
        "core: the emulator, not the client, was the limit). Client and emulator share the "
        "machine's cores.",
        *(
            [f"- Scenarios left out of this run (`--only`): {', '.join(left_out)}.", ""]
            if (left_out := [name for name in STEPS if name not in scenarios])
            else [""]
        ),
        "## Targets",
        "",
        "| target | measured | threshold | met | detail |",
        "|---|---:|---:|---|---|",
    ]
    for target in targets(scenarios):
        sign = ">=" if target.higher_is_better else "<="
        value = "n/a" if target.ratio is None else f"{target.ratio:.2f}"
        met = "met" if target.met else "**missed**"
        lines.append(
            f"| {target.name} | {value} | {sign} {target.threshold:g} | {met} | {target.detail} |"
        )
    for scenario in scenarios.values():
        lines += [
            "",
            f"## {scenario.title}",
            "",
            "| client | files | files/s | MB/s | client CPU ms/file | net of start-up "
            "| peak RSS MB | API calls | 429s | emulator CPU | note |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for row in scenario.rows:
            lines.append(
                f"| {row.client} | {row.files:,} | {row.files_per_s:,.1f} | {row.mb_per_s:,.1f} "
                f"| {row.cpu_ms_per_file:.3f} | {row.net_cpu_ms_per_file:.3f} "
                f"| {row.measured.peak_rss_mb:.1f} | {row.api_calls:,} "
                f"| {row.rate_limited} | {row.emulator_busy:.0%} | {row.note} |"
            )
        lines += [f"\n{note}" for note in scenario.notes]
    return "\n".join(lines) + "\n"


STEPS: dict[str, Callable[[Path, Sizes], Scenario]] = {
    "small": lambda work, sizes: throughput(work, sizes, "small"),
    "medium": lambda work, sizes: throughput(work, sizes, "medium"),
    "large": lambda work, sizes: throughput(work, sizes, "large"),
    "latency": latency,
    "bandwidth": bandwidth,
    "rate": rate_limit,
    "rss": rss,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small data sets, under 2 minutes")
    parser.add_argument("--workdir", type=Path, default=None, help="where data sets go (temp)")
    parser.add_argument("--only", nargs="*", choices=list(STEPS), help="run only these scenarios")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="Markdown results file (default results/latest.md, or results/quick.md with --quick)",
    )
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the emulator and the data sets are cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    sizes = QUICK if args.quick else FULL
    started = time.monotonic()
    STARTUP_CPU["bulkupload"] = startup_cpu("bulkupload.cli", "bulkupload.runner")
    STARTUP_CPU["naive"] = startup_cpu("benchmarks.naive")
    scenarios: dict[str, Scenario] = {}
    for name in args.only or list(STEPS):
        work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-", dir=args.workdir))
        print(f"[{time.monotonic() - started:6.1f} s] scenario {name}", flush=True)
        try:
            scenarios[name] = STEPS[name](work, sizes)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    text = render(scenarios, args.quick, time.monotonic() - started)
    if args.output is None:  # a quick run never overwrites the full results
        args.output = RESULTS.with_name("quick.md") if args.quick else RESULTS
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
