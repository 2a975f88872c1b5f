"""Procore's rate limits per identity: an hourly and a spike window, and the X-Rate-Limit-*
headers every API answer carries (429 with Retry-After once a window is spent)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .config import DISABLED_RATE_LIMIT, EmulatorConfig


@dataclass(slots=True)
class RateWindow:
    """A fixed window opened by the first call after the previous one ended: `count` calls since
    `start`; it resets `length` seconds later (so a short test never straddles two windows)."""

    length: float
    start: float = 0.0
    count: int = 0
    # The windows that ended, (start, calls counted), the last HISTORY of them: what a test
    # or a benchmark reads to see how much of each window a client used.
    history: list[tuple[float, int]] = field(default_factory=list)

    def hit(self, now: float) -> None:
        self.roll(now)
        self.count += 1

    def roll(self, now: float) -> None:
        if now >= self.start + self.length:
            if self.count:
                self.history.append((self.start, self.count))
                del self.history[:-HISTORY]
            self.start = now
            self.count = 0

    @property
    def reset(self) -> float:
        return self.start + self.length


HISTORY = 1000  # ended windows kept per identity and window

Windows = tuple[RateWindow, RateWindow]  # (hourly, spike)


def rate_limit(
    config: EmulatorConfig, windows: dict[str, Windows], key: str, now: float
) -> tuple[int | None, dict[str, str]]:
    """Count a call by `key` (a client id, or "anonymous"); return (Retry-After seconds if over
    a limit, rate-limit headers)."""
    if key not in windows:
        windows[key] = (RateWindow(config.hourly_window), RateWindow(config.spike_window))
    hourly, spike = windows[key]
    hourly.roll(now)
    spike.roll(now)
    candidates = [
        (limit, window)
        for limit, window in ((config.hourly_limit, hourly), (config.spike_limit, spike))
        if limit is not None
    ]
    for limit, window in candidates:
        if window.count >= limit:
            retry = max(1, math.ceil(window.reset - now))
            return retry, _rate_headers(limit, 0, window.reset)
    hourly.hit(now)
    spike.hit(now)
    if not candidates:
        return None, _rate_headers(
            DISABLED_RATE_LIMIT, DISABLED_RATE_LIMIT - hourly.count, hourly.reset
        )
    limit, window = min(candidates, key=lambda c: c[0] - c[1].count)
    return None, _rate_headers(limit, limit - window.count, window.reset)


def _rate_headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "X-Rate-Limit-Limit": str(limit),
        "X-Rate-Limit-Remaining": str(max(0, remaining)),
        "X-Rate-Limit-Reset": str(math.ceil(reset)),
    }
