"""Spread API calls over Procore's rate-limit window so a run never earns a 429.

Procore reports the closer of its limits on every answer (`X-Rate-Limit-Limit`, `-Remaining`,
`-Reset` in Unix seconds). Spacing calls by (reset - now) / remaining spends the budget evenly
until the window resets, whether the server's window is fixed or sliding.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

__all__ = ["RateLimitPacer"]

# Procore's longest window is an hour; a Reset further away than that means the server's clock
# is ahead of ours (or an emulator's clock was advanced), so time left is capped at this.
_MAX_WINDOW = 3600.0

# A paced caller re-checks at least this often, so fresh headers (a new window) free it early.
_RECHECK = 0.05

# A hold at least this long is told to `on_hold` (a shorter one is spacing, not a wait).
HOLD_NOTICE = 0.5


def _header_float(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        # aiohttp's CIMultiDict is case-insensitive; a plain dict from tests may not be.
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


class RateLimitPacer:
    """Paces API calls from the server's rate-limit headers.

    `acquire()` before each request returns a ticket; pass it to `update()` with the answer's
    headers so the pacer knows which later calls the server had not yet counted.
    `reserve` calls are never spent (other clients of the same token, clock skew);
    `skew` seconds are added to the server's reset time (it is rounded to whole seconds);
    spacing below `min_spacing` seconds counts as no pacing at all. Once the reset time has
    passed, calls go at the long-run rate (limit per window length, as seen so far; at most
    `probe_wait` apart) until an answer tells the new budget: a sliding window frees only the
    calls that aged out, not all of them.

    `on_hold`, when set, is told how many seconds the next call is held when the budget makes
    it wait at least `HOLD_NOTICE`, and `0.0` once it goes: what a display shows as "waiting
    for the API limit".
    """

    def __init__(
        self,
        *,
        reserve: int = 1,
        skew: float = 0.25,
        min_spacing: float = 0.005,
        probe_wait: float = 2.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.reserve = reserve
        self.skew = skew
        self.min_spacing = min_spacing
        self.probe_wait = probe_wait
        self._clock = clock
        self._sleep = sleep
        self.limit: int | None = None
        self._remaining: float | None = None  # as the server reported it
        self._reset: float | None = None  # Unix seconds, skew included
        self._ticket_of_info = 0  # the ticket whose answer carried `_remaining`
        self._issued = 0  # tickets handed out so far
        self._next_slot = 0.0  # earliest time the next call may start
        self._last_claim = 0.0  # when the last call was let go
        self._window = 0.0  # longest reset - now seen: the window's length, roughly
        self._blocked_until = 0.0  # after a 429: nobody goes before this
        self._lock: asyncio.Lock | None = None
        self.on_hold: Callable[[float], None] | None = None

    def estimated_remaining(self) -> float | None:
        """Calls left in the window, minus those sent after the answer that reported it."""
        if self._remaining is None:
            return None
        return self._remaining - (self._issued - self._ticket_of_info)

    def update(self, headers: Mapping[str, str], now: float, *, ticket: int | None = None) -> None:
        """Learn the budget from an answer's headers (answers without them are ignored)."""
        remaining = _header_float(headers, "X-Rate-Limit-Remaining")
        reset = _header_float(headers, "X-Rate-Limit-Reset")
        if remaining is None or reset is None:
            return
        limit = _header_float(headers, "X-Rate-Limit-Limit")
        if limit is not None:
            self.limit = int(limit)
        ticket = self._issued if ticket is None else ticket
        reset += self.skew
        self._window = max(self._window, min(reset - now, _MAX_WINDOW))
        new_window = self._reset is None or reset > self._reset
        # Answers arrive out of order: within one window only newer information wins.
        if new_window or ticket >= self._ticket_of_info:
            self._remaining = remaining
            self._reset = reset
            self._ticket_of_info = ticket
            # Re-space the next call from the last one with what we now know: later when the
            # budget shrank, earlier when a new window opened.
            self._next_slot = max(self._blocked_until, self._last_claim + self._interval(now))

    def note_429(self, wait: float, now: float) -> None:
        """The server said 429 and asked to wait `wait` seconds: nobody goes before then."""
        until = now + max(wait, 0.0)
        self._blocked_until = max(self._blocked_until, until)
        self._next_slot = max(self._next_slot, until)
        self._remaining = 0
        self._ticket_of_info = self._issued

    def _interval(self, now: float) -> float:
        """Spacing between calls that spends what is left evenly until the reset."""
        estimate = self.estimated_remaining()
        if estimate is None or self._reset is None or now >= self._reset:
            return 0.0  # nothing known, or the window has reset: the next answer will tell
        usable = estimate - self.reserve
        left = min(self._reset - now, _MAX_WINDOW)
        if usable <= 0:
            return left  # spent: wait for the reset
        spacing = left / usable
        # Plenty left: spacing finer than a few milliseconds is noise, not pacing.
        return spacing if spacing >= self.min_spacing else 0.0

    def delay(self, now: float) -> float:
        """Seconds the next call should wait; 0 when the budget allows it right away."""
        slot = max(self._next_slot, self._blocked_until)
        estimate = self.estimated_remaining()
        if estimate is not None and self._reset is not None:
            if now < self._reset and estimate - self.reserve <= 0:
                slot = max(slot, min(self._reset, now + _MAX_WINDOW))  # spent: wait for the reset
            elif now >= self._reset and self._issued > self._ticket_of_info:
                slot = max(slot, self._last_claim + self._stale_spacing())
        return max(0.0, slot - now)

    def _stale_spacing(self) -> float:
        """Spacing while the reported window is over and no newer answer has come back."""
        if not self.limit or self._window <= 0:
            return self.probe_wait
        return min(self._window / max(self.limit - self.reserve, 1), self.probe_wait)

    def _claim(self, now: float) -> int:
        self._issued += 1
        self._last_claim = now
        self._next_slot = now + self._interval(now)
        return self._issued

    async def acquire(self) -> int:
        """Wait for this call's turn and return its ticket (for `update`)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        # One caller at a time waits for the next slot, so concurrent callers queue up behind
        # each other instead of all firing when a slot opens.
        async with self._lock:
            held = False
            while (wait := self.delay(self._clock())) > 0:
                if not held and wait >= HOLD_NOTICE and self.on_hold is not None:
                    held = True
                    self.on_hold(wait)
                await self._sleep(min(wait, _RECHECK))
            if held and self.on_hold is not None:
                self.on_hold(0.0)
            return self._claim(self._clock())
