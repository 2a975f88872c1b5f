"""Retry policy: what is retried, how long it waits, when it gives up."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkupload.errors import (
    ApiError,
    ApiUnavailable,
    AuthError,
    FileChanged,
    NetworkError,
    NotFound,
    PolicyExpired,
    RateLimited,
    StorageError,
    StorageUnavailable,
)
from bulkupload.retry import INSTANT, SERVER_WAIT_CAP, RetryPolicy, compute_wait, retrying


async def run(policy: RetryPolicy, errors: list[BaseException]) -> tuple[int, int]:
    """Attempts made and retries reported while failing with `errors` then succeeding."""
    attempts = 0
    retries: list[int] = []
    async for attempt in retrying(policy, on_retry=lambda exc: retries.append(len(retries) + 1)):
        with attempt:
            attempts += 1
            if errors:
                raise errors.pop(0)
    return attempts, len(retries)


@pytest.mark.parametrize(
    "error",
    [
        NetworkError("reset"),
        ApiUnavailable(503, "down"),
        RateLimited(429, "slow down", retry_after=2),
        StorageUnavailable(500, "InternalError", "oops"),
    ],
)
async def test_transient_errors_are_retried(error: BaseException) -> None:
    assert await run(INSTANT, [error, error]) == (3, 2)


@pytest.mark.parametrize(
    "error",
    [
        ApiError(422, "name taken"),
        NotFound(404, "no project"),
        AuthError("refused"),
        PolicyExpired(403, "AccessDenied", "Policy expired"),
        StorageError(400, "EntityTooLarge", "too big"),
        FileChanged("changed"),
        ValueError("bug"),
    ],
)
async def test_definite_answers_are_not_retried(error: BaseException) -> None:
    with pytest.raises(type(error)):
        await run(INSTANT, [error])


async def test_gives_up_after_attempts_and_reraises_the_last_error() -> None:
    errors: list[BaseException] = [NetworkError(f"try {i}") for i in range(10)]
    with pytest.raises(NetworkError, match="try 2"):
        await run(RetryPolicy(attempts=3, backoff=False), errors)


async def test_gives_up_when_the_total_time_is_spent() -> None:
    policy = RetryPolicy(attempts=100, initial=0.01, maximum=0.01, jitter=0, total=0.05)
    errors: list[BaseException] = [NetworkError("x") for _ in range(100)]
    with pytest.raises(NetworkError):
        await run(policy, errors)
    assert len(errors) > 90  # stopped after a handful of 10 ms waits


def test_backoff_grows_exponentially_up_to_the_maximum() -> None:
    policy = RetryPolicy(initial=0.5, maximum=4, jitter=0)
    waits = [compute_wait(policy, n, NetworkError("x")) for n in range(1, 7)]
    assert waits == [0.5, 1, 2, 4, 4, 4]


def test_server_wait_wins_and_may_exceed_maximum_up_to_the_cap() -> None:
    policy = RetryPolicy(initial=0.5, maximum=4, jitter=0)
    assert compute_wait(policy, 1, RateLimited(429, "x", retry_after=60)) == 60
    assert compute_wait(policy, 1, ApiUnavailable(503, "x", retry_after=1e6)) == SERVER_WAIT_CAP
    assert compute_wait(policy, 3, RateLimited(429, "x", retry_after=0.1)) == 2


def test_instant_policy_never_sleeps() -> None:
    assert compute_wait(INSTANT, 5, RateLimited(429, "x", retry_after=60)) == 0


@given(
    attempt=st.integers(min_value=1, max_value=200),
    retry_after=st.none() | st.floats(min_value=-10, max_value=1e9),
)
def test_wait_is_always_bounded(attempt: int, retry_after: float | None) -> None:
    policy = RetryPolicy()
    wait = compute_wait(policy, attempt, RateLimited(429, "x", retry_after=retry_after))
    assert 0 <= wait <= max(policy.maximum, SERVER_WAIT_CAP)


# ── call_with_retries: the same decisions, the first try without tenacity ────────────────────
def test_the_run_policies_are_named_and_retry_what_their_name_says() -> None:
    from bulkupload.errors import ApiUnavailable, FileChanged, PolicyExpired
    from bulkupload.retry import Policies

    policies = Policies.for_run(2, backoff=False)
    assert policies.api_call.name == "api" and policies.api_call.attempts == 3
    assert policies.storage_attempt.attempts == policies.segment_part.attempts == 3
    assert ApiUnavailable in policies.api_call.retry_on
    # Renewal and a changed file are not transient errors: their policies name them alone.
    assert policies.renew_instruction.retry_on == (PolicyExpired,)
    assert policies.file_changed.retry_on == (FileChanged,)
    assert policies.file_changed.attempts == 2  # one more try from a fresh read, then fail
    names = {p.name for p in vars(policies).values()}
    assert names == {"api", "storage", "part", "renewal", "changed_file", "poll", "recreate"}


async def test_call_with_retries_counts_every_attempt_and_reraises_the_last() -> None:
    from bulkupload.errors import ApiUnavailable
    from bulkupload.retry import INSTANT, call_with_retries

    calls: list[int] = []
    retries: list[None] = []

    async def always_503() -> None:
        calls.append(1)
        raise ApiUnavailable(503, f"busy {len(calls)}")

    with pytest.raises(ApiUnavailable, match=f"busy {INSTANT.attempts}"):
        await call_with_retries(INSTANT, always_503, on_retry=lambda exc: retries.append(None))
    assert len(calls) == INSTANT.attempts
    assert len(retries) == INSTANT.attempts - 1


async def test_call_with_retries_recovers_and_leaves_other_errors_alone() -> None:
    from bulkupload.errors import ApiError, NetworkError
    from bulkupload.retry import INSTANT, call_with_retries

    answers = iter([NetworkError("reset"), NetworkError("reset"), "third time"])

    async def flaky() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert await call_with_retries(INSTANT, flaky) == "third time"

    tries: list[int] = []

    async def refused() -> None:
        tries.append(1)
        raise ApiError(422, "name taken")

    with pytest.raises(ApiError):
        await call_with_retries(INSTANT, refused)
    assert tries == [1]


async def test_call_with_retries_single_attempt_policy() -> None:
    from bulkupload.errors import NetworkError
    from bulkupload.retry import RetryPolicy, call_with_retries

    async def down() -> None:
        raise NetworkError("down")

    with pytest.raises(NetworkError):
        await call_with_retries(RetryPolicy(attempts=1, backoff=False), down)
