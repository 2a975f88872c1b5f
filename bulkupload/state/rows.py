"""The state database's schema and the row it gives back, one per (destination, file).

Rels are stored as BLOBs of their exact bytes (`rel.encode("utf-8", "surrogateescape")`), so a
non-UTF-8 file name round-trips unchanged; `StateRow.display_rel` gives printable text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bulkupload.models import FileResult, printable

SCHEMA_VERSION = 3
#: What turns a state of an older version into this one, step by step (one transaction).
MIGRATIONS = {
    1: ("ALTER TABLE files ADD COLUMN expires_at REAL",),
    2: (
        "ALTER TABLE files ADD COLUMN document_upload_id TEXT",
        "ALTER TABLE files ADD COLUMN revision_id TEXT",
    ),
}

ROW_STATUSES = ("uploaded", "skipped", "failed", "sent")
"""`sent`: the bytes are in storage but the file is not placed yet (not attached to Documents)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    target      TEXT    NOT NULL,
    rel         BLOB    NOT NULL,
    size        INTEGER,
    mtime_ns    INTEGER,
    md5         TEXT,    -- the content digest: an MD5, or a parts digest (bulkupload.digests)
    upload_uuid TEXT,
    file_id     INTEGER,
    folder_id   INTEGER,
    version     INTEGER,
    status      TEXT    NOT NULL CHECK (status IN ('uploaded', 'skipped', 'failed', 'sent')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    first_seen  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    seen_run    INTEGER,
    expires_at  REAL,
    document_upload_id TEXT,
    revision_id TEXT,
    PRIMARY KEY (target, rel)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS transfers (
    target      TEXT    NOT NULL,
    rel         BLOB    NOT NULL,
    upload_id   TEXT    NOT NULL,
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    plan        TEXT    NOT NULL,
    expires_at  REAL    NOT NULL,
    updated_at  TEXT    NOT NULL,
    PRIMARY KEY (target, rel)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS transfer_parts (
    target      TEXT    NOT NULL,
    rel         BLOB    NOT NULL,
    upload_id   TEXT    NOT NULL,
    number      INTEGER NOT NULL,
    etag        TEXT    NOT NULL,
    PRIMARY KEY (target, rel, upload_id, number)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    target      TEXT    NOT NULL,
    started_at  TEXT    NOT NULL,
    finished_at TEXT,
    summary     TEXT
);
"""

COLUMNS = (
    "target, rel, size, mtime_ns, md5, upload_uuid, file_id, folder_id, version, status,"
    " attempts, error, first_seen, updated_at, seen_run, expires_at, document_upload_id,"
    " revision_id"
)

# Procore identity (file, folder, version) survives a failed retry so the next success can
# add a version to the same document instead of creating a duplicate.
UPSERT = f"""
INSERT INTO files ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (target, rel) DO UPDATE SET
    size = excluded.size,
    mtime_ns = excluded.mtime_ns,
    md5 = excluded.md5,
    upload_uuid = COALESCE(excluded.upload_uuid, files.upload_uuid),
    file_id = COALESCE(excluded.file_id, files.file_id),
    folder_id = COALESCE(excluded.folder_id, files.folder_id),
    version = COALESCE(excluded.version, files.version),
    status = excluded.status,
    attempts = excluded.attempts,
    error = excluded.error,
    updated_at = excluded.updated_at,
    seen_run = excluded.seen_run,
    expires_at = excluded.expires_at,
    -- A document upload belongs to the bytes it was made for: new bytes start without one.
    document_upload_id = CASE
        WHEN excluded.upload_uuid IS NOT NULL AND excluded.upload_uuid IS NOT files.upload_uuid
        THEN excluded.document_upload_id
        ELSE COALESCE(excluded.document_upload_id, files.document_upload_id)
    END,
    revision_id = COALESCE(excluded.revision_id, files.revision_id)
"""


@dataclass(frozen=True, slots=True)
class StateRow:
    """What the store remembers about one file of one destination."""

    target: str
    rel: str
    size: int | None
    mtime_ns: int | None
    md5: str | None  # the content digest: an MD5, or a parts digest (`bulkupload.digests`)
    upload_uuid: str | None
    file_id: int | None
    folder_id: int | None
    version: int | None
    status: str
    attempts: int
    error: str | None
    first_seen: str
    updated_at: str
    seen_run: int | None
    # When Procore deletes the stored bytes of a 'sent' row (Unix seconds), if known.
    expires_at: float | None = None
    # Document Management: the document upload made for these bytes, and the revision once
    # submitted.
    document_upload_id: str | None = None
    revision_id: str | None = None

    @property
    def display_rel(self) -> str:
        """The rel as printable UTF-8 text (undecodable bytes as ``\\xNN``)."""
        return printable(self.rel)


def rel_key(rel: str) -> bytes:
    return rel.encode("utf-8", "surrogateescape")


def decode_row(values: Sequence[Any]) -> StateRow:
    target, rel, *rest = values
    return StateRow(target, bytes(rel).decode("utf-8", "surrogateescape"), *rest)


def now_iso() -> str:
    """The time as the state, the manifest and the logs write it (UTC, milliseconds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def upsert_params(
    target_key: str, results: Sequence[FileResult], run_id: int, now: str
) -> list[tuple[Any, ...]]:
    """One UPSERT row per result whose disposition writes the state (KEEP writes nothing)."""
    params = []
    for r in results:
        status = r.state_status
        if status is None:
            continue
        placed = r.placement
        params.append(
            (
                target_key,
                rel_key(r.rel),
                r.size,
                r.mtime_ns,
                r.md5,
                r.upload_uuid,
                placed.file_id if placed else None,
                placed.folder_id if placed else None,
                placed.version if placed else None,
                status,
                r.attempts,
                r.error,
                now,
                now,
                run_id,
                r.expires_at,
                placed.document_upload_id if placed else None,
                placed.revision_id if placed else None,
            )
        )
    return params
