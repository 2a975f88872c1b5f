"""What a person sees while a run goes: a live line on a terminal, timestamped lines elsewhere.

A subscriber of the run's events, reading the `Tally` that counts them. The line says the bytes
sent of those to send (skipped files never count), the rate over the last `WINDOW` seconds (the
first seconds' bytes handed to socket buffers do not inflate it), the ETA from the bytes left
at that rate, elapsed time, files in flight, retries, a wait for Procore's rate limit, and after
a first Ctrl-C that in-flight files are finishing. It fits the terminal's width: shorter forms
first, then the least useful fields go. Without a terminal (cron), a timestamped status line
comes every `interval` seconds from a timer (also while one big file is in flight), and each
failure is a timestamped line of its own.
"""

from __future__ import annotations

import collections
import math
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from .events import Event, FileDone, Notice
from .human import count, human_bytes, human_duration, reason_text, shown
from .logs import on_event_loop
from .models import Status
from .stats import Tally

if TYPE_CHECKING:  # rich is imported only for a terminal's live line (start-up time)
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

__all__ = ["WINDOW", "Progress", "Snapshot", "status_line"]

# Seconds of history behind the rate: long enough that the socket buffers' first fill has left
# it, short enough to follow a change of pace.
WINDOW = 5.0
SEPARATOR = " | "


class Throughput:
    """Units (bytes, files) per second over the last `WINDOW` seconds, from samples of a count."""

    def __init__(self, window: float = WINDOW) -> None:
        self.window = window
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        # One line at a time from the timer and the event loop. Held for one write only (the
        # loop would wait for that write anyway); an RLock, as rich's console uses.
        self._lock = threading.RLock()

    def add(self, now: float, done: int) -> None:
        with self._lock:
            samples = self._samples
            if samples and now - samples[-1][0] < 0.2:
                return  # a few samples a second are plenty
            samples.append((now, done))
            while len(samples) > 2 and now - samples[1][0] >= self.window:
                samples.popleft()

    def rate(self, now: float) -> float | None:
        """None until a whole window of samples exists."""
        with self._lock:
            if not self._samples:
                return None
            first_t, first_done = self._samples[0]
            last_t, last_done = self._samples[-1]
        if now - first_t < self.window or last_t <= first_t:
            return None
        return max(last_done - first_done, 0) / (last_t - first_t)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the status line shows, at one moment."""

    done_bytes: int
    total_bytes: int
    files_done: int
    files_found: int
    walking: bool
    uploaded: int
    skipped: int
    failed: int
    elapsed: float
    rate: float | None
    in_flight: int
    retries: int
    api_wait: float | None  # seconds until a held API call goes
    stopping: bool
    files_left: int = 0  # planned to send, no outcome yet
    file_rate: float | None = None  # of those, finished per second over the window

    @property
    def eta(self) -> float | None:
        """The later of the bytes left at the byte rate and the files left at the file rate:
        when Procore's rate limit (two calls a file), not bandwidth, sets the pace, the
        files' rate says so."""
        if self.walking or self.stopping or not self.rate:
            return None
        eta = max(self.total_bytes - self.done_bytes, 0) / self.rate
        if self.file_rate and self.files_left:
            eta = max(eta, self.files_left / self.file_rate)
        return eta


@dataclass(frozen=True, slots=True)
class Field:
    """A field of the line; when the line is too wide, the steps with the highest numbers come
    first: `shorten` (to the short form) and `drop` (None: never)."""

    long: str
    short: str
    shorten: float | None
    drop: float | None


def _bytes_done(s: Snapshot) -> Field:
    plus = "+" if s.walking else ""
    pct = f"{100 * s.done_bytes / s.total_bytes:.0f}%" if s.total_bytes else "0%"
    done, total = human_bytes(s.done_bytes), human_bytes(s.total_bytes)
    long = f"{done} of {total}{plus} ({pct})"
    (done_n, done_unit), (total_n, total_unit) = done.split(" "), total.split(" ")
    if done_unit == total_unit:  # one unit for both, three digits: 128/390 MiB
        short = f"{_digits(done_n)}/{_digits(total_n)} {total_unit}{plus} {pct}"
    else:
        short = f"{_digits(done_n)} {done_unit}/{_digits(total_n)} {total_unit}{plus} {pct}"
    return Field(long, short, 4.9, None)


def _digits(number: str) -> str:
    """`128.0` → `128`, `24.2` → `24.2`: three significant digits are enough on a short line."""
    value = float(number)
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}".rstrip("0").rstrip(".")


def _fields(s: Snapshot) -> list[Field]:
    """Each field's forms, and in which order they shorten or go when the line is too wide:
    first the summary counts' and elapsed time's long forms, then elapsed time and retries,
    then the bytes' and ETA's long forms, then files in flight, failures, files and rate; a
    wait for the API limit is said in full as long as anything else can give way."""
    fields = [_bytes_done(s)]
    if s.stopping:
        stopping = f"stopping: {s.in_flight}"
        fields.append(Field(f"{stopping} in flight", stopping, 1, None))
    elif s.walking:
        fields.append(Field("walking…", "walking…", None, 2.2))
    elif s.eta is not None:
        fields.append(
            Field(f"ETA {human_duration(s.eta)}", f"ETA {short_duration(s.eta)}", 4, None)
        )
    if s.api_wait is not None:
        wait = short_duration(math.ceil(s.api_wait))  # "0s" would read as no wait
        fields.append(Field(f"waiting for the API limit ({wait})", f"API wait {wait}", 3.7, 0.5))
    rate = "-- B/s" if s.rate is None else f"{human_bytes(s.rate)}/s"
    fields.append(Field(rate, rate, None, 2))
    files = f"{s.files_done}/{s.files_found}" + ("+" if s.walking else "")
    fields.append(Field(f"{files} files", f"{files} files", None, 2.5))
    counts = f"up {s.uploaded} skip {s.skipped} fail {s.failed}"
    failed = f"{s.failed} failed" if s.failed else ""
    fields.append(Field(counts, failed, 9, 3 if s.failed else 9))
    if not s.stopping:
        fields.append(Field(f"{s.in_flight} in flight", f"{s.in_flight} in flight", None, 3.5))
    if s.retries:
        retries = count(s.retries, "retry", "retries")
        fields.append(Field(retries, retries, None, 4.5))
    elapsed = human_duration(s.elapsed), short_duration(s.elapsed)
    fields.append(Field(f"elapsed {elapsed[0]}", f"{elapsed[1]} elapsed", 5, 4.8))
    return fields


def short_duration(seconds: float) -> str:
    """`42s`, `12m30s`, `3h04m`, `2d03h`: at most six characters."""
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def status_line(snapshot: Snapshot, width: int | None = None) -> str:
    """The line, in long forms if it fits `width`, else shorter forms, else fewer fields."""
    fields = _fields(snapshot)
    texts = [f.long for f in fields]
    if width is None:
        return SEPARATOR.join(texts)

    def fits() -> bool:
        return len(SEPARATOR.join(t for t in texts if t)) <= width

    steps = [(f.shorten, i, f.short) for i, f in enumerate(fields) if f.shorten is not None]
    steps += [(f.drop, i, "") for i, f in enumerate(fields) if f.drop is not None]
    for _, i, text in sorted(steps, key=lambda step: (-step[0], -step[1])):
        if fits():
            break
        if texts[i]:  # a dropped field is not shortened back
            texts[i] = text
    return SEPARATOR.join(t for t in texts if t)[:width]


class Progress:
    """Live progress on a terminal (rich), periodic timestamped lines elsewhere, or nothing.

    `interval`: seconds between plain status lines (0: none); `concurrency`: files in flight at
    most (bounds the in-flight estimate); `stopping`: whether a stop was asked (first Ctrl-C).
    """

    def __init__(
        self,
        tally: Tally,
        *,
        mode: str = "auto",
        stream: TextIO | None = None,
        interval: float = 30,
        concurrency: int = 8,
        stopping: Callable[[], bool] | None = None,
        console: Console | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tally = tally
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "tty" if self.stream.isatty() else "plain"
        self.mode = mode
        self.interval = interval
        self.concurrency = concurrency
        self.stopping = stopping or (lambda: False)
        self.clock = clock
        self.throughput = Throughput()
        self.file_throughput = Throughput()  # files the plan sent on that have their outcome
        self._shown_done = 0
        self._own_console = console
        self._live: Live | None = None
        self._timer: threading.Thread | None = None
        self._quit = threading.Event()
        # One line at a time from the timer and the event loop. Held for one write only (the
        # loop would wait for that write anyway); an RLock, as rich's console uses.
        self._lock = threading.RLock()

    # ── what the line shows ─────────────────────────────────────────────────────────────
    def snapshot(self) -> Snapshot:
        tally, now = self.tally, self.clock()
        # Bytes leave the count when a transfer ends and come back when its file is recorded:
        # the line never goes backwards for that gap (a retry's rewind waits to be re-sent).
        done = max(self._shown_done, tally.bytes_uploaded + tally.bytes_in_flight)
        self._shown_done = done
        self.throughput.add(now, done)
        self.file_throughput.add(now, tally.planned_done)
        in_flight = min(self.concurrency, tally.open_planned)
        if tally.bytes_in_flight > 0:
            in_flight = max(in_flight, 1)
        held = tally.api_held_until
        return Snapshot(
            done_bytes=done,
            total_bytes=max(tally.to_send_bytes - tally.dropped_bytes, done),
            files_done=tally.done,
            files_found=tally.found,
            walking=not tally.walk_done,
            uploaded=tally.uploaded,
            skipped=tally.skipped,
            failed=tally.failed,
            elapsed=now - tally.started,
            rate=self.throughput.rate(now),
            in_flight=in_flight,
            retries=tally.retries,
            api_wait=None if held is None or held <= now else held - now,
            stopping=self.stopping(),
            files_left=tally.open_planned,
            file_rate=self.file_throughput.rate(now),
        )

    def line(self, width: int | None = None) -> str:
        return status_line(self.snapshot(), width)

    @property
    def _console(self) -> Console:
        if self._own_console is None:
            from rich.console import Console

            self._own_console = Console(file=self.stream, highlight=False, soft_wrap=False)
        return self._own_console

    def _renderable(self) -> Text:
        from rich.text import Text

        width = max(self._console.width - 1, 20)
        return Text(self.line(width), no_wrap=True, overflow="ellipsis")

    # ── lifetime ────────────────────────────────────────────────────────────────────────
    def __enter__(self) -> Progress:
        if self.mode == "tty":
            from rich.live import Live

            self._live = Live(
                self._renderable(),
                console=self._console,
                refresh_per_second=4,
                transient=True,
                get_renderable=self._renderable,
                # stdout to a pipe or a file stays there (a dry run's list); only a terminal
                # shared with the live line goes through rich, above the line.
                redirect_stdout=sys.stdout.isatty(),
            )
            self._live.__enter__()
        elif self.mode == "plain" and self.interval > 0:
            self._timer = threading.Thread(target=self._every, name="bulkupload-stats", daemon=True)
            self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None
        if self._timer is not None:
            self._quit.set()
            if not on_event_loop():  # an event loop never waits for it (it ends on its own)
                self._timer.join()
            self._timer = None

    def refresh(self) -> None:
        """Draw the live line now (rich also does, four times a second)."""
        if self._live is not None:
            self._live.refresh()

    def _every(self) -> None:
        """The plain status line every `interval` seconds, sampling the rate in between."""
        due = self.clock() + self.interval
        while not self._quit.wait(min(0.5, self.interval)):
            if self.clock() >= due:
                due += self.interval
                self.message(self.line())
            else:
                self.snapshot()  # a sample for the rate

    # ── events ──────────────────────────────────────────────────────────────────────────
    def on_event(self, event: Event) -> None:
        """The subscriber: failures and notices as lines that stay."""
        if isinstance(event, FileDone):
            result = event.result
            if result.status is Status.FAILED:
                reason = reason_text(result.rel, result.error or "failed", prefix="failed")
                self.message(f"failed: {shown(result.rel)}: {reason}")
        elif isinstance(event, Notice):
            self.message(event.text)

    def message(self, text: str) -> None:
        """A line that stays (a failure, a warning): above the live line on a terminal,
        timestamped in plain output."""
        if self.mode == "none":
            return
        with self._lock:
            if self.mode == "plain":  # whole lines, never wrapped: cron logs are grepped
                self.stream.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")
                self.stream.flush()
            else:  # wrapped at word boundaries, above the live line
                self._console.print(text, markup=False, highlight=False)
