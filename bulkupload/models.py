"""The domain's small frozen records: where files go, what the walk finds, how each file ended."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

OnConflict = Literal["version", "skip", "rename"]
"""A file of the same name is already in Procore: add a version, leave it, or take a new name."""


NOT_SENT = "not sent:"  # how the error of a file a stop left unsent begins (a failure, not a skip)
WOULD_UPLOAD = "dry run: would upload"  # a dry run's reason for a file it would send


class Status(enum.StrEnum):
    """A file's outcome as the manifest and the user see it."""

    UPLOADED = "uploaded"
    SKIPPED = "skipped"
    FAILED = "failed"


class Disposition(enum.StrEnum):
    """What the state store does with a file's row once the file is done.

    KEEP   the row stays as it is (unchanged files, interrupted or dry-run entries)
    SENT   the bytes are stored but not placed: the next run places them without sending again
    DONE   the row takes the manifest's status (uploaded, or skipped on a conflict rule)
    FAILED the row says failed (Procore identity from earlier runs is kept)
    """

    KEEP = "keep"
    SENT = "sent"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Target:
    """Where uploads go: a project or a company (company-level Documents)."""

    kind: Literal["project", "company"]
    id: int

    @property
    def key(self) -> str:
        """Stable text used to key the state store, e.g. ``project:42``."""
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A regular file found by the walk.

    `path` is the OS path (str, surrogate-escaped for undecodable bytes: open it as is).
    `rel` is the path relative to its SOURCE, `/`-separated, also surrogate-escaped;
    `display_rel` is a printable form (undecodable bytes as \\xNN) for the manifest and logs.
    """

    path: str
    rel: str
    size: int
    mtime_ns: int
    dev: int = 0  # the filesystem's `st_dev`, 0 when not known (protocols.cached)
    # False when the walk found we may not read it: a file to send then fails before its
    # folder is made or an upload created for it (an unchanged one is skipped as ever).
    readable: bool = True

    @property
    def display_rel(self) -> str:
        return printable(self.rel)

    @property
    def name(self) -> str:
        return self.rel.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class SkippedEntry:
    """Something the walk found but will not upload (FIFO, socket, device, symlink loop, ...).

    `failed` marks entries that are errors (unreadable directory, symlink loop) rather than
    deliberate skips: they count as failures for the exit code.
    """

    path: str
    rel: str
    reason: str
    failed: bool = False

    @property
    def display_rel(self) -> str:
        return printable(self.rel)


WalkItem = FileEntry | SkippedEntry


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a file landed in Procore, as far as its destination tells (Documents: the file,
    its folder and the version number; Document Management: the document upload and the
    revision); `action` says what placing did."""

    file_id: int | None = None
    folder_id: int | None = None
    version: int | None = None
    action: str | None = None
    document_upload_id: str | None = None
    revision_id: str | None = None


@dataclass(frozen=True, slots=True)
class FileResult:
    """The outcome of one file: one manifest line, and what the state store does with its row."""

    rel: str
    size: int | None
    mtime_ns: int | None
    status: Status
    disposition: Disposition = Disposition.DONE
    md5: str | None = None
    upload_uuid: str | None = None
    attempts: int = 0
    error: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    placement: Placement | None = None
    # Stored but not placed: when Procore deletes those bytes (Unix seconds), if known.
    expires_at: float | None = None
    # Placed from bytes an earlier run stored: nothing was sent by this run.
    resumed: bool = False
    # File bytes this run moved, when not the whole file (a v2.1 upload resumed part by part).
    sent: int | None = None

    @property
    def mtime(self) -> float | None:
        return None if self.mtime_ns is None else self.mtime_ns / 1_000_000_000

    @property
    def state_status(self) -> str | None:
        """The status the state row takes (`None`: leave the row alone)."""
        if self.disposition is Disposition.KEEP:
            return None
        if self.disposition is Disposition.SENT:
            return "sent"
        if self.disposition is Disposition.FAILED:
            return "failed"
        return self.status.value


def printable(text: str) -> str:
    """Text with surrogate-escaped bytes shown as ``\\xNN`` so it is always valid UTF-8."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
