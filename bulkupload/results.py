"""Every way a file can end, as the `FileResult` its manifest line and state row come from.

One constructor per outcome, so a stage says what happened (`skipped`, `failed`, `placed`)
and never how a result is spelled; the state store's part is the result's `Disposition`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .errors import BulkUploadError
from .messages import Planned, Stored
from .models import NOT_SENT, Disposition, FileEntry, FileResult, Placement, SkippedEntry, Status
from .state import StateRow, now_iso

__all__ = [
    "error_text",
    "failed",
    "failed_before_sending",
    "left_behind",
    "placed",
    "skipped",
    "stored_only",
    "unplaced",
    "walk_skip",
]


def error_text(exc: BaseException) -> str:
    """An error as one line for the manifest: ours say what happened; anything else is named."""
    text = str(exc) if isinstance(exc, BulkUploadError) else f"internal error: {type(exc).__name__}"
    if not isinstance(exc, BulkUploadError) and str(exc):
        text += f": {exc}"
    return " ".join((text or type(exc).__name__).split())  # one line, whatever a server sent


def _placement(row: StateRow | None) -> Placement | None:
    if row is None or (row.file_id is None and row.folder_id is None):
        return None
    return Placement(row.file_id, row.folder_id, row.version)


def _of(
    item: Planned | FileEntry,
    status: Status,
    disposition: Disposition,
    **fields: Any,
) -> FileResult:
    """A result for `item`'s file, started when it was planned (now for a bare entry)."""
    entry = item.entry if isinstance(item, Planned) else item
    started = item.started_at if isinstance(item, Planned) and item.started_at else now_iso()
    return FileResult(
        rel=entry.rel,
        size=entry.size,
        mtime_ns=entry.mtime_ns,
        status=status,
        disposition=disposition,
        started_at=fields.pop("started_at", None) or started,
        finished_at=now_iso(),
        **fields,
    )


def walk_skip(item: SkippedEntry) -> FileResult:
    """Found by the walk but not a file to send (filtered, special, unreadable directory...)."""
    stamp = now_iso()
    status = Status.FAILED if item.failed else Status.SKIPPED
    return FileResult(
        item.rel, None, None, status, Disposition.KEEP, error=item.reason,
        started_at=stamp, finished_at=stamp,
    )  # fmt: skip


def skipped(
    entry: FileEntry,
    reason: str,
    *,
    prior: StateRow | None = None,
    md5: str | None = None,
    started_at: str | None = None,
) -> FileResult:
    """Not sent, on purpose: the state row stays, the line repeats what it knows (a stop's
    unsent files take this line too, as failures: `left_behind`)."""
    return _of(
        entry,
        Status.SKIPPED,
        Disposition.KEEP,
        md5=md5 or (prior.md5 if prior else None),
        upload_uuid=prior.upload_uuid if prior else None,
        error=reason,
        started_at=started_at,
        placement=_placement(prior),
    )


def failed(item: Planned | FileEntry, exc: BaseException | str, *, attempts: int = 0) -> FileResult:
    """This file failed; the run goes on. The state row says failed (Procore identity kept)."""
    return _of(
        item,
        Status.FAILED,
        Disposition.FAILED,
        md5=item.md5 if isinstance(item, Planned) else None,
        attempts=attempts,
        error=exc if isinstance(exc, str) else error_text(exc),
    )


def failed_before_sending(item: Planned, exc: BaseException | str) -> FileResult:
    """This file failed before this run sent a byte of it. Bytes an earlier run stored and
    never placed (`item.resume`) stay on record, 'sent' with their deadline: they may even be
    placed already (a run killed after the attach, before its record), which only the next
    run's look at Procore can tell; a 'failed' row would have them sent and placed again."""
    result = failed(item, exc)
    return result if item.resume is None else replace(result, disposition=Disposition.KEEP)


def _from_stored(stored: Stored, status: Status, disposition: Disposition) -> FileResult:
    return _of(
        stored.item,
        status,
        disposition,
        md5=stored.md5,
        upload_uuid=stored.upload_id,
        attempts=stored.attempts,
        sent=stored.sent,
    )


def placed(stored: Stored, placement: Placement, *, status: Status = Status.UPLOADED) -> FileResult:
    """The bytes are stored and placed (or, with `Status.SKIPPED`, left out by a conflict rule)."""
    return replace(_from_stored(stored, status, Disposition.DONE), placement=placement)


def _deadline(stored: Stored, lifetime: float) -> float:
    return stored.expires_at if stored.expires_at is not None else stored.stored_at + lifetime


def stored_only(stored: Stored, *, lifetime: float) -> FileResult:
    """Uploaded to storage, not placed (`--no-attach`, or not yet): the state keeps it 'sent'
    with the time Procore deletes it (the protocol's word, else `lifetime` after storing)."""
    result = _from_stored(stored, Status.UPLOADED, Disposition.SENT)
    return replace(result, expires_at=_deadline(stored, lifetime))


def unplaced(stored: Stored, why: str, *, lifetime: float) -> FileResult:
    """Stored but placing failed: the file failed, and the state keeps the stored bytes (until
    Procore deletes them) so the next run places them without sending them again."""
    result = _from_stored(stored, Status.FAILED, Disposition.SENT)
    return replace(result, error=why, expires_at=_deadline(stored, lifetime))


def left_behind(item: Planned | FileEntry | SkippedEntry, why: str, *, sending: bool) -> FileResult:
    """A file a stop left without an outcome: not sent (the next run sends it), or aborted while
    its bytes were on their way (a failure)."""
    if isinstance(item, SkippedEntry):
        return walk_skip(item)
    if sending:
        return _of(item, Status.FAILED, Disposition.KEEP, error=f"aborted mid-upload: {why}")
    # Not skipped (that means "on purpose"): not done, so failed; the state row stays as it
    # was, and the summary counts these apart (newcomer audit W11).
    entry = item.entry if isinstance(item, Planned) else item
    prior = item.prior if isinstance(item, Planned) else None
    return replace(
        skipped(entry, f"{NOT_SENT} {why} (the next run sends it)", prior=prior),
        status=Status.FAILED,
    )
