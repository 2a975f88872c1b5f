"""Rate pacing: pure arithmetic with a fake clock, plus a simulated server with a spike window."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkupload.procore.ratelimit import RateLimitPacer

T0 = 1_700_000_000.0
SEED = 7


def headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "X-Rate-Limit-Limit": str(limit),
        "X-Rate-Limit-Remaining": str(remaining),
        "X-Rate-Limit-Reset": str(int(reset)),
    }


def test_no_information_means_no_wait() -> None:
    assert RateLimitPacer().delay(T0) == 0.0


def test_plenty_left_means_no_wait() -> None:
    pacer = RateLimitPacer(skew=0)
    pacer.update(headers(100_000, 99_999, T0 + 1), T0)
    pacer._claim(T0)
    assert pacer.delay(T0) == 0.0


def test_low_budget_spreads_calls_until_reset() -> None:
    pacer = RateLimitPacer(reserve=1, skew=0)
    pacer.update(headers(50, 11, T0 + 10), T0)
    pacer._claim(T0)  # ticket 1 was sent after the answer: 10 left, 1 in reserve
    assert abs(pacer.delay(T0) - 10 / 9) < 1e-6


def test_spent_budget_waits_for_reset() -> None:
    pacer = RateLimitPacer(reserve=1, skew=0)
    pacer.update(headers(50, 1, T0 + 7), T0)
    assert pacer.delay(T0) == 7.0
    assert pacer.delay(T0 + 8) == 0.0


def test_headers_are_case_insensitive_and_garbage_is_ignored() -> None:
    pacer = RateLimitPacer(skew=0)
    pacer.update({"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(T0 + 3)}, T0)
    assert pacer.delay(T0) == 3.0
    other = RateLimitPacer()
    other.update({"X-Rate-Limit-Remaining": "lots", "X-Rate-Limit-Reset": "soon"}, T0)
    assert other.delay(T0) == 0.0


def test_stale_answer_does_not_overwrite_newer_information() -> None:
    pacer = RateLimitPacer(skew=0)
    pacer._claim(T0)
    pacer._claim(T0)
    pacer.update(headers(50, 5, T0 + 10), T0, ticket=2)
    pacer.update(headers(50, 40, T0 + 10), T0, ticket=1)  # older answer, same window
    assert pacer.estimated_remaining() == 5


def test_note_429_blocks_everyone_until_the_wait_is_over() -> None:
    pacer = RateLimitPacer()
    pacer.note_429(4.0, T0)
    assert pacer.delay(T0) == 4.0
    assert pacer.delay(T0 + 4) == 0.0


@given(
    remaining=st.integers(min_value=0, max_value=10_000),
    left=st.floats(min_value=0.01, max_value=3600),
    elapsed=st.floats(min_value=0, max_value=4000),
)
def test_delay_is_bounded_by_the_reset(remaining: int, left: float, elapsed: float) -> None:
    pacer = RateLimitPacer(skew=0)
    pacer.update(headers(10_000, remaining, T0 + left), T0)
    pacer._claim(T0)
    reset = float(int(T0 + left))
    delay = pacer.delay(T0 + elapsed)
    assert delay >= 0.0
    # Never past the reset, except while a probe of the new window is out.
    assert T0 + elapsed + delay <= max(reset, T0 + pacer.probe_wait, T0 + elapsed) + 1e-6


class VirtualTime:
    """A fake clock whose `sleep` parks tasks until `run` advances time to their wake-up."""

    def __init__(self) -> None:
        self.now = T0 + 0.5
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(seconds, 0.0), next(self._seq), future))
        await future

    async def run_until(self, end: float) -> None:
        while self.now < end:
            for _ in range(50):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
            when, _, future = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            future.set_result(None)


class FixedWindowServer:
    """Procore's spike window: `limit` calls per `period` seconds, 429 beyond."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit, self.period = limit, period
        self.window_end = 0.0
        self.used = 0
        self.ok = 0
        self.rejected = 0

    def handle(self, now: float) -> tuple[int, dict[str, str]]:
        if now >= self.window_end:
            self.window_end = (now // self.period + 1) * self.period
            self.used = 0
        self.used += 1
        status = 200 if self.used <= self.limit else 429
        if status == 200:
            self.ok += 1
        else:
            self.rejected += 1
        remaining = max(self.limit - self.used, 0)
        return status, headers(self.limit, remaining, self.window_end)


class SlidingWindowServer(FixedWindowServer):
    """At most `limit` calls in any `period` seconds; Reset is when the oldest one ages out."""

    def __init__(self, limit: int, period: float) -> None:
        super().__init__(limit, period)
        self.times: list[float] = []

    def handle(self, now: float) -> tuple[int, dict[str, str]]:
        self.times = [t for t in self.times if t > now - self.period]
        status = 200 if len(self.times) < self.limit else 429
        if status == 200:
            self.times.append(now)
            self.ok += 1
        else:
            self.rejected += 1
        self.window_end = math.ceil(self.times[0] + self.period) if self.times else now
        remaining = self.limit - len(self.times)
        return status, headers(self.limit, remaining, self.window_end)


# A sliding window with whole-second Reset values frees calls later than they age out, so pacing
# to it is measurably less efficient (0.89-0.91 across seeds) than to a fixed one (0.94).
@pytest.mark.parametrize(
    ("server_type", "floor"), [(FixedWindowServer, 0.9), (SlidingWindowServer, 0.85)]
)
async def test_32_callers_reach_most_of_a_spike_limit_without_429(
    server_type: type[FixedWindowServer], floor: float
) -> None:
    vt = VirtualTime()
    server = server_type(limit=50, period=10)
    pacer = RateLimitPacer(clock=vt.clock, sleep=vt.sleep)
    rng = random.Random(SEED)
    duration = 120.0

    async def caller() -> None:
        while vt.now < T0 + duration:
            ticket = await pacer.acquire()
            await vt.sleep(rng.uniform(0.02, 0.3))  # request on the wire
            status, answer = server.handle(vt.now)
            await vt.sleep(rng.uniform(0.02, 0.3))  # answer on the wire
            pacer.update(answer, vt.now, ticket=ticket)
            if status == 429:
                pacer.note_429(server.window_end - vt.now, vt.now)

    tasks = [asyncio.create_task(caller()) for _ in range(32)]
    await vt.run_until(T0 + duration)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    assert server.rejected == 0
    achieved = server.ok / (duration / server.period * server.limit)
    print(f"achieved {achieved:.3f} of the limit")
    assert achieved >= floor, achieved


def test_a_server_clock_far_ahead_does_not_stall_the_run() -> None:
    pacer = RateLimitPacer(skew=0)
    eight_days = 8 * 24 * 3600
    pacer.update(headers(1_000_000, 999_990, T0 + eight_days + 3600), T0)
    pacer._claim(T0)
    assert pacer.delay(T0) == 0.0  # an hour's worth of budget is plenty
    pacer.update(headers(1_000_000, 0, T0 + eight_days + 3600), T0, ticket=1)
    assert pacer.delay(T0) <= 3600
