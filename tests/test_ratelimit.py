"""Rate pacing: pure arithmetic with a fake clock, plus a simulated server with a spike window."""

from __future__ import annotations

import asyncio
import bisect
import heapq
import itertools
import math
import random
from email.utils import formatdate

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
    # Spread over the 10 s left, less the last second (the last call must land in the window).
    assert abs(pacer.delay(T0) - 9 / 9) < 1e-6


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


def test_within_a_window_the_lowest_remaining_wins_whatever_the_order() -> None:
    pacer = RateLimitPacer(skew=0, clock=lambda: T0)
    for _ in range(3):
        pacer._claim(T0)
    pacer.update(headers(50, 5, T0 + 10), T0, ticket=2)
    pacer.update(headers(50, 40, T0 + 10), T0, ticket=1)  # an earlier count, answered late
    assert pacer.estimated_remaining() == 5 - 1  # ticket 3 is still on its way
    pacer.update(headers(50, 10, T0 + 5), T0, ticket=3)  # a round that is over
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


class ProcoreLikeServer:
    """Procore's two windows as the emulator keeps them (each opened by the first call after
    the previous one ended), reporting the one closer to exhaustion, with a `Date` header from
    a clock `lead` seconds ahead of the client's."""

    def __init__(
        self, spike: tuple[int, float], hourly: tuple[int, float] | None = None, lead: float = 0.0
    ) -> None:
        self.windows = [[*spike, -1e18, 0]] + ([[*hourly, -1e18, 0]] if hourly else [])
        self.lead = lead
        self.ok = 0
        self.rejected = 0
        self.ok_times: list[float] = []

    def handle(self, now: float) -> tuple[int, dict[str, str]]:
        now += self.lead
        for w in self.windows:
            if now >= w[2] + w[1]:
                w[2], w[3] = now, 0
        full = [w for w in self.windows if w[3] >= w[0]]
        if full:
            self.rejected += 1
            status, shown = 429, full[0]
        else:
            for w in self.windows:
                w[3] += 1
            self.ok += 1
            self.ok_times.append(now - self.lead)
            status, shown = 200, min(self.windows, key=lambda w: w[0] - w[3])
        answer = headers(int(shown[0]), int(shown[0] - shown[3]), math.ceil(shown[2] + shown[1]))
        answer["Date"] = formatdate(int(now), usegmt=True)
        return status, answer

    def retry_after(self, now: float) -> float:
        return max(w[2] + w[1] for w in self.windows) - now - self.lead


async def drive(
    server: ProcoreLikeServer,
    pacer_args: dict[str, object],
    duration: float,
    callers: int = 16,
    start: float = 0.5,
) -> RateLimitPacer:
    """`callers` tasks calling as fast as the pacer lets them for `duration` virtual seconds,
    from `start` seconds past a whole second."""
    vt = VirtualTime()
    vt.now = T0 + start
    pacer = RateLimitPacer(clock=vt.clock, sleep=vt.sleep, **pacer_args)  # type: ignore[arg-type]
    rng = random.Random(SEED)

    async def caller() -> None:
        while vt.now < T0 + duration:
            ticket = await pacer.acquire()
            await vt.sleep(rng.uniform(0.01, 0.06))
            status, answer = server.handle(vt.now)
            await vt.sleep(rng.uniform(0.01, 0.06))
            pacer.update(answer, vt.now, ticket=ticket)
            if status == 429:
                pacer.note_429(server.retry_after(vt.now), vt.now)

    tasks = [asyncio.create_task(caller()) for _ in range(callers)]
    await vt.run_until(T0 + duration)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return pacer


@pytest.mark.parametrize("lead", [0.0, -0.7, 3.3])
async def test_the_date_header_sets_the_clocks_apart(lead: float) -> None:
    # Without Date, a server clock 0.7 s behind earns 429s and one 3.3 s ahead wastes a third
    # of every window; with it, neither.
    server = ProcoreLikeServer(spike=(50, 10.0), lead=lead)
    await drive(server, {}, duration=300.0)
    assert server.rejected == 0
    achieved = server.ok / (300.0 / 10 * 50)
    assert achieved >= 0.94, achieved


@pytest.mark.parametrize("start", [0.0, 0.1, 0.2, 0.5, 0.9])
async def test_the_spike_limit_is_used_whenever_in_a_second_the_run_begins(start: float) -> None:
    # Each window opens with the first call after the last one ended, and Reset is rounded up
    # to a whole second: a run whose windows begin just after a second turns was told each
    # window ends most of a second late, and lost that in every window (0.90 at 8 callers)
    # until the reserved call went as a probe between the earliest and the latest end.
    server = ProcoreLikeServer(spike=(50, 10.0))
    await drive(server, {}, duration=130.0, callers=8, start=start)
    assert server.rejected == 0
    achieved = server.ok / (130.0 / 10 * 50)
    assert achieved >= 0.94, achieved


@pytest.mark.parametrize("share", [0.8, 0.5])
async def test_a_share_of_the_spike_limit_is_kept_to(share: float) -> None:
    server = ProcoreLikeServer(spike=(50, 10.0))
    await drive(server, {"share": share}, duration=300.0)
    assert server.rejected == 0
    achieved = server.ok / (300.0 / 10 * 50)
    assert share * 0.95 <= achieved <= share, achieved


def calls_per_round(times: list[float], start: float, length: float, rounds: int) -> list[int]:
    counts = [0] * rounds
    for t in times:
        index = int((t - start) // length)
        if 0 <= index < rounds:
            counts[index] += 1
    return counts


async def test_the_hourly_share_holds_once_the_hourly_limit_is_known() -> None:
    # An hourly window shrunk to 300 s holding 600 calls (the spike window would allow 1,500).
    server = ProcoreLikeServer(spike=(50, 10.0), hourly=(600, 300.0))
    pacer = await drive(server, {"share": 0.8, "hour": 300.0}, duration=900.0, callers=4)
    assert server.rejected == 0
    assert pacer.hourly.limit == 600  # learnt in the first round, when it was nearly spent
    # Any 300 s after the round that taught the limit hold at most the share.
    times = server.ok_times
    rolling = [
        bisect.bisect_left(times, start + 300.0) - i
        for i, start in enumerate(times)
        if start > T0 + 300.0 and start + 300.0 < T0 + 900.0
    ]
    assert 0.76 * 600 <= max(rolling) <= 0.8 * 600, max(rolling)
    # Seeded from an earlier run, the share holds from the first call.
    server = ProcoreLikeServer(spike=(50, 10.0), hourly=(600, 300.0))
    known = {"share": 0.8, "hour": 300.0, "hourly_limit": 600}
    await drive(server, known, duration=600.0, callers=4)
    assert server.rejected == 0
    per_round = calls_per_round(server.ok_times, T0 + 0.5, 300.0, 2)
    assert all(0.76 * 600 <= n <= 0.8 * 600 for n in per_round), per_round


@given(order=st.permutations(range(12)), arrive=st.permutations(range(12)))
def test_reordered_answers_never_overstate_the_budget(order: list[int], arrive: list[int]) -> None:
    # Twelve calls in flight reach the server in one order and come back in another: whatever
    # the orders, the pacer's budget never exceeds what the server has left.
    limit = 30
    pacer = RateLimitPacer(skew=0, clock=lambda: T0)
    pacer.update(headers(limit, limit - 1, T0 + 10), T0)
    server_count = 1
    tickets = [pacer._claim(T0) for _ in range(12)]
    answers: dict[int, dict[str, str]] = {}
    for index in arrive:
        server_count += 1
        answers[tickets[index]] = headers(limit, limit - server_count, T0 + 10)
    for index in order:
        pacer.update(answers[tickets[index]], T0, ticket=tickets[index])
        estimate = pacer.estimated_remaining()
        assert estimate is not None and estimate <= limit - server_count
