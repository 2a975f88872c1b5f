"""The live line and the plain status lines, as a person sees them (newcomer audit F2, W4, F3,
F18, F1): drawn by rich on a recording console at 80 and 120 columns, driven by the run's events
and a fake clock, so no test waits for real time except the plain timer's (a fraction of a
second)."""

from __future__ import annotations

import io
import re
import threading

import pytest
from rich.console import Console

from bulkupload.events import (
    ApiPaced,
    BytesMoved,
    FileDone,
    FilesFound,
    Retried,
    SendPlanned,
    WalkEnded,
)
from bulkupload.human import human_bytes
from bulkupload.models import Disposition, FileResult, Status
from bulkupload.progress import WINDOW, Progress, Throughput
from bulkupload.stats import Tally

MiB = 1 << 20


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def uploaded(rel: str, size: int) -> FileDone:
    return FileDone(FileResult(rel, size, 0, Status.UPLOADED, Disposition.DONE, attempts=1))


def failed(rel: str, size: int, error: str) -> FileDone:
    return FileDone(FileResult(rel, size, 0, Status.FAILED, Disposition.FAILED, error=error))


def skipped(rel: str, size: int) -> FileDone:
    result = FileResult(rel, size, 0, Status.SKIPPED, Disposition.KEEP, error="unchanged")
    return FileDone(result)


def nightly_run(clock: Clock) -> tuple[Tally, list[object]]:
    """401 files found, 391 unchanged (skipped), 10 to send of 40 MiB; a window of sending."""
    tally = Tally(started=clock.now)
    events: list[object] = [
        FilesFound(401, 391 * 100 * MiB + 10 * 4 * MiB),
        SendPlanned(10, 40 * MiB),
        WalkEnded(complete=True),
        *(skipped(f"old/{n}.pdf", 100 * MiB) for n in range(391)),
        uploaded("new/0.pdf", 4 * MiB),
        failed("new/1.pdf", 4 * MiB, "new/1.pdf: Permission denied"),
        Retried("storage", "new/2.pdf: storage 503", 1.5),
        Retried("api", "POST /rest/v1.1/projects/{id}/uploads: 503", 0.5),
        Retried("api", "POST /rest/v1.1/projects/{id}/uploads: 503", 1.0),
    ]
    for event in events:
        tally.on_event(event)  # type: ignore[arg-type]
    return tally, events


def drawn(progress: Progress, console: Console) -> str:
    """The last frame rich drew of the live line."""
    progress.refresh()
    frames = console.file.getvalue().split("\r\x1b[2K")  # type: ignore[attr-defined]
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", frames[-1]).strip("\n")


def live(tally: Tally, clock: Clock, width: int, **kw: object) -> tuple[Progress, Console]:
    console = Console(file=io.StringIO(), width=width, force_terminal=True, record=True)
    progress = Progress(tally, mode="tty", console=console, clock=clock, **kw)  # type: ignore[arg-type]
    return progress, console


def move(progress: Progress, tally: Tally, clock: Clock, seconds: float, rate: int) -> None:
    """Bytes on the wire at `rate` for `seconds`, sampled as rich's refresh would."""
    for _ in range(int(seconds * 4)):
        clock.now += 0.25
        tally.on_event(BytesMoved(rate // 4))
        progress.snapshot()


def test_the_eta_follows_the_files_when_the_api_sets_the_pace() -> None:
    # The big files went first (10 MiB each, one a second: the rate limit's pace, two calls a
    # file); 992 files of 1 KiB are left. The bytes alone would say under a second; the files,
    # still going one a second, say 16 and a half minutes.
    clock = Clock()
    tally = Tally(started=clock.now)
    total = 8 * 10 * MiB + 992 * 1024
    for event in (FilesFound(1000, total), SendPlanned(1000, total), WalkEnded(complete=True)):
        tally.on_event(event)
    progress, console = live(tally, clock, 120, concurrency=8)
    with progress:
        for n in range(4 * int(WINDOW + 3)):  # 8 s: the 8 big files done
            clock.now += 0.25
            if n % 4 == 3:
                tally.on_event(uploaded(f"big/{n}.dwg", 10 * MiB))
            progress.snapshot()
        line = drawn(progress, console)
        snapshot = progress.snapshot()
    assert snapshot.files_left == 992 and snapshot.file_rate == pytest.approx(1.0, rel=0.1)
    assert snapshot.total_bytes - snapshot.done_bytes == 992 * 1024
    assert snapshot.eta == pytest.approx(992, rel=0.1), snapshot
    assert re.search(r"ETA 1[56]m\d\ds", line), line


@pytest.mark.parametrize("width", [80, 120])
def test_the_live_line_has_every_field_and_fits(width: int) -> None:
    clock = Clock()
    tally, _ = nightly_run(clock)
    progress, console = live(tally, clock, width, concurrency=8)
    with progress:
        move(progress, tally, clock, WINDOW + 1, 2 * MiB)  # 12 MiB sent of the 8 in flight
        line = drawn(progress, console)
    assert len(line) < width and "…" not in line, line
    # Bytes done of those to send (the 391 unchanged files never count, nor the failed file's),
    # and percent: 4 MiB uploaded + 12 MiB on the wire, of 40 - 4 MiB.
    assert re.search(r"\b16(\.0)?(/| MiB of )36(\.0)? MiB\b", line), line
    assert "44%" in line, line
    assert "2.0 MiB/s" in line  # the window's rate
    # ETA from the 20 MiB left to send at 2 MiB/s: 10 s, not the whole tree's 39 GiB.
    assert re.search(r"ETA (0m)?10s", line), line
    assert "393/401 files" in line and ("1 failed" in line or "fail 1" in line), line
    assert "8 in flight" in line
    if width >= 120:
        assert "3 retries" in line and re.search(r"elapsed|\d+s elapsed", line), line
    assert console.file.getvalue().count("\n") <= 2  # one line redrawn, never a new one


def test_the_early_rate_is_not_inflated_by_a_first_burst() -> None:
    """The socket buffers take the first megabytes at once: no rate is shown until a whole
    window has passed, and then it is the window's, not the burst's."""
    clock = Clock()
    throughput = Throughput()
    throughput.add(clock.now, 0)
    clock.now += 0.3
    throughput.add(clock.now, 20 * MiB)  # the burst
    for _ in range(8):
        clock.now += 0.25
        throughput.add(clock.now, 20 * MiB + int((clock.now - 1000.3) * 2 * MiB))
    assert throughput.rate(clock.now) is None  # 2.3 s in: not a whole window yet
    for _ in range(40):
        clock.now += 0.25
        throughput.add(clock.now, 20 * MiB + int((clock.now - 1000.3) * 2 * MiB))
    rate = throughput.rate(clock.now)
    assert rate is not None and rate == pytest.approx(2 * MiB, rel=0.05)


def test_waiting_for_the_api_limit_is_shown() -> None:
    clock = Clock()
    tally, _ = nightly_run(clock)
    for width, text in ((120, "waiting for the API limit (4s)"), (80, "API wait 4s")):
        progress, console = live(tally, clock, width)
        with progress:
            tally.paced(3.5, clock.now)
            line = drawn(progress, console)
            assert text in line and len(line) < width, line
            tally.paced(0.0, clock.now + 3.5)
            assert "API" not in drawn(progress, console)
    assert tally.api_wait_s == pytest.approx(7.0)  # two holds of 3.5 s


def test_the_pacer_tells_when_it_holds_calls() -> None:
    """ApiPaced comes from the pacer itself: a hold of at least HOLD_NOTICE, then 0."""
    import asyncio

    from bulkupload.procore.ratelimit import RateLimitPacer

    clock = Clock()

    async def sleep(seconds: float) -> None:
        clock.now += seconds

    pacer = RateLimitPacer(clock=clock, sleep=sleep)
    told: list[float] = []
    pacer.on_hold = told.append
    pacer.update(
        {"X-Rate-Limit-Limit": "10", "X-Rate-Limit-Remaining": "1", "X-Rate-Limit-Reset": "1004"},
        clock.now,
    )
    asyncio.run(pacer.acquire())
    assert told[0] > 3 and told[-1] == 0.0 and len(told) == 2
    events = [ApiPaced(w) for w in told]
    tally = Tally()
    for event in events:
        tally.on_event(event)
    assert tally.api_held_until is None


def test_after_a_first_ctrl_c_the_line_says_what_is_finishing() -> None:
    clock = Clock()
    tally, _ = nightly_run(clock)
    stop = threading.Event()
    for width in (80, 120):
        progress, console = live(tally, clock, width, concurrency=3, stopping=stop.is_set)
        with progress:
            move(progress, tally, clock, WINDOW + 1, MiB)
            assert "ETA" in drawn(progress, console)
            stop.set()
            line = drawn(progress, console)
        assert re.search(r"stopping: 3( in flight)?", line) and "ETA" not in line, line
        stop.clear()


def test_a_narrow_terminal_gets_the_most_useful_fields_whole() -> None:
    clock = Clock()
    tally, _ = nightly_run(clock)
    progress, console = live(tally, clock, 40)
    with progress:
        move(progress, tally, clock, WINDOW + 1, MiB)
        line = drawn(progress, console)
    assert len(line) < 40 and "…" not in line and "%" in line and "ETA" in line, line


def test_plain_output_is_a_timestamped_line_on_a_timer_and_per_failure() -> None:
    """No file completes while the lines come: the timer, not a finished file, prints them."""
    tally = Tally()
    tally.on_event(FilesFound(1, 200 * MiB))
    tally.on_event(SendPlanned(1, 200 * MiB))
    tally.on_event(WalkEnded(complete=True))
    out = io.StringIO()
    progress = Progress(tally, mode="plain", stream=out, interval=0.05)
    ticks = threading.Event()
    with progress:
        for _ in range(200):  # until three lines came (each 50 ms), at most 2 s
            tally.on_event(BytesMoved(MiB))
            if out.getvalue().count("files") >= 3 or ticks.wait(0.01):
                break
        progress.on_event(failed("a\nb.txt", 5, "a\nb.txt: Permission denied"))
    lines = out.getvalue().splitlines()
    stamp = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
    status = [line for line in lines if "files" in line]
    assert len(status) >= 3 and all(re.match(stamp, line) for line in status), lines
    assert all("0/1 files" in line and "200.0 MiB" in line for line in status)
    [failure] = [line for line in lines if "failed:" in line]
    # One line, the name's newline escaped, the path not said twice.
    assert re.match(stamp + r"failed: a\\nb\.txt: Permission denied$", failure), failure


def test_sizes_are_binary_as_the_flags_parse_them() -> None:
    """F9: what is printed can be typed back (`--part-size 64MiB` is 64 × 2^20 bytes)."""
    assert human_bytes(64 * MiB) == "64.0 MiB"
    assert human_bytes(392 * MiB + 100) == "392.0 MiB"
    assert human_bytes(3 << 30) == "3.0 GiB" and human_bytes(512) == "512 B"
