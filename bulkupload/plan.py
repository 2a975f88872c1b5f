"""The decision for each file found, made once, without I/O: skip it, resume it, or send it.

One home for the "unchanged" rule: a file is unchanged when its size is the state's and either
its content digest is (when the content was read: `--checksum`, or only the mtime changed; an
MD5, or a v2.1 file's parts digest: `bulkupload.digests`) or its mtime is.
"""

from __future__ import annotations

from dataclasses import dataclass

from .digests import parts_size
from .models import FileEntry
from .state import StateRow

__all__ = ["Send", "Skip", "decide", "needs_md5", "touched", "unchanged"]


@dataclass(frozen=True, slots=True)
class Skip:
    """Nothing to do for this file: `reason` says why, for the manifest."""

    reason: str


@dataclass(frozen=True, slots=True)
class Send:
    """Send this file; `resume` is the upload id of bytes an earlier run stored for this very
    content and never placed (the destination may place them instead of sending again)."""

    resume: str | None = None


def needs_md5(entry: FileEntry, row: StateRow | None, *, checksum: bool) -> bool:
    """Whether `decide` needs the file's content digest (its MD5, or the parts digest of a v2.1
    file in parts: `bulkupload.digests`, of the kind the state has): for a file of the same size
    as a stored one, with `--checksum` always, else when only its mtime changed (a `touch`, a
    copy of the share, a checkout: the same bytes must not become a new version). Another size
    is a change without reading a byte."""
    if row is None or row.size != entry.size or row.md5 is None:
        return False
    return checksum or (row.mtime_ns != entry.mtime_ns and row.status in ("uploaded", "sent"))


def touched(entry: FileEntry, row: StateRow | None, md5: str | None) -> bool:
    """Only the mtime changed: the content read is the content stored (the state then takes
    the new mtime, so the next run need not read the file again)."""
    return (
        row is not None
        and md5 is not None
        and md5 == row.md5
        and row.size == entry.size
        and row.mtime_ns != entry.mtime_ns
    )


def unchanged(entry: FileEntry, row: StateRow, md5: str | None) -> bool:
    """The same file as the state remembers: same size, and same MD5 (if read) or mtime."""
    if row.size != entry.size:
        return False
    if md5 is not None:
        return md5 == row.md5
    return row.mtime_ns == entry.mtime_ns


def decide(
    entry: FileEntry, row: StateRow | None, *, md5: str | None, places: bool, now: float
) -> Skip | Send:
    """What to do with `entry`, given the state's `row` for it and (when read) its MD5.

    `places`: this run places files (attaches them); stored-but-unplaced bytes of the same
    content are then worth placing instead of sending again, and without placing they are done
    until Procore deletes them (`row.expires_at`, before `now`): then they are sent again.
    """
    if row is None or not unchanged(entry, row, md5):
        return Send()
    if row.status == "sent" and row.expires_at is not None and row.expires_at <= now:
        return Send()  # Procore deleted those bytes: send them again
    same = "" if md5 is None else " (same SHA-256s)" if parts_size(md5) else " (same MD5)"
    if row.status == "uploaded":
        return Skip(f"unchanged since last upload{same}")
    if row.status == "sent":
        if not places:
            return Skip(f"unchanged since last upload{same} (not attached)")
        return Send(resume=row.upload_uuid)
    return Send()  # failed or skipped before: try again
