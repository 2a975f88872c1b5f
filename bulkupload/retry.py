"""Every retry policy in one place: what is retried, how long to wait, when to give up.

Callers hand one attempt to ``await call_with_retries(policy, attempt)`` (or wrap it in
``async for attempt in retrying(policy): with attempt: ...``); the attempt must rebuild anything
that cannot be re-sent (request bodies, open files).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

import tenacity
from tenacity import RetryCallState

from bulkupload.errors import ApiUnavailable, NetworkError, RateLimited, StorageUnavailable

__all__ = [
    "INSTANT",
    "INSTANT_ENV",
    "RETRIED",
    "SERVER_WAIT_CAP",
    "RetryPolicy",
    "call_with_retries",
    "compute_wait",
    "retrying",
    "set_instant",
]

T = TypeVar("T")

#: The only errors worth another try; everything else is a definite answer.
RETRIED: tuple[type[BaseException], ...] = (
    NetworkError,
    ApiUnavailable,
    RateLimited,
    StorageUnavailable,
)

#: A wait the server asked for (Retry-After, X-Rate-Limit-Reset) is honoured up to this many
#: seconds, even beyond `RetryPolicy.maximum`: retrying earlier would only earn another 429.
SERVER_WAIT_CAP = 120.0


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    `attempts` counts the first try; `total` caps the time spent on all attempts (seconds);
    `initial`/`maximum` bound the exponential backoff, plus up to `jitter` seconds of randomness.
    `backoff=False` never sleeps (tests).
    """

    attempts: int = 6
    initial: float = 0.5
    maximum: float = 30.0
    total: float = 900.0
    jitter: float = 0.5
    backoff: bool = True


#: A policy for tests: same retry decisions, no sleeping.
INSTANT = RetryPolicy(backoff=False)

#: The test switch (as stamina's `set_testing`): with this variable set to 1 in the environment
#: of a process, or `set_instant(True)` in it, every policy keeps its decisions but never sleeps,
#: so a test suite does not wait out backoff and `Retry-After`. Never set in production.
INSTANT_ENV = "BULKUPLOAD_INSTANT_RETRIES"
_instant = os.environ.get(INSTANT_ENV) == "1"


def set_instant(on: bool) -> None:
    """Turn every backoff sleep of this process off (tests) or back on."""
    global _instant
    _instant = on


def compute_wait(policy: RetryPolicy, attempt: int, exc: BaseException | None) -> float:
    """Seconds to sleep after failed `attempt` (1-based) that raised `exc`."""
    if not policy.backoff or _instant:
        return 0.0
    exponential = policy.initial * 2.0 ** max(attempt - 1, 0)
    wait = min(policy.maximum, exponential + random.uniform(0.0, policy.jitter))
    server_wait = getattr(exc, "retry_after", None)
    if isinstance(server_wait, int | float) and server_wait > 0:
        wait = max(wait, min(float(server_wait), SERVER_WAIT_CAP))
    return wait


def retrying(
    policy: RetryPolicy,
    *,
    on_retry: Callable[[RetryCallState], None] | None = None,
    first_attempt: int = 1,
) -> tenacity.AsyncRetrying:
    """An `AsyncRetrying` that retries only `RETRIED` errors under `policy` and re-raises the last.

    `on_retry` is called before each sleep (for counting retries or logging). `first_attempt`
    numbers the first attempt of this retrier, when earlier ones were made without it.
    """

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        return compute_wait(policy, state.attempt_number + first_attempt - 1, exc)

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None:
            on_retry(state)

    return tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception_type(RETRIED),
        wait=wait,
        stop=(
            tenacity.stop_after_attempt(policy.attempts) | tenacity.stop_before_delay(policy.total)
        ),
        reraise=True,
        before_sleep=before_sleep,
    )


async def call_with_retries(
    policy: RetryPolicy,
    attempt: Callable[[], Awaitable[T]],
    *,
    on_retry: Callable[[], None] | None = None,
) -> T:
    """`await attempt()` under `policy`: the same decisions as `retrying`, but the first try runs
    bare. Nearly every call succeeds at once, and building tenacity's retrier for each of them was
    measurable CPU per file (about 8 % of a small-file upload); it is built only after a failure.
    """
    started = time.monotonic()
    try:
        return await attempt()
    except RETRIED as exc:
        if policy.attempts <= 1 or time.monotonic() - started >= policy.total:
            raise
        if on_retry is not None:
            on_retry()
        await asyncio.sleep(compute_wait(policy, 1, exc))
    rest = replace(
        policy,
        attempts=policy.attempts - 1,
        total=max(policy.total - (time.monotonic() - started), 0.0),
    )
    count = (lambda _: on_retry()) if on_retry is not None else None
    async for retry in retrying(rest, on_retry=count, first_attempt=2):
        with retry:
            return await attempt()
    raise AssertionError("unreachable: tenacity re-raises the last error")
