"""`make bench` / `make bench-quick`: naive vs bulkupload vs the curl ceiling (and rclone on
SeaweedFS), side by side.

Each scenario starts its own emulator subprocess (latency, bandwidth and rate-limit knobs), builds
its data set under a temp dir, runs every client as a subprocess measured by wait4 rusage, and
deletes everything afterwards. Results go to benchmarks/results/latest.md.

Run: python -m benchmarks.run [--quick] [--workdir DIR] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import datasets, rclone
from .ceiling import fetch_instructions, prepare, run_ceiling, write_config, write_put_config
from .harness import COMPANY_ID, PROJECT_ID, Emulator, Row, run_measured, startup_cpu

RESULTS = Path(__file__).parent / "results" / "latest.md"
SPIKE_LIMIT, SPIKE_WINDOW = 50, 10.0
HOURLY_LIMIT, HOURLY_WINDOW = 300, 60.0  # Procore's hourly limit, its window shrunk to a minute
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
        self,
        source: Path,
        concurrency: int,
        *,
        attach: bool = False,
        label: str = "",
        flags: tuple[str, ...] = (),
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
                *flags,
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
        extra = ["--limit", str(limit)] if limit else []
        note = f"first {limit} files" if limit else ""
        return self._script("naive (sequential urllib)", "naive", source, extra, note)

    def bare(self, source: Path, concurrency: int, label: str) -> Row:
        client = f"bare aiohttp -j{concurrency}, {label}"
        note = "Create + POST + MD5 only: no state, manifest, retries or checks"
        return self._script(client, "bare", source, ["--concurrency", str(concurrency)], note)

    def _script(self, client: str, module: str, source: Path, extra: list[str], note: str) -> Row:
        """A reference client in benchmarks/ (`python -m benchmarks.MODULE SOURCE ...`) that
        writes a report like bulkupload's."""

        def run(scratch: Path) -> tuple[Row, str]:
            command = [
                sys.executable,
                "-m",
                f"benchmarks.{module}",
                str(source),
                "--base-url",
                self.emulator.base_url,
                "--project",
                str(PROJECT_ID),
                "--report",
                str(scratch / "report.json"),
                *extra,
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
                note=note,
                startup_cpu_s=STARTUP_CPU.get(module, 0.0),
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

    def curl_s3(self, files: list[Path], bucket: rclone.Bucket, label: str, method: str) -> Row:
        """One curl, 32 transfers at once, straight to SeaweedFS: the v1 storage POSTs
        (instructions fetched beforehand, untimed) or PUTs of the same files (`method`). No
        MD5, no state: what any client storing that way could reach here."""
        client = f"curl --parallel 32, S3 {method}s, {label}"

        def run(scratch: Path) -> tuple[Row, str]:
            config = scratch / "curl.cfg"
            if method == "POST":
                instructions = fetch_instructions(self.emulator, files, PROJECT_ID, COMPANY_ID)
                write_config(instructions, config)
                keys = {str(i["fields"]["key"]) for _, i in instructions}
            else:
                prefix = f"curl-put-{scratch.name}"
                url = f"{bucket.endpoint}/{bucket.name}"
                write_put_config(files, url, prefix, bucket.keys, config)
            emulator_cpu = self.emulator.cpu_seconds()
            measured = run_ceiling(config, 32, scratch / "curl.log")
            if method == "POST":
                done, nbytes = rclone.stored_where(self.emulator, keys.__contains__)
            else:
                done, nbytes = rclone.stored(self.emulator, prefix)
            row = Row(client, done, nbytes, measured, api_calls=0, rate_limited=0)
            row.note = "storage requests only, no MD5 or state" + (
                "; Create Upload done beforehand, untimed" if method == "POST" else ""
            )
            row.extra["emulator_cpu_start"] = emulator_cpu
            return row, "curl.log"

        return self._counted(client, run)

    def rclone(self, source: Path, transfers: int, bucket: rclone.Bucket, label: str) -> Row:
        client = f"rclone copy --transfers {transfers}, {label}"

        def run(scratch: Path) -> tuple[Row, str]:
            prefix = f"rclone-{scratch.name}"
            measured = rclone.copy(source, bucket, prefix, transfers, scratch)
            files, nbytes = rclone.stored(self.emulator, prefix)
            row = Row(client, files, nbytes, measured, api_calls=0, rate_limited=0)
            row.note = "S3 PUTs straight to SeaweedFS, no API call"
            return row, "rclone.log"

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
    hourly_files: int = 400  # 2 API calls a file: past two 300-call windows
    side_by_side: tuple[tuple[int, int], ...] = (
        (2000, 64 * datasets.KIB),
        (200, 4 * datasets.MIB),
        (2, datasets.GIB),
    )
    side_by_side_runs: int = 3  # each client this many times per data set; the median is shown
    # Beside rclone, curl's POSTs and PUTs of the same files (up to BARE_MAX): what each of
    # S3's two ways costs this store with a client that does nothing else.
    s3_ceilings: bool = True
    # Each side-by-side run on a SeaweedFS of its own (3.7 s to start and stop); else one per
    # data set (quick mode: under two minutes).
    fresh_store_per_run: bool = True
    rss_big: int = 4 * datasets.GIB
    rss_many: int = 200_000


FULL = Sizes()
QUICK = Sizes(
    small=300,
    medium=20,
    large=(1, 192 * datasets.MIB),
    latency_files=600,
    latency_naive=40,
    latency_concurrency=(32,),
    bandwidth=(3, 100_000_000),
    rate_files=30,
    hourly_files=40,
    side_by_side=((200, 64 * datasets.KIB), (16, 4 * datasets.MIB)),  # 1 GiB: full mode only
    side_by_side_runs=1,
    fresh_store_per_run=False,
    s3_ceilings=False,
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
        if kind == "small":  # the default job, which attaches every file
            for concurrency in (8, 32):
                scenario.rows.append(bench.bulkupload(work / "data", concurrency, attach=True))
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
        scenario.rows.append(bench.bulkupload(work / "data", 32, attach=True))
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
    """Target 3a: 50 requests per 10 s spike window, attaching."""
    title = f"spike limit {SPIKE_LIMIT} requests / {SPIKE_WINDOW:.0f} s"
    flags = ("--spike-limit", str(SPIKE_LIMIT), "--spike-window", str(SPIKE_WINDOW))
    return paced(work, "rate", sizes.rate_files, title, flags)


def hourly_limit(work: Path, sizes: Sizes) -> Scenario:
    """Target 3b: the hourly limit in a window shrunk to a minute, no spike limit, attaching."""
    title = (
        f"hourly limit {HOURLY_LIMIT} requests in a window shrunk to {HOURLY_WINDOW:.0f} s, "
        "no spike limit"
    )
    flags = ("--hourly-limit", str(HOURLY_LIMIT), "--hourly-window", str(HOURLY_WINDOW))
    scenario = paced(work, "hourly", sizes.hourly_files, title, flags)
    windows = 2 * sizes.hourly_files / HOURLY_LIMIT
    scenario.notes.append(
        f"About {windows:.1f} windows' worth of calls (2 a file, plus folders): "
        + (
            "the run crosses window boundaries, so the pacer's work at each reset counts."
            if windows > 1
            else "a quick run stays inside the first window (a full run crosses two)."
        )
    )
    return scenario


def paced(work: Path, name: str, count: int, limit: str, flags: tuple[str, ...]) -> Scenario:
    """`count` x 64 KiB attached at -j8 against an emulator that enforces a rate limit."""
    datasets.small_files(work / "data", count, 64 * datasets.KIB)
    scenario = Scenario(name, f"{count:,} x 64 KiB attached, {limit}", notes=[RATE_NOTE])
    with Emulator(work, *flags) as emulator:
        scenario.rows.append(Bench(emulator, work).bulkupload(work / "data", 8, attach=True))
    return scenario


RATE_NOTE = (
    "Achieved rate = API calls the emulator accepted during the run (its counter, 429s "
    "excluded) / the run's wall time as the client reports it (from its start to its last "
    "result, without interpreter start-up); target = achieved / (limit / window). The "
    "emulator's windows are fixed, each opened by the first call after the previous one "
    "ended, so a client that spent each window's budget at once could exceed limit / window "
    "over a run that ends early in a window; the pacer spreads each budget over its window, "
    "and a run of several windows keeps the ratio honest."
)


BARE_MAX = 16 * datasets.MIB  # the bare client holds each body whole in memory
V21 = ("--api-version", "2.1")


def side_by_side(work: Path, sizes: Sizes) -> Scenario:
    """rclone copy vs bulkupload -j32 (with and without attaching, v1 and v2.1) and the bare
    aiohttp client on the same SeaweedFS S3."""
    scenario = Scenario(
        "rclone", "rclone side by side: the same SeaweedFS S3, --transfers 32 vs -j32"
    )
    why_not = rclone.missing()
    if why_not:
        scenario.notes.append(f"Skipped: {why_not}; no figures are shown rather than guesses.")
        return scenario
    for count, size in sizes.side_by_side:
        data, label = work / "data", size_label(size)
        # Real bytes, even for the big files: SeaweedFS's PUT skips zeros that its POST stores.
        make = datasets.filled_files if size >= 256 * datasets.MIB else datasets.small_files
        files = make(data, count, size)
        clients = side_by_side_clients(data, label, size)  # +attach first, once
        if sizes.s3_ceilings and size <= BARE_MAX:
            clients[-1:-1] = s3_ceilings(files, label)  # before rclone, which is shown first
        # SeaweedFS's bytes in RAM (/dev/shm) when they fit in 3 GiB: a fresh store holds one
        # copy of the data set and the warm-up file (the 1 GiB set: 3 GiB, in RAM since
        # 2026-12-05 12:51, on disk before); a shared one keeps every run's copy until it
        # vacuums (up to 13), so there the budget is for three copies.
        copies = count + 1 if sizes.fresh_store_per_run else 3 * count
        in_memory = copies * size <= 3 * datasets.GIB
        if sizes.fresh_store_per_run:
            runs = [fresh_store(work, files, in_memory, client) for client in clients]
            rows = [runs[0](), *median_runs(runs[1:], sizes.side_by_side_runs)]
        else:
            with Emulator(work, "--storage", "seaweedfs", in_memory=in_memory) as emulator:
                bench, bucket = Bench(emulator, work), rclone.warm_bucket(emulator, files[0])
                runs = [warmed(files, functools.partial(c, bench, bucket)) for c in clients]
                rows = [runs[0](), *median_runs(runs[1:], sizes.side_by_side_runs)]
        scenario.rows += reversed(rows)  # shown rclone first
        shutil.rmtree(data)
    scenario.notes += [
        f"Data sets: {', '.join(f'{c:,} x {size_label(s)}' for c, s in sizes.side_by_side)} "
        "(random bytes, every file and MiB different, none sparse: SeaweedFS's S3 PUT path "
        "skips writing zeros, 0.03 GB written for rclone's 2 GiB of holes against 4.3 GB for "
        "as many random bytes, while its POST path writes them: on sparse 1 GiB files bulkupload "
        "reached 0.90 of rclone's rate, 2026-12-05); SeaweedFS keeps the bytes in RAM, or on disk "
        "past 3 GiB. 'emulator CPU' includes SeaweedFS, the emulator's child "
        "process; rclone's rows count the objects under its prefix in the bucket. +attach ran "
        "first, once; then bulkupload without attaching, bulkupload --api-version 2.1 "
        "(--no-attach: its parts are PUT to SeaweedFS by its own presigned UploadPart URLs, in "
        "a multipart upload the emulator starts at Create and completes at the PATCH: S3's "
        "CreateMultipartUpload and CompleteMultipartUpload on the same cores; until "
        "2026-12-05 they went to the emulator's own storage, not like for like), the bare "
        "aiohttp client "
        "(benchmarks/bare.py: Create Upload, MD5 and the POST per file and nothing else, on "
        "uvloop: what a Python client making Procore's two requests cannot go below; files up "
        f"to {size_label(BARE_MAX)}) and rclone, {runs_text(sizes.side_by_side_runs)}, "
        f"{STORES[sizes.fresh_store_per_run]} "
        "(one file stored beforehand, untimed: a new SeaweedFS is slow over its first "
        "writes; until 2026-12-05 every run of a data set shared one store, so later runs met "
        "a fuller bucket: our uploads share the emulator's flat uploads/ folder, rclone's go to "
        "a new prefix each run). Every run starts with the data set in the page cache (read "
        "through beforehand, untimed): rclone drops the pages of what it uploaded (fadvise "
        "DONTNEED), so until 2026-12-05 the client timed after it read from disk and the "
        "others from memory. files/s "
        "counts each process from its start, so bulkupload's interpreter start-up (a few "
        "hundred ms) weighs on a quick run's small data sets; the full run's are the figures.",
        "curl --parallel 32 (full mode, files up to "
        f"{size_label(BARE_MAX)}): one curl process sends the same files straight to "
        "SeaweedFS, as the v1 storage POSTs (instructions fetched beforehand, untimed) and as "
        "S3 PUTs (signed by curl's --aws-sigv4), nothing else (no MD5, no state): what any "
        "client storing each way could reach on this machine and store. The two differ by "
        "the store's cost of each way, not by the client.",
        "+attach rows here are a floor, not the client's speed: with SeaweedFS the emulator "
        "asks it for the upload's object (a HEAD) before each attach, and Procore's side of "
        "both API calls (the emulator, 0.5-0.7 ms of CPU a file on the machine measured "
        "first) and that HEAD share the machine's cores with the client and the store; "
        "rclone's rows make no API call. Until 16:00 UTC on 2026-12-05 the emulator listed "
        "the whole bucket before every API call but Create Upload (0.42-0.44x rclone at "
        "64 KiB). Compare attaching on the emulator's own storage in the first table.",
    ]
    return scenario


Client = Callable[[Bench, rclone.Bucket], Row]
STORES = {
    True: "each run on a SeaweedFS of its own, started empty",
    False: "one SeaweedFS per data set",
}


def side_by_side_clients(data: Path, label: str, size: int) -> list[Client]:
    """bulkupload attaching (run once, first), then bulkupload, v2.1, the bare client (up to
    `BARE_MAX`) and rclone, each on `data`."""

    def ours(title: str, **kw: Any) -> Client:
        return lambda bench, _: bench.bulkupload(data, 32, label=f"{title}, {label}", **kw)

    clients = [
        ours("bulkupload -j32 +attach", attach=True),
        ours("bulkupload -j32"),
        # v2.1 stores by SeaweedFS's own presigned UploadPart PUTs (an S3 multipart upload
        # the emulator starts and completes): S3's other way, rclone's, beside v1's POSTs.
        ours("bulkupload -j32 --api-version 2.1", flags=V21),
    ]
    if size <= BARE_MAX:
        clients.append(lambda bench, _: bench.bare(data, 32, label))
    clients.append(lambda bench, bucket: bench.rclone(data, 32, bucket, label))
    return clients


def s3_ceilings(files: list[Path], label: str) -> list[Client]:
    """curl sending the v1 storage POSTs of `files`, and curl PUTting the same files."""
    return [
        lambda bench, bucket: bench.curl_s3(files, bucket, label, "POST"),
        lambda bench, bucket: bench.curl_s3(files, bucket, label, "PUT"),
    ]


def fresh_store(
    work: Path, files: list[Path], in_memory: bool, client: Client
) -> Callable[[], Row]:
    """`client` timed on an emulator with a SeaweedFS of its own, started empty (one file
    stored beforehand, untimed: a new SeaweedFS is slow over its first writes), with `files`
    in the page cache (`warmed`)."""

    def run() -> Row:
        with Emulator(work, "--storage", "seaweedfs", in_memory=in_memory) as emulator:
            bench, bucket = Bench(emulator, work), rclone.warm_bucket(emulator, files[0])
            return warmed(files, functools.partial(client, bench, bucket))()

    return run


def warmed(files: list[Path], run: Callable[[], Row]) -> Callable[[], Row]:
    """`run`, timed with `files` in the page cache whoever ran before it (`datasets.warm`)."""

    def warm_then_run() -> Row:
        datasets.warm(files)
        return run()

    return warm_then_run


def runs_text(times: int) -> str:
    if times == 1:
        return "once each"
    return f"{times} times each in rotated order (the median run is shown)"


def median_runs(runs: Sequence[Callable[[], Row]], times: int) -> list[Row]:
    """Each of `runs` `times` times, the order rotated each round (no client always runs first
    on a colder store, or last on a fuller one); per client, the run of median files/s, its
    note listing every run's."""
    done: list[list[Row]] = [[] for _ in runs]
    for round_ in range(times):
        for i in range(len(runs)):
            k = (i + round_) % len(runs)
            done[k].append(runs[k]())
    chosen: list[Row] = []
    for rows in done:
        median = sorted(rows, key=lambda r: r.files_per_s)[len(rows) // 2]
        notes = [median.note]
        if len(rows) > 1:
            rates = ", ".join(f"{r.files_per_s:,.3g}" for r in rows)
            notes.append(f"median of {rates} files/s")
        failed = [r.measured.returncode for r in rows if r.measured.returncode != 0]
        if failed and median.measured.returncode == 0:  # a failed median says so itself
            codes = ", ".join(str(c) for c in failed)
            notes.append(f"**{len(failed)} of {len(rows)} runs failed** (exit {codes})")
        median.note = "; ".join(filter(None, notes))
        chosen.append(median)
    return chosen


def size_label(size: int) -> str:
    for unit, name in ((datasets.GIB, "GiB"), (datasets.MIB, "MiB"), (datasets.KIB, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} B"


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
    spike = get("rate", "bulkupload -j8 +attach")
    if spike and spike.run_duration_s:
        name = "3a. spike limit, attaching: API req/s / (limit / window), zero 429s"
        found.append(rate_target(name, spike, SPIKE_LIMIT, SPIKE_WINDOW))
    hourly = get("hourly", "bulkupload -j8 +attach")
    if hourly and hourly.run_duration_s:
        name = "3b. hourly limit (60 s window), attaching: API req/s / (limit / window), zero 429s"
        found.append(rate_target(name, hourly, HOURLY_LIMIT, HOURLY_WINDOW))
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
    found += attaching_targets(get)
    large, curl = get("large", "bulkupload -j8"), get("large", "ceiling: curl --parallel 8")
    if large and curl:
        detail = f"{large.mb_per_s:.0f} vs {curl.mb_per_s:.0f} MB/s"
        ratio = large.mb_per_s / max(curl.mb_per_s, 1e-9)
        found.append(Target("4b. large files: bulkupload -j8 / curl MB/s", ratio, 0.5, detail))
    if "rclone" in scenarios:
        found += rclone_targets(scenarios["rclone"])
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
    return sorted(found, key=lambda t: t.name.split(".")[0])  # by number; stable within one


def rate_target(name: str, row: Row, limit: int, window: float) -> Target:
    """Achieved API rate over the run against limit / window (see RATE_NOTE)."""
    accepted = row.api_calls - row.rate_limited
    duration = row.run_duration_s or row.measured.wall_s
    rate, allowed = accepted / duration, limit / window
    detail = (
        f"{rate:.2f} vs {allowed:.2f} req/s ({accepted} calls accepted in {duration:.1f} s; "
        f"{row.api_calls / row.measured.wall_s:.2f} req/s over the whole process), "
        f"{row.rate_limited} x 429"
    )
    return Target(name, rate / allowed, 0.95, detail, extra_ok=row.rate_limited == 0)


def attaching_targets(get: Callable[[str, str], Row | None]) -> list[Target]:
    """The default job (attaching) as the headline: -j8 against -j32, CPU, latency."""
    found: list[Target] = []
    j8, j32 = get("small", "bulkupload -j8 +attach"), get("small", "bulkupload -j32 +attach")
    if j8 and j32:
        detail = f"{j32.files_per_s:.1f} vs {j8.files_per_s:.1f} files/s"
        ratio = j32.files_per_s / max(j8.files_per_s, 1e-9)
        found.append(Target("6a. attaching: -j32 / -j8 files/s, no latency", ratio, 1.0, detail))
    if j8:
        detail = (
            f"{j8.net_cpu_ms_per_file:.3f} ms/file net of start-up; "
            f"{j8.cpu_ms_per_file:.3f} ms/file for the whole process"
        )
        name = "6b. CPU attaching: client ms per 64 KiB file (-j8, net of start-up)"
        found.append(Target(name, j8.net_cpu_ms_per_file, 2.0, detail, higher_is_better=False))
    bare, attached = get("latency", "bulkupload -j32"), get("latency", "bulkupload -j32 +attach")
    if bare and attached:
        detail = f"{attached.files_per_s:.1f} vs {bare.files_per_s:.1f} files/s"
        ratio = attached.files_per_s / max(bare.files_per_s, 1e-9)
        name = "7. latency, -j32: attaching / no-attach files/s"
        found.append(Target(name, ratio, 0.9, detail))
    return found


def rclone_targets(scenario: Scenario) -> list[Target]:
    """bulkupload -j32 (storing only: one API call a file more than rclone) against rclone
    --transfers 32 on the same SeaweedFS, per file size; attaching, v2.1 and the bare aiohttp
    client shown beside it."""
    found: list[Target] = []
    for theirs in (r for r in scenario.rows if r.client.startswith("rclone")):
        label = theirs.client.rsplit(", ", 1)[1]
        ours = scenario.row(f"bulkupload -j32, {label}")
        attached = scenario.row(f"bulkupload -j32 +attach, {label}")
        if ours is None:
            continue
        ratio = ours.files_per_s / max(theirs.files_per_s, 1e-9)
        detail = f"{ours.files_per_s:.3g} vs {theirs.files_per_s:.3g} files/s"
        if attached:
            share = attached.files_per_s / max(theirs.files_per_s, 1e-9)
            detail += f"; attaching {attached.files_per_s:.3g} files/s ({share:.2f}x rclone)"
        v21 = scenario.row(f"bulkupload -j32 --api-version 2.1, {label}")
        if v21:
            share = v21.files_per_s / max(theirs.files_per_s, 1e-9)
            detail += f"; v2.1 {v21.files_per_s:.3g} files/s ({share:.2f}x, PUTs to SeaweedFS)"
        bare = scenario.row(f"bare aiohttp -j32, {label}")
        if bare:
            share = bare.files_per_s / max(theirs.files_per_s, 1e-9)
            detail += f"; bare aiohttp client {bare.files_per_s:.3g} files/s ({share:.2f}x)"
        for method in ("POST", "PUT"):
            curl = scenario.row(f"curl --parallel 32, S3 {method}s, {label}")
            if curl:
                share = curl.files_per_s / max(theirs.files_per_s, 1e-9)
                detail += f"; curl's {method}s {curl.files_per_s:.3g} files/s ({share:.2f}x)"
        threshold = 0.85 if label == "64 KiB" else 1.0
        name = f"8. vs rclone, {label}: bulkupload -j32 / rclone --transfers 32 files/s"
        found.append(Target(name, ratio, threshold, detail))
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
        "as naive) unless the row says +attach: the default job, which also attaches each file "
        "to Documents (POST /files), and the headline. files/s and MB/s use the client's wall "
        "time.",
        "- API calls and 429s are the emulator's counters (`/_emulator/counters`) per client run; "
        "'emulator CPU' is the emulator process's CPU (with SeaweedFS, its child, where used) "
        "over the client's wall time (100% = one core: the emulator, not the client, was the "
        "limit). Client and emulator share the machine's cores.",
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
        lines += ["", f"## {scenario.title}"]
        if not scenario.rows:
            lines += [f"\n{note}" for note in scenario.notes]
            continue
        lines += [
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
    "hourly": hourly_limit,
    "rclone": side_by_side,
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
    STARTUP_CPU["bare"] = startup_cpu("benchmarks.bare")
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
