"""Telling our own earlier work from someone else's in Documents, from published fields only.

A write whose answer went missing (a lost connection, a 5xx, an answer of a shape Procore does
not publish, or a refusal it does not word) is settled by looking at Procore's state: Procore
shows no upload uuid on a version, so a version is ours when its number, size, creation time
and creator match what our write would have made. Procore publishes neither file write as
safe to repeat (nor that an upload is refused once attached), so a write is sent again only
once that look shows it did not happen (`settled_write`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bulkupload.errors import (
    ApiError,
    AuthError,
    BulkUploadError,
    NetworkError,
    NotFound,
    RateLimited,
)
from bulkupload.retry import OnRetry, RetryPolicy, call_with_retries

from .remote import RemoteFile

__all__ = [
    "CLOCK_SKEW",
    "WriteAttempt",
    "ambiguous",
    "latest_is_ours",
    "renamed_from",
    "settled_write",
]

T = TypeVar("T")

# Errors that say nothing was done (a 429 is refused before any work), or that nothing can be
# looked at: never ambiguous.
_UNAMBIGUOUS = (AuthError, NotFound, RateLimited)
#: Procore's clock and ours may differ; a version created this long before our call is not ours.
CLOCK_SKEW = 300.0


def ambiguous(exc: BulkUploadError) -> bool:
    """Whether a failed write may still have happened (look at Procore's state to know)."""
    if isinstance(exc, _UNAMBIGUOUS):
        return False
    return isinstance(exc, ApiError | NetworkError)


@dataclass(frozen=True, slots=True)
class WriteAttempt:
    """What we knew before a write, to recognise its effect in Procore's state afterwards."""

    size: int
    since: float  # our clock when the write began, minus the allowed skew
    me: int | None
    known_version: int  # the target file's latest version number before the write (0: no file)

    def made(self, remote: RemoteFile) -> bool:
        """Is `remote`'s latest version the one our write created?"""
        if remote.latest_version != self.known_version + 1 or remote.size != self.size:
            return False
        if remote.latest_created_at is not None and remote.latest_created_at < self.since:
            return False
        return self.me is None or remote.latest_created_by in (None, self.me)


def latest_is_ours(remote: RemoteFile, *, size: int, sent_at: float, me: int | None) -> bool:
    """Is `remote`'s latest version an upload of ours of `size` bytes, sent at `sent_at`?

    For bytes an earlier run stored and may have attached just before it died: a version of
    that size created since then, by us when we know who we are, is taken as ours.
    """
    created = remote.latest_created_at
    if remote.size != size or created is None or created < sent_at - CLOCK_SKEW:
        return False
    return me is None or remote.latest_created_by in (None, me)


def renamed_from(name: str, candidate: str) -> bool:
    """``report (3).pdf`` is what Procore's unique_name makes of ``report.pdf``."""
    stem, dot, ext = name.rpartition(".")
    if not stem:
        stem, dot, ext = name, "", ""
    head = f"{stem} ("
    tail = f"){dot}{ext}"
    if not (candidate.startswith(head) and candidate.endswith(tail)):
        return False
    return candidate[len(head) : len(candidate) - len(tail)].isdigit()


async def settled_write(
    write: Callable[[], Awaitable[T]],
    landed: Callable[[BulkUploadError], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: OnRetry | None = None,
) -> T:
    """A write Procore does not publish as safe to repeat, retried under `policy` only once
    Procore's state shows it did not happen: `write` sends it once (`retry=False`); after an
    ambiguous failure `landed(exc)` looks at Procore and returns what the write made, or raises
    `exc` itself when nothing is there (which the policy may retry). Any other error of that
    look (the listing failing too, Procore gone) ends the write as it is: not knowing, it is
    never sent again."""

    async def attempt() -> T:
        try:
            return await write()
        except BulkUploadError as exc:
            if not ambiguous(exc):
                raise
            try:
                return await landed(exc)
            except BulkUploadError as other:
                if other is exc:
                    raise
                raise _Unsettled(other) from other

    try:
        return await call_with_retries(policy, attempt, on_retry=on_retry)
    except _Unsettled as unsettled:
        raise unsettled.error from unsettled.error.__cause__


class _Unsettled(Exception):
    """Carries an error of the look at Procore past the write's retries (which would send the
    write again) to its caller."""

    def __init__(self, error: BulkUploadError) -> None:
        super().__init__(str(error))
        self.error = error
