"""The run's statistics, kept by subscribing to its events, and its outcome.

Only the event loop writes a `Tally` (events are emitted there); the progress display reads it.
Memory stays bounded whatever the tree: failures and paths gone from SOURCE are kept up to
`KEPT_FAILURES` / `KEPT_GONE` for the summary and report, with exact counts (the manifest has
every line).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .events import (
    ApiPaced,
    BytesMoved,
    Event,
    FileDone,
    FilesFound,
    Retried,
    SendPlanned,
    WalkEnded,
)
from .models import NOT_SENT, WOULD_UPLOAD, Disposition, FileResult, Status, printable

__all__ = ["KEPT_FAILURES", "KEPT_GONE", "RunOutcome", "Tally", "summary_dict"]

#: How many failures and files gone from SOURCE a run keeps in memory (and lists in the
#: report); the manifest and the state store have them all, and the counts are exact.
KEPT_FAILURES = 1000
KEPT_GONE = 1000


@dataclass(slots=True)
class Tally:
    """Running totals of a run; the summary and the report read them too."""

    found: int = 0
    found_bytes: int = 0
    to_send: int = 0  # files the plan decided to send, and their bytes
    to_send_bytes: int = 0
    walk_done: bool = False
    uploaded: int = 0
    placed_only: int = 0  # uploaded ones whose bytes an earlier run sent (placed now)
    skipped: int = 0
    failed: int = 0
    not_started: int = 0  # failed ones a stop left unsent (error NOT_SENT): the next run sends them
    bytes_uploaded: int = 0
    bytes_in_flight: int = 0
    started: float = field(default_factory=time.monotonic)
    skip_reasons: Counter[str] = field(default_factory=Counter)
    # Every retry of the run by kind (a retry policy's name: api, storage, part, renewal, ...).
    retries_by_kind: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)  # the first KEPT_FAILURES
    # Uploads this run stored and left unplaced (--no-attach, or placing failed), and the
    # earliest time Procore deletes one of them (Unix seconds).
    unplaced: int = 0
    first_deadline: float | None = None
    # Files the plan sent on that have their outcome, and the bytes of those that will not be
    # sent after all (failed, left by a stop, a conflict rule): what is left to send is
    # to_send_bytes - dropped_bytes - what was sent.
    planned_done: int = 0
    dropped_bytes: int = 0
    # Procore's rate limit: when the held API call goes (monotonic; None: not held), and the
    # seconds calls were held in all.
    api_held_until: float | None = None
    api_wait_s: float = 0.0
    _held_since: float | None = None

    def on_event(self, event: Event) -> None:
        """The subscriber: every count comes from the run's events."""
        if isinstance(event, BytesMoved):
            self.bytes_in_flight += event.size
        elif isinstance(event, FileDone):
            self.count(event.result)
        elif isinstance(event, FilesFound):
            self.found += event.files
            self.found_bytes += event.size
        elif isinstance(event, SendPlanned):
            self.to_send += event.files
            self.to_send_bytes += event.size
        elif isinstance(event, Retried):
            self.retries_by_kind[event.kind] += 1
        elif isinstance(event, WalkEnded):
            self.walk_done = event.complete
        elif isinstance(event, ApiPaced):
            self.paced(event.wait, time.monotonic())

    def paced(self, wait: float, now: float) -> None:
        if wait > 0:
            self.api_held_until = now + wait
            if self._held_since is None:
                self._held_since = now
        else:
            self.api_held_until = None
            if self._held_since is not None:
                self.api_wait_s += now - self._held_since
                self._held_since = None

    @property
    def retries(self) -> int:
        return sum(self.retries_by_kind.values())

    @property
    def done(self) -> int:
        return self.uploaded + self.skipped + self.failed

    @property
    def open_planned(self) -> int:
        """Files planned to send without an outcome yet: in flight, or queued for a slot."""
        return max(self.to_send - self.planned_done, 0)

    def _settle(self, result: FileResult) -> None:
        """Count the outcome of a file the plan sent on. A FileDone does not say whether the
        plan sent it on: these outcomes only come after it did (a stop's "not sent" also comes
        to files never planned, so it counts only while planned files are open)."""
        error = result.error or ""
        sent = result.status is Status.UPLOADED or result.disposition is Disposition.SENT
        planned = (
            sent
            or (result.status is Status.SKIPPED and result.disposition is Disposition.DONE)
            or (result.status is Status.FAILED and result.disposition is Disposition.FAILED)
            or error.startswith(("aborted mid-upload", "dry run:"))
            or (error.startswith(NOT_SENT) and self.open_planned > 0)
        )
        if planned:
            self.planned_done += 1
            if result.status is not Status.UPLOADED:
                self.dropped_bytes += result.size or 0

    def count(self, result: FileResult) -> None:
        self._settle(result)
        if result.disposition is Disposition.SENT:
            self.unplaced += 1
            if result.expires_at is not None:
                first = self.first_deadline
                self.first_deadline = min(first, result.expires_at) if first else result.expires_at
        if result.status is Status.UPLOADED:
            self.uploaded += 1
            if result.resumed:
                self.placed_only += 1  # no byte moved in this run
            else:
                moved = result.sent if result.sent is not None else result.size
                self.bytes_uploaded += moved or 0
        elif result.status is Status.SKIPPED:
            self.skipped += 1
            self.skip_reasons[result.error or "skipped"] += 1
        else:
            self.failed += 1
            if (result.error or "").startswith(NOT_SENT):
                self.not_started += 1  # a stop left it unsent: counted, not listed one by one
                return
            if len(self.failures) < KEPT_FAILURES:
                self.failures.append((result.rel, result.error or "failed"))

    def rate(self, now: float | None = None) -> float:
        """Bytes per second since the start, counting what is on the wire now."""
        elapsed = max((time.monotonic() if now is None else now) - self.started, 1e-6)
        return (self.bytes_uploaded + self.bytes_in_flight) / elapsed


@dataclass(slots=True)
class RunOutcome:
    """What the CLI needs to print the summary and pick the exit code."""

    tally: Tally
    duration: float
    stopped_by: int | None = None  # the signal number of a stop (SIGINT for a stop event)
    gone: list[str] = field(default_factory=list)  # the first KEPT_GONE, by path
    gone_count: int = 0
    api_calls: int = 0
    rate_limited: int = 0
    run_id: int | None = None
    notes: list[str] = field(default_factory=list)  # a destination's own report, as lines
    time_limited: bool = False  # stopped by --max-duration / --stop-at: the next run continues
    # Per route: exchanges, errors, 429s (`ApiStats.usage`); the rate limits the headers
    # reported (`RateLimitPacer.known`); the plan made after the walk (`pipeline.census`).
    api_usage: dict[str, dict[str, int]] = field(default_factory=dict)
    api_limits: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] | None = None
    # Uploads of this destination stored (by this run or an earlier one) and still unplaced,
    # as the state knows them, and the earliest time Procore deletes one (Unix seconds).
    unplaced_stored: int = 0
    unplaced_deadline: float | None = None

    @property
    def failures(self) -> list[tuple[str, str]]:
        return self.tally.failures


def summary_dict(outcome: RunOutcome) -> dict[str, Any]:
    tally = outcome.tally
    # A dry run's files it would send are no skips (newcomer audit W11).
    would = tally.skip_reasons.get(WOULD_UPLOAD, 0)
    return {
        "files_found": tally.found,
        "uploaded": tally.uploaded,
        "uploaded_by_earlier_runs": tally.placed_only,
        "would_upload": would,
        "skipped": tally.skipped - would,
        "failed": tally.failed,
        "not_started": tally.not_started,
        "bytes_uploaded": tally.bytes_uploaded,
        "duration_s": round(outcome.duration, 3),
        "throughput_bytes_per_s": round(tally.bytes_uploaded / max(outcome.duration, 1e-6)),
        "files_per_s": round(tally.done / max(outcome.duration, 1e-6), 2),
        "api_calls": outcome.api_calls,
        "rate_limited_429": outcome.rate_limited,
        "retries": tally.retries,
        "retries_by_kind": dict(sorted(tally.retries_by_kind.items())),
        "interrupted": outcome.stopped_by is not None,
        "stopped_by_time_limit": outcome.time_limited,
        "failures": [{"path": printable(rel), "error": err} for rel, err in outcome.failures],
        "failures_listed": len(outcome.failures),
        "gone_from_source": [printable(rel) for rel in outcome.gone],
        "gone_from_source_total": outcome.gone_count,
        "unplaced_uploads": tally.unplaced,
        "unplaced_in_state": outcome.unplaced_stored,
        "api_wait_s": round(tally.api_wait_s, 1),
        "api_usage": outcome.api_usage,
        "api_limits": outcome.api_limits,
        "plan": outcome.plan,
        "unplaced_first_deadline": (
            None
            if tally.first_deadline is None
            else datetime.fromtimestamp(tally.first_deadline, UTC).isoformat(timespec="seconds")
        ),
    }
