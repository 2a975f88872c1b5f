"""The run's typed event stream: what happened, once, for every subscriber.

The run's statistics (`stats.Tally`), the progress display, the JSON log and an embedding
program (`upload(settings, events=...)`) each subscribe to the same events. Events are emitted
on the event loop only, so a subscriber never needs a lock; a subscriber must not block.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from .models import FileResult
from .retry import upcoming_wait

__all__ = [
    "ApiPaced",
    "BytesMoved",
    "Event",
    "EventBus",
    "FileDone",
    "FilesFound",
    "Notice",
    "Retried",
    "SendPlanned",
    "Subscriber",
    "WalkEnded",
]

log = logging.getLogger("bulkupload")


@dataclass(frozen=True, slots=True)
class FilesFound:
    """The walk handed over `files` more entries (regular files or not) of `size` bytes."""

    files: int
    size: int


@dataclass(frozen=True, slots=True)
class SendPlanned:
    """The plan decided to send `files` more files of `size` bytes (not skipped, not refused):
    what is left to do, for an ETA that counts no unchanged file."""

    files: int
    size: int


@dataclass(frozen=True, slots=True)
class WalkEnded:
    """The walk is over; `complete` is False when a stop cut it short."""

    complete: bool


@dataclass(frozen=True, slots=True)
class BytesMoved:
    """File bytes handed to storage; negative when a failed attempt's bytes must go again."""

    size: int


@dataclass(frozen=True, slots=True)
class Retried:
    """One retry of kind `kind` (a `retry.RetryPolicy` name: api, storage, part, renewal, ...);
    `what` says what was retried and why, for logs; `wait` the seconds until the next try."""

    kind: str
    what: str = ""
    wait: float | None = None


@dataclass(frozen=True, slots=True)
class ApiPaced:
    """Procore's rate limit holds the next API call for `wait` seconds (the pacer spends the
    budget the headers report); `0.0` when calls go again."""

    wait: float


@dataclass(frozen=True, slots=True)
class FileDone:
    """A file's outcome, once its manifest line is written."""

    result: FileResult


@dataclass(frozen=True, slots=True)
class Notice:
    """A line for the person running the command (a failure, a warning, a stop)."""

    text: str


Event = FilesFound | SendPlanned | WalkEnded | BytesMoved | Retried | FileDone | Notice | ApiPaced
Subscriber = Callable[[Event], None]


class EventBus:
    """Hands each event to every subscriber in turn. A subscriber that raises is logged and
    kept: a display or a host program's callback must not break the run."""

    def __init__(self, *subscribers: Subscriber) -> None:
        self._subscribers: list[Subscriber] = list(subscribers)

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def emit(self, event: Event) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:
                log.exception("an event subscriber failed on %s", type(event).__name__)

    def retried(self, kind: str, what: str = "") -> None:
        """A retry, with the wait its policy chose when announced from an `on_retry` callback."""
        self.emit(Retried(kind, what, upcoming_wait()))
