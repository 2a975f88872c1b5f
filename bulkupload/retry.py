"""Every retry policy in one place, named: what is retried, how often, how long to wait.

A policy's `name` is the kind its retries are counted under (summary, report, events):

    api            an API call sent again (network error, 5xx, 429)
    storage        a storage POST attempt of a whole file sent again
    part           one segment or part PUT sent again
    renewal        fresh upload instructions: the old ones expired or were about to
    changed_file   a file that changed while it was sent, read again from a fresh stat
    poll           an upload's status asked again while Procore is still processing it
    recreate       a new upload: Procore's processing failed with a retryable error, or an
                   upload in progress (a resume) was gone or expired

Callers hand one attempt to ``await call_with_retries(policy, attempt)``; the attempt must
rebuild anything that cannot be re-sent (request bodies, open files). With the test switch
(`set_instant` or ``BULKUPLOAD_INSTANT_RETRIES=1``) every policy keeps its decisions and never
sleeps, so a test suite does not wait out backoff or ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import TypeVar

import tenacity
from tenacity import RetryCallState

from bulkupload.errors import (
    ApiUnavailable,
    FileChanged,
    NetworkError,
    PolicyExpired,
    ProcessingFailed,
    RateLimited,
    StorageUnavailable,
    UploadProcessing,
)

__all__ = [
    "INSTANT",
    "INSTANT_ENV",
    "SERVER_WAIT_CAP",
    "TRANSIENT",
    "OnRetry",
    "Policies",
    "RetryPolicy",
    "call_with_retries",
    "compute_wait",
    "retrying",
    "set_instant",
]

T = TypeVar("T")

#: Errors that say "try again later"; everything else is a definite answer.
TRANSIENT: tuple[type[BaseException], ...] = (
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
    """How often and how long to retry what.

    `attempts` counts the first try; `total` caps the time spent on all attempts (seconds);
    `initial`/`maximum` bound the exponential backoff, plus up to `jitter` seconds of randomness.
    `backoff=False` never sleeps (a renewal or a re-read needs no wait).
    """

    name: str = "api"
    retry_on: tuple[type[BaseException], ...] = TRANSIENT
    attempts: int = 6
    initial: float = 0.5
    maximum: float = 30.0
    total: float = 900.0
    jitter: float = 0.5
    backoff: bool = True


@dataclass(frozen=True)
class Policies:
    """The named policies of one run; `retries` (the `--retries` flag) sets the transient ones."""

    api_call: RetryPolicy
    storage_attempt: RetryPolicy
    segment_part: RetryPolicy
    renew_instruction: RetryPolicy
    file_changed: RetryPolicy
    poll_status: RetryPolicy
    recreate_upload: RetryPolicy

    @classmethod
    def for_run(cls, retries: int = 5, *, backoff: bool = True) -> Policies:
        attempts = retries + 1
        return cls(
            api_call=RetryPolicy("api", attempts=attempts, backoff=backoff),
            storage_attempt=RetryPolicy("storage", attempts=attempts, backoff=backoff),
            segment_part=RetryPolicy("part", attempts=attempts, backoff=backoff),
            # Procore's instructions last an hour: three fresh sets in a row that all expire
            # before their bytes arrive means storage is far too slow, not bad luck.
            renew_instruction=RetryPolicy(
                "renewal", retry_on=(PolicyExpired,), attempts=4, backoff=False
            ),
            # A file being written while we read it: one more try from a fresh stat, then fail.
            file_changed=RetryPolicy(
                "changed_file", retry_on=(FileChanged,), attempts=2, backoff=False
            ),
            # Procore scans an upload before it is available; a big file can take minutes.
            poll_status=RetryPolicy(
                "poll",
                retry_on=(UploadProcessing,),
                attempts=120,
                initial=0.5,
                maximum=15.0,
                total=1800.0,
                backoff=backoff,
            ),
            recreate_upload=RetryPolicy(
                "recreate", retry_on=(ProcessingFailed,), attempts=3, backoff=backoff
            ),
        )


#: A policy for tests: the same retry decisions, no sleeping.
INSTANT = RetryPolicy(backoff=False)

INSTANT_ENV = "BULKUPLOAD_INSTANT_RETRIES"
_instant = os.environ.get(INSTANT_ENV) == "1"


def set_instant(on: bool) -> None:
    """Turn every backoff sleep of this process off (tests) or back on. Never in production."""
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


OnRetry = Callable[[BaseException], None]


# The wait before the retry being announced, for the `on_retry` callback's event and log line.
_next_wait: ContextVar[float | None] = ContextVar("bulkupload_next_wait", default=None)


def upcoming_wait() -> float | None:
    """Inside an `on_retry` callback: the seconds until the next try (None elsewhere)."""
    return _next_wait.get()


def _announce(on_retry: OnRetry | None, exc: BaseException, wait: float | None) -> None:
    if on_retry is None:
        return
    token = _next_wait.set(wait)
    try:
        on_retry(exc)
    finally:
        _next_wait.reset(token)


def retrying(
    policy: RetryPolicy, *, on_retry: OnRetry | None = None, first_attempt: int = 1
) -> tenacity.AsyncRetrying:
    """An `AsyncRetrying` that retries only `policy.retry_on` and re-raises the last error.

    `on_retry(exc)` is called before each sleep (to count the retry or log it).
    `first_attempt` numbers the first attempt of this retrier, when earlier ones were made
    without it.
    """

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        return compute_wait(policy, state.attempt_number + first_attempt - 1, exc)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        if exc is not None:
            wait = state.next_action.sleep if state.next_action is not None else None
            _announce(on_retry, exc, wait)

    return tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception_type(policy.retry_on),
        wait=wait,
        stop=(
            tenacity.stop_after_attempt(policy.attempts) | tenacity.stop_before_delay(policy.total)
        ),
        reraise=True,
        before_sleep=before_sleep,
    )


async def call_with_retries(
    policy: RetryPolicy, attempt: Callable[[], Awaitable[T]], *, on_retry: OnRetry | None = None
) -> T:
    """`await attempt()` under `policy`: the decisions of `retrying`, but the first try runs bare.

    Nearly every call succeeds at once, and building tenacity's retrier for each of them was
    measurable CPU per file (about 8 % of a small-file upload); it is built after a failure only.
    """
    started = time.monotonic()
    try:
        return await attempt()
    except policy.retry_on as exc:
        if policy.attempts <= 1 or time.monotonic() - started >= policy.total:
            raise
        wait = compute_wait(policy, 1, exc)
        _announce(on_retry, exc, wait)
        await asyncio.sleep(wait)
    rest = replace(
        policy,
        attempts=policy.attempts - 1,
        total=max(policy.total - (time.monotonic() - started), 0.0),
    )
    async for retry in retrying(rest, on_retry=on_retry, first_attempt=2):
        with retry:
            return await attempt()
    raise AssertionError("unreachable: tenacity re-raises the last error")
