"""Spread API calls over Procore's rate-limit windows so a run never earns a 429.

Procore has an hourly and a 10-second spike window; every answer reports one of them
(`X-Rate-Limit-Limit`, `-Remaining`, `-Reset` in Unix seconds): the one the app is closest to
exhausting, usually the spike window until the hourly budget is nearly spent. The pacer keeps
what it learnt of each window until that window resets, and spends the tighter one's budget
evenly until shortly before its end, whether the server's windows are fixed or sliding.

Counting: within one window the server's count only grows, so the lowest Remaining seen is the
latest count; any call still unanswered may be missing from it. Budget left = that Remaining -
calls in flight, however the answers were reordered on the way.

Two things make the reported reset late, and every late second is budget left unused: it is
rounded up to a whole second, and the server's clock is not ours. So the pacer reads the
answers' `Date` header (whole seconds, truncated, as HTTP sends it) for a lower bound of the
server clock's lead over ours, and the answer that is the first call of a new window (Remaining
one below the limit) for when that window began: it ends at most the window's length after
that answer arrived.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ["RateLimitPacer", "WindowInfo"]

# Procore's longest window is an hour; a Reset further away than that means the server's clock
# is ahead of ours (or an emulator's clock was advanced), so time left is capped at this.
_MAX_WINDOW = 3600.0

# Procore's spike window is 10 s; a reset further away than this belongs to the hourly window.
_SPIKE_MAX = 12.0

# A paced caller re-checks at least this often, so fresh headers (a new window) free it early.
_RECHECK = 0.05

# A hold at least this long is told to `on_hold` (a shorter one is spacing, not a wait).
HOLD_NOTICE = 0.5

# A window's budget is spread over its time left minus this much (at most a sixth of it): the
# last call of a window must reach the server before the window ends, not open the next one.
_FINISH_EARLY = 1.0


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        # aiohttp's CIMultiDict is case-insensitive; a plain dict from tests may not be.
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return value


def _header_float(headers: Mapping[str, str], name: str) -> float | None:
    value = _header(headers, name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


@dataclass(slots=True)
class WindowInfo:
    """One of the two windows (spike or hourly): what is known of it, and of its current round."""

    limit: int | None = None
    length: float = 0.0  # the longest time to its reset seen: its length, roughly
    span: float | None = None  # an upper bound of its length, from a window's first call
    header_reset: float = 0.0  # the current round's X-Rate-Limit-Reset, as the server said
    reset: float = 0.0  # ... on our clock: the latest it can end
    remaining: float | None = None  # the lowest Remaining of the current round
    # A lower bound of its length: a call counted in a round left at most this long after
    # the round's first call came back. With the round's first call's departure it gives
    # the earliest the round can end: the budget is spread until then.
    low: float = 0.0
    round_claim: float | None = None  # when the current round's first call left
    round_recv: float | None = None  # ... and when its answer came back

    def current(self, now: float) -> bool:
        return self.remaining is not None and now < self.reset


class _ServerClock:
    """A lower bound of (server clock - ours), from the answers' Date headers: the server wrote
    `Date` (truncated to the second) before we received the answer."""

    def __init__(self) -> None:
        self.lead: float | None = None
        self._text = ""
        self._stamp = 0.0

    def observe(self, date: str | None, received: float) -> None:
        if not date:
            return
        if date != self._text:  # one parse per second of answers
            try:
                stamp = parsedate_to_datetime(date).timestamp()
            except (TypeError, ValueError, IndexError):
                return
            self._text, self._stamp = date, stamp
        bound = self._stamp - received
        self.lead = bound if self.lead is None else max(self.lead, bound)


class RateLimitPacer:
    """Paces API calls from the server's rate-limit headers.

    `acquire()` before each request returns a ticket; pass it to `update()` with the answer's
    headers, or to `forget()` when no answer came. `share` (0 < share <= 1) is the part of each
    window's budget this run may spend (`--api-share`); `reserve` calls of each window are never
    spent; `skew` seconds are added to the server's reset time until a Date header tells the
    clocks apart (`margin` after); spacing below `min_spacing` seconds counts as no pacing at
    all. Once a window has reset, calls go at its long-run rate (at most `probe_wait` apart)
    until an answer tells the new budget: a sliding window frees only the calls that aged out.

    The hourly window is reported only when it is nearly spent, so its share holds only once its
    limit is known: from an earlier run (`hourly_limit`, kept in the state) or from this run's
    answers. From then on the run's own calls in any `hour` (Procore's hourly window is 60
    minutes) stay within the share.

    `on_hold`, when set, is told how many seconds the next call is held when the budget makes
    it wait at least `HOLD_NOTICE`, and `0.0` once it goes: what a display shows as "waiting
    for the API limit".
    """

    def __init__(
        self,
        *,
        share: float = 1.0,
        reserve: int = 1,
        skew: float = 0.25,
        margin: float = 0.05,
        min_spacing: float = 0.005,
        probe_wait: float = 2.0,
        hourly_limit: int | None = None,
        hour: float = 3600.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"the API share must be above 0 and at most 1, not {share}")
        self.share = share
        self.reserve = reserve
        self.skew = skew
        self.margin = margin
        self.min_spacing = min_spacing
        self.probe_wait = probe_wait
        self._clock = clock
        self._sleep = sleep
        self.spike = WindowInfo()
        self.hourly = WindowInfo(limit=hourly_limit)
        self.hour = hour
        self._server = _ServerClock()
        self._last_reported = self.spike
        self._in_flight: dict[int, float] = {}  # unanswered tickets: when each went
        self._lost = 0  # calls that got no answer, since the last new window
        self._issued = 0
        self._next_slot = 0.0  # earliest time the next call may start
        self._last_claim = 0.0  # when the last call was let go
        self._blocked_until = 0.0  # after a 429: nobody goes before this
        self._recent: deque[float] = deque()  # this run's calls within the last hour (share < 1)
        self._trip: float | None = None  # a call's round trip, smoothed
        self._probed = 0.0  # the spike round (its header reset) whose reserved call went
        self._lock: asyncio.Lock | None = None
        self.on_hold: Callable[[float], None] | None = None

    @property
    def limit(self) -> int | None:
        """The limit of the window the last answer reported."""
        return self._last_reported.limit

    def _unknown_count(self) -> int:
        return len(self._in_flight) + self._lost

    def _binding(self, now: float) -> WindowInfo | None:
        """The current window with the least budget left, if any is current."""
        live = [w for w in (self.spike, self.hourly) if w.current(now)]
        return min(live, key=self._usable, default=None)

    def _usable(self, window: WindowInfo) -> float:
        assert window.remaining is not None
        return window.remaining - self._unknown_count() - self._held_back(window)

    def _held_back(self, window: WindowInfo) -> float:
        if window.limit is None or self.share >= 1:
            return self.reserve
        return max(self.reserve, math.ceil((1 - self.share) * window.limit))

    def estimated_remaining(self) -> float | None:
        """Calls left in the tightest window, minus those not yet counted in it."""
        window = self._binding(self._clock())
        if window is None or window.remaining is None:
            return None
        return window.remaining - self._unknown_count()

    def forget(self, ticket: int | None) -> None:
        """The call with this ticket got no answer (a network error): it may have counted."""
        if ticket is not None and self._in_flight.pop(ticket, None) is not None:
            self._lost += 1

    def update(self, headers: Mapping[str, str], now: float, *, ticket: int | None = None) -> None:
        """Learn the budget from an answer's headers (answers without them are ignored)."""
        self._server.observe(_header(headers, "Date"), now)
        claimed = self._in_flight.pop(ticket, None) if ticket is not None else None
        remaining = _header_float(headers, "X-Rate-Limit-Remaining")
        header_reset = _header_float(headers, "X-Rate-Limit-Reset")
        if remaining is None or header_reset is None:
            return
        limit = _header_float(headers, "X-Rate-Limit-Limit")
        reset = self._on_our_clock(header_reset)
        window = self.hourly if reset - now > _SPIKE_MAX else self.spike
        self._last_reported = window
        if limit is not None:
            window.limit = int(limit)
        window.length = max(window.length, min(reset - now, _MAX_WINDOW))
        first = limit is not None and remaining == limit - 1 and claimed is not None
        if first:
            assert claimed is not None
            reset = min(reset, self._first_call_bound(window, header_reset, claimed, now))
        if header_reset > window.header_reset:  # a new round of this window
            if first and window.round_claim is not None:
                # This call opened a round, so the last one had ended before it arrived: the
                # window is no longer than from that round's first call leaving to now.
                bound = now - window.round_claim
                window.span = bound if window.span is None else min(window.span, bound)
            window.header_reset, window.reset, window.remaining = header_reset, reset, remaining
            window.round_claim = window.round_recv = None
            self._lost = 0
        elif header_reset == window.header_reset:  # the same round: the count only grows
            window.reset = min(window.reset, reset)
            window.remaining = (
                remaining if window.remaining is None else min(window.remaining, remaining)
            )
        else:
            return  # an answer from a round that is over
        if first:
            window.round_claim, window.round_recv = claimed, now
        elif claimed is not None and window.round_recv is not None:
            # Counted in this round, so it reached the server before the round ended.
            window.low = max(window.low, claimed - window.round_recv)
        if claimed is not None:
            trip = now - claimed
            self._trip = trip if self._trip is None else 0.8 * self._trip + 0.2 * trip
        # Re-space the next call from the last one with what we now know: later when the
        # budget shrank, earlier when a new window opened.
        self._next_slot = max(self._blocked_until, self._last_claim + self._interval(now))

    def _on_our_clock(self, header_reset: float) -> float:
        lead = self._server.lead
        if lead is None:
            return header_reset + self.skew
        return header_reset - lead + self.margin

    def _first_call_bound(
        self, window: WindowInfo, header_reset: float, claimed: float, received: float
    ) -> float:
        """The latest this window can end: it began when this call (its first) reached the
        server, before `received`, and lasts at most `span` (the least reset-minus-start seen;
        the call left at `claimed`, so it reached the server after that)."""
        lead = self._server.lead if self._server.lead is not None else -self.skew
        bound = header_reset - lead - claimed
        window.span = bound if window.span is None else min(window.span, bound)
        return received + window.span + self.margin

    def note_429(self, wait: float, now: float) -> None:
        """The server said 429 and asked to wait `wait` seconds: nobody goes before then."""
        until = now + max(wait, 0.0)
        self._blocked_until = max(self._blocked_until, until)
        self._next_slot = max(self._next_slot, until)
        window = self._binding(now) or self._last_reported
        window.remaining = 0
        window.reset = max(window.reset, until)

    def _interval(self, now: float) -> float:
        """Spacing between calls that spends the tightest window's budget evenly until shortly
        before it ends."""
        window = self._binding(now)
        if window is None:
            return 0.0  # nothing known, or the windows have reset: the next answer will tell
        usable = self._usable(window)
        left = min(window.reset - now, _MAX_WINDOW)
        if usable <= 0:
            return left  # spent: wait for the reset
        horizon = max(left - min(_FINISH_EARLY, left / 6), 0.0)
        if window.low > 0 and window.round_claim is not None:
            # Every call of the budget should reach the server before the earliest end.
            earliest = window.round_claim + window.low - (self._trip or 0.0) / 2
            if earliest > now:
                horizon = min(horizon, earliest - now)
        spacing = horizon / usable
        # Plenty left: spacing finer than a few milliseconds is noise, not pacing.
        return spacing if spacing >= self.min_spacing else 0.0

    def delay(self, now: float) -> float:
        """Seconds the next call should wait; 0 when the budget allows it right away."""
        slot = max(self._next_slot, self._blocked_until, self._hourly_slot(now))
        window = self._binding(now)
        if window is not None:
            if self._usable(window) <= 0:
                # Spent: wait for the reset, or send the reserved call as a probe sooner.
                slot = max(slot, min(self._probe_time(window), window.reset, now + _MAX_WINDOW))
        elif self._in_flight and self._last_reported.remaining is not None:
            # A window has reset and its new budget is not known yet: probe at the long-run rate.
            slot = max(slot, self._last_claim + self._stale_spacing())
        return max(0.0, slot - now)

    def _probe_time(self, window: WindowInfo) -> float:
        """When the spike window's reserved call may go as a probe: halfway between the
        earliest and the latest the round can end, once per round, when the whole budget is
        this run's. Either way it stays within the limit: counted in this round (which lasts
        at least that long: `low` grows), or opening the next one early (which bounds the
        window's length: `span` shrinks). Without it the wait lasts until the latest end,
        padded by whole-second Reset values, and a run whose windows begin just after a
        second turns loses most of a second in every window, round after round."""
        if (
            window is not self.spike
            or self.share < 1
            or self.reserve < 1
            or window.round_claim is None
            or window.span is None
            or window.low <= 0
            or self._probed == window.header_reset
            or window.remaining is None
            or window.remaining - self._unknown_count() < 1
        ):
            return math.inf
        return window.round_claim + (window.low + window.span) / 2

    def _hourly_slot(self, now: float) -> float:
        """With a share below 1 and the hourly limit known: when this run's calls in the last
        hour fall below its share of the hourly budget."""
        hourly = self.hourly
        if self.share >= 1 or hourly.limit is None:
            return 0.0
        length = self.hour
        while self._recent and self._recent[0] <= now - length:
            self._recent.popleft()
        allowed = max(int(self.share * hourly.limit) - self.reserve, 1)
        if len(self._recent) < allowed:
            return 0.0
        return self._recent[-allowed] + length

    def _stale_spacing(self) -> float:
        """Spacing while the reported window is over and no newer answer has come back."""
        window = self._last_reported
        length = window.span or window.length
        if not window.limit or length <= 0:
            return self.probe_wait
        usable = max(window.limit * self.share - self.reserve, 1)
        return min(length / usable, self.probe_wait)

    def _claim(self, now: float) -> int:
        window = self._binding(now)
        if window is not None and self._usable(window) <= 0 and now >= self._probe_time(window):
            self._probed = window.header_reset
        self._issued += 1
        self._last_claim = now
        self._in_flight[self._issued] = now
        if self.share < 1:
            self._recent.append(now)
        self._next_slot = now + self._interval(now)
        return self._issued

    async def acquire(self) -> int:
        """Wait for this call's turn and return its ticket (for `update` or `forget`)."""
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

    def known(self) -> dict[str, Any]:
        """The limits learnt so far, for the state (the next run starts knowing them)."""
        known: dict[str, Any] = {}
        if self.spike.limit is not None:
            known["spike"] = {"limit": self.spike.limit, "length": self._spike_length()}
        if self.hourly.limit is not None:
            known["hourly"] = {"limit": self.hourly.limit, "length": self.hour}
        return known

    def _spike_length(self) -> float:
        """The spike window's length as best known: between its bounds when both are."""
        spike = self.spike
        upper = spike.span or spike.length
        if spike.low > 0 and upper:
            upper = (min(spike.low, upper) + upper) / 2
        return round(min(upper, _SPIKE_MAX), 3)

    def sustainable_rate(self) -> float | None:
        """Calls per second this run can keep up at its share, from the limits known."""
        rates = []
        if self.spike.limit is not None and self._spike_length() > 0:
            rates.append(self.spike.limit / self._spike_length())
        if self.hourly.limit is not None:
            rates.append(self.hourly.limit / self.hour)
        return min(rates) * self.share if rates else None
