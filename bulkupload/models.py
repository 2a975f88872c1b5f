"""The small frozen records that flow between pipeline stages."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal


class Status(enum.StrEnum):
    UPLOADED = "uploaded"
    SKIPPED = "skipped"
    FAILED = "failed"
    # State store only, never in the manifest: the bytes are stored but not yet attached, so a
    # run killed before attaching can attach them next time instead of sending them again.
    SENT = "sent"


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
class Placement:
    """Where a file landed in Procore, as far as its destination tells (Documents: the file,
    its folder and the version number); `action` says what placing did."""

    file_id: int | None = None
    folder_id: int | None = None
    version: int | None = None
    action: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """Where uploads go: a project or a company (company-level Documents)."""

    kind: Literal["project", "company"]
    id: int

    def uploads_path(self, api_version: str = "1.1") -> str:
        collection = "projects" if self.kind == "project" else "companies"
        return f"/rest/v{api_version}/{collection}/{self.id}/uploads"

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
class UploadInstruction:
    """Procore's answer to Create Upload: where and how to POST the bytes.

    `fields` keeps the server's order; `created` is `time.monotonic()` at creation.
    """

    uuid: str
    url: str
    fields: tuple[tuple[str, str], ...]
    created: float


@dataclass(frozen=True, slots=True)
class StorageReceipt:
    """What the storage host said after a successful POST."""

    status: int
    etag: str | None
    md5: str


@dataclass(slots=True)
class FileResult:
    """The outcome of one file: one manifest line, one state row."""

    rel: str
    size: int | None
    mtime: float | None
    status: Status
    md5: str | None = None
    upload_uuid: str | None = None
    attempts: int = 0
    error: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    mtime_ns: int | None = None
    file_id: int | None = None
    folder_id: int | None = None
    version: int | None = None
    extra: dict[str, object] = field(default_factory=dict)
    # False for outcomes that must not overwrite what the state store knows (unchanged files,
    # interrupted or dry-run entries): their row keeps its uploaded/sent status and uuid.
    record_state: bool = True
    # What the state store should remember when it differs from the manifest's status: an upload
    # made with --no-attach is "uploaded" for the user but "sent" (not yet attached) for the state.
    state_status: Status | None = None


def printable(text: str) -> str:
    """Text with surrogate-escaped bytes shown as ``\\xNN`` so it is always valid UTF-8."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
