"""`settled_write`: a write Procore does not publish as safe to repeat is sent again only after
a look at Procore showed it did not happen."""

from __future__ import annotations

import pytest

from bulkupload.errors import ApiUnavailable, BulkUploadError, NetworkError, RateLimited
from bulkupload.procore.ownership import settled_write
from bulkupload.retry import INSTANT


class Writes:
    """A write whose first `lost` tries fail ambiguously (a 502); then it succeeds."""

    def __init__(self, lost: int, first: BulkUploadError | None = None) -> None:
        self.sent, self.lost = 0, lost
        self.first = first or ApiUnavailable(502, "bad gateway")

    async def __call__(self) -> str:
        self.sent += 1
        if self.sent <= self.lost:
            raise self.first
        return "made"


async def test_a_write_not_found_in_procore_is_sent_again() -> None:
    write = Writes(lost=2)

    async def nothing_there(exc: BulkUploadError) -> str:
        raise exc

    assert await settled_write(write, nothing_there, INSTANT) == "made"
    assert write.sent == 3


async def test_a_write_found_in_procore_is_not_sent_again() -> None:
    write = Writes(lost=1)

    async def found(exc: BulkUploadError) -> str:
        return "found"

    assert await settled_write(write, found, INSTANT) == "found"
    assert write.sent == 1


@pytest.mark.parametrize(
    "trouble", [NetworkError("cannot reach Procore"), ApiUnavailable(503, "busy")]
)
async def test_a_look_that_fails_ends_the_write_unsent_again(trouble: BulkUploadError) -> None:
    """Was: the look's own (retryable) error sent the write again, unchecked."""
    write = Writes(lost=1)

    async def look_fails(exc: BulkUploadError) -> str:
        raise trouble

    with pytest.raises(type(trouble)) as caught:
        await settled_write(write, look_fails, INSTANT)
    assert caught.value is trouble
    assert write.sent == 1


async def test_a_429_is_no_ambiguity_and_is_sent_again_without_a_look() -> None:
    write = Writes(lost=1, first=RateLimited(429, "slow down", retry_after=0))
    looks = 0

    async def look(exc: BulkUploadError) -> str:
        nonlocal looks
        looks += 1
        raise exc

    assert await settled_write(write, look, INSTANT) == "made"
    assert (write.sent, looks) == (2, 0)
