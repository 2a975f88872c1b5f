"""What a person sees while a run goes: a live line on a TTY, periodic plain lines otherwise.

A subscriber of the run's events, reading the `Tally` that counts them: counts only what
finished; bytes in flight move forward as chunks are sent and back when a retry rewinds a body,
so the rate is never counted twice.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from .events import Event, FileDone, Notice
from .models import Status, printable
from .stats import Tally


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def status_line(tally: Tally, now: float | None = None) -> str:
    now = time.monotonic() if now is None else now
    rate = tally.rate(now)
    files = f"{tally.done}/{tally.found}" + ("" if tally.walk_done else "+")
    # Short enough for an 80-column terminal: the ETA must not be cut off.
    parts = [
        f"{files} files",
        f"up {tally.uploaded} skip {tally.skipped} fail {tally.failed}",
        human_bytes(tally.bytes_uploaded + tally.bytes_in_flight),
        f"{human_bytes(rate)}/s",
    ]
    if tally.walk_done and rate > 0:
        left = max(tally.found_bytes - tally.bytes_uploaded - tally.bytes_in_flight, 0)
        parts.append(f"ETA {human_duration(left / rate)}")
    elif not tally.walk_done:
        parts.append("walking…")
    return " | ".join(parts)


class Progress:
    """Live progress on a TTY (rich), a plain line every `interval` seconds elsewhere."""

    def __init__(
        self,
        tally: Tally,
        *,
        mode: str = "auto",
        stream: TextIO | None = None,
        interval: float = 10,
    ) -> None:
        self.tally = tally
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "tty" if self.stream.isatty() else "plain"
        self.mode = mode
        self.interval = interval
        self._last_plain = time.monotonic()
        self._console = Console(file=self.stream, highlight=False, soft_wrap=True)
        self._live: Live | None = None

    def __enter__(self) -> Progress:
        if self.mode == "tty":
            self._live = Live(
                Text(status_line(self.tally)),
                console=self._console,
                refresh_per_second=4,
                transient=True,
                get_renderable=lambda: Text(status_line(self.tally)),
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def on_event(self, event: Event) -> None:
        """The subscriber: failures and notices as lines that stay, the periodic line."""
        if isinstance(event, FileDone):
            result = event.result
            if result.status is Status.FAILED:
                self.message(f"failed: {printable(result.rel)}: {result.error or 'failed'}")
            self.tick()
        elif isinstance(event, Notice):
            self.message(event.text)

    def message(self, text: str) -> None:
        """A line that stays (a failure, a warning), printed above the live display."""
        if self.mode == "none":
            return
        self._console.print(text, markup=False, highlight=False)

    def tick(self) -> None:
        """Called as results arrive: prints the plain periodic line when it is due."""
        if self.mode != "plain":
            return
        now = time.monotonic()
        if now - self._last_plain >= self.interval:
            self._last_plain = now
            self.message(status_line(self.tally, now))
