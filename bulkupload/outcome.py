"""Per-file outcomes: the job record a file carries through the pipeline, the run's outcome,
and the small pure pieces that turn them into manifest and report data."""

from __future__ import annotations

import datetime as dt
import hashlib
import mimetypes
import os
from dataclasses import dataclass, field
from typing import Any

from .config import Settings
from .errors import FileChanged, FileUnreadable, FileVanished
from .models import FileEntry, FileResult, SkippedEntry, Status, UploadInstruction, printable
from .procore.documents import RemoteFile
from .progress import Tally
from .state import StateRow


@dataclass(slots=True)
class Job:
    """One file on its way through the pipeline (mutable: stages fill it in)."""

    entry: FileEntry
    row: StateRow | None
    started_at: str = ""
    attempts: int = 0
    instruction: UploadInstruction | None = None
    folder_id: int | None = None
    existing: RemoteFile | None = None
    md5: str | None = None
    sent_bytes: int = 0


#: How many failures and files gone from SOURCE a run keeps in memory (and lists in the
#: report); the manifest and the state store have them all, and the counts are exact.
KEPT_FAILURES = 1000
KEPT_GONE = 1000


@dataclass(slots=True)
class RunOutcome:
    """What the CLI needs to print the summary and pick the exit code."""

    tally: Tally
    duration: float
    interrupted: int | None = None  # the signal number that stopped the run
    failures: list[tuple[str, str]] = field(default_factory=list)  # the first KEPT_FAILURES
    gone: list[str] = field(default_factory=list)  # the first KEPT_GONE, by path
    gone_count: int = 0
    api_calls: int = 0
    rate_limited: int = 0
    run_id: int | None = None


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def content_type_for(name: str) -> str:
    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


def skipped_result(item: SkippedEntry) -> FileResult:
    stamp = now_iso()
    return FileResult(
        rel=item.rel,
        size=None,
        mtime=None,
        status=Status.FAILED if item.failed else Status.SKIPPED,
        error=item.reason,
        started_at=stamp,
        finished_at=stamp,
    )


def state_key(settings: Settings) -> str:
    """The state remembers files per destination: the target, and the folder when attaching."""
    if settings.attach and settings.folder:
        return f"{settings.target.key}/{settings.folder}"
    return settings.target.key


def same_file(row: StateRow, entry: FileEntry) -> bool:
    return row.size == entry.size and row.mtime_ns == entry.mtime_ns


def restat(entry: FileEntry) -> FileEntry:
    try:
        st = os.stat(entry.path)
    except OSError as exc:
        raise FileChanged(f"changed during upload and now unreadable: {exc.strerror}") from exc
    return FileEntry(path=entry.path, rel=entry.rel, size=st.st_size, mtime_ns=st.st_mtime_ns)


def file_md5(path: str, shown: str) -> str:
    """MD5 of a whole file (for --checksum); OS errors become this file's problem."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    except FileNotFoundError:
        raise FileVanished(f"{shown}: no longer exists") from None
    except OSError as exc:
        raise FileUnreadable(f"{shown}: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())  # one line, whatever the server sent


def summary_dict(outcome: RunOutcome) -> dict[str, Any]:
    tally = outcome.tally
    return {
        "files_found": tally.found,
        "uploaded": tally.uploaded,
        "skipped": tally.skipped,
        "failed": tally.failed,
        "bytes_uploaded": tally.bytes_uploaded,
        "duration_s": round(outcome.duration, 3),
        "throughput_bytes_per_s": round(tally.bytes_uploaded / max(outcome.duration, 1e-6)),
        "files_per_s": round(tally.done / max(outcome.duration, 1e-6), 2),
        "api_calls": outcome.api_calls,
        "rate_limited_429": outcome.rate_limited,
        "retries": tally.retries,
        "retries_by_kind": dict(sorted(tally.retries_by_kind.items())),
        "interrupted": outcome.interrupted is not None,
        "failures": [{"path": printable(rel), "error": err} for rel, err in outcome.failures],
        "failures_listed": len(outcome.failures),
        "gone_from_source": [printable(rel) for rel in outcome.gone],
        "gone_from_source_total": outcome.gone_count,
    }
