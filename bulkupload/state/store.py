"""The durable state store: one SQLite row per (destination, file), so a nightly run resumes
and skips, and one row per run with its summary. Synchronous; `aio.AsyncStateStore` is the face
the pipeline uses."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from filelock import FileLock

from bulkupload.errors import StateError
from bulkupload.models import Disposition, FileResult, printable

from .lock import take_lock
from .rows import (
    COLUMNS,
    MIGRATIONS,
    SCHEMA,
    SCHEMA_VERSION,
    UPSERT,
    StateRow,
    decode_row,
    now_iso,
    rel_key,
    upsert_params,
)
from .transfers import TransferRecords, forget_transfers

DEFAULT_STATE_PATH = Path(".bulkupload") / "state.sqlite"
"""Relative to the working directory of the run."""

LOOKUP_CHUNK = 500  # rels per IN (...) query: well under SQLite's bound-variable limit
BUSY_TIMEOUT_MS = 5000
PAGE_SIZE = 1000  # rows per page when iterating a whole state

PageKey = tuple[str, bytes]
_STORED = (Disposition.SENT, Disposition.DONE)


def next_page_key(page: Sequence[StateRow], size: int) -> PageKey | None:
    """Where the page after `page` starts, or None when `page` was the last one."""
    if len(page) < size:
        return None
    return (page[-1].target, rel_key(page[-1].rel))


class StateStore(TransferRecords):
    """Synchronous access to the state database; one instance per run holds its lock.

    Opening takes an exclusive lock on `<path>.lock`, so a second run on the same state fails
    at once instead of interleaving writes. `readonly=True` (for reports) skips the lock.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, lock: FileLock | None) -> None:
        self.path = path
        self._conn = conn
        self._lock = lock

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, readonly: bool = False) -> Self:
        """Open (creating if needed) the store at `path`, default `.bulkupload/state.sqlite`."""
        db_path = Path(path) if path is not None else DEFAULT_STATE_PATH
        shown = printable(str(db_path))
        if db_path.is_dir():
            raise StateError(f"state store {shown} is a directory, not a database file")
        if readonly and not db_path.exists():
            raise StateError(f"state store {shown} does not exist")
        lock = None if readonly else take_lock(db_path, shown)
        try:
            conn = _connect(db_path, shown, readonly=readonly)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        return cls(db_path, conn, lock)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the database and release the run lock; safe to call twice."""
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def begin_run(self, target_key: str) -> int:
        """Record the start of a run for `target_key` and return its id."""
        with self._write("start a run") as conn:
            cur = conn.execute(
                "INSERT INTO runs (target, started_at) VALUES (?, ?)", (target_key, now_iso())
            )
        if cur.lastrowid is None:
            raise StateError(f"state store {printable(str(self.path))}: the run got no id")
        return cur.lastrowid

    def finish_run(self, run_id: int, summary: dict[str, Any]) -> None:
        """Record the end of run `run_id` with its JSON-serialisable summary."""
        with self._write("finish the run") as conn:
            conn.execute(
                "UPDATE runs SET finished_at = ?, summary = ? WHERE id = ?",
                (now_iso(), json.dumps(summary, ensure_ascii=False, default=str), run_id),
            )

    def lookup(self, target_key: str, rels: Sequence[str]) -> dict[str, StateRow]:
        """The stored rows for those of `rels` the store knows, keyed by rel."""
        found: dict[str, StateRow] = {}
        with self._guard("read"):
            for start in range(0, len(rels), LOOKUP_CHUNK):
                chunk = [rel_key(rel) for rel in rels[start : start + LOOKUP_CHUNK]]
                marks = ", ".join("?" * len(chunk))
                cur = self._conn.execute(
                    f"SELECT {COLUMNS} FROM files WHERE target = ? AND rel IN ({marks})",
                    (target_key, *chunk),
                )
                for values in cur:
                    row = decode_row(values)
                    found[row.rel] = row
        return found

    def record(self, target_key: str, results: Sequence[FileResult], run_id: int) -> None:
        """Upsert one row per result that writes the state, in a single transaction, marked
        seen by `run_id`; results whose disposition is KEEP leave their row alone."""
        params = upsert_params(target_key, results, run_id, now_iso())
        if params:
            with self._write("record results") as conn:
                conn.executemany(UPSERT, params)
                # Stored (or placed): its upload in progress is done. A failed file keeps its
                # own, so the next run resumes it to the part.
                done = (r.rel for r in results if r.disposition in _STORED)
                forget_transfers(conn, target_key, done)

    def note_document_uploads(self, target_key: str, made: Sequence[tuple[str, str]]) -> None:
        """Document Management: the document upload made for each stored file `(rel, id)`,
        recorded before it is used, so a run killed before submitting finishes with it."""
        params = [(upload_id, target_key, rel_key(rel)) for rel, upload_id in made]
        with self._write("record document uploads") as conn:
            conn.executemany(
                "UPDATE files SET document_upload_id = ? WHERE target = ? AND rel = ?", params
            )

    def refresh_mtimes(self, target_key: str, touched: Sequence[tuple[str, int]]) -> None:
        """Files whose content was read and found unchanged under a new mtime `(rel, mtime_ns)`:
        the rows take the new mtime (status and Procore identity stay)."""
        params = [(mtime_ns, target_key, rel_key(rel)) for rel, mtime_ns in touched]
        with self._write("record new mtimes") as conn:
            conn.executemany("UPDATE files SET mtime_ns = ? WHERE target = ? AND rel = ?", params)

    def mark_seen(self, target_key: str, rels: Sequence[str], run_id: int) -> None:
        """Note that `rels` still exist in run `run_id` (unchanged files that were not sent)."""
        params = [(run_id, target_key, rel_key(rel)) for rel in rels]
        with self._write("mark files seen") as conn:
            conn.executemany("UPDATE files SET seen_run = ? WHERE target = ? AND rel = ?", params)

    def gone(self, target_key: str, run_id: int, limit: int = -1) -> tuple[int, list[StateRow]]:
        """Uploaded rows that run `run_id` did not see (deleted or moved locally since): how many,
        and the first `limit` of them by path (all with -1)."""
        where = (
            " FROM files WHERE target = ? AND status = 'uploaded'"
            " AND (seen_run IS NULL OR seen_run != ?)"
        )
        with self._guard("read"):
            (count,) = self._conn.execute(
                "SELECT COUNT(*)" + where, (target_key, run_id)
            ).fetchone()
            cur = self._conn.execute(
                f"SELECT {COLUMNS}{where} ORDER BY rel LIMIT ?", (target_key, run_id, limit)
            )
            return int(count), [decode_row(values) for values in cur]

    def unplaced(self, target_keys: Sequence[str], now: float) -> tuple[int, float | None]:
        """Uploads stored and never placed that Procore still holds (their deadline after
        `now`), under these keys: how many, and the earliest deadline. Every run warns about
        them until they are placed or expire."""
        marks = ", ".join("?" * len(target_keys))
        with self._guard("read"):
            count, first = self._conn.execute(
                f"SELECT COUNT(*), MIN(expires_at) FROM files AS f WHERE target IN ({marks})"
                " AND status = 'sent' AND expires_at > ?"
                # placed since under another key (a `--no-attach` upload attached later)
                f" AND NOT EXISTS (SELECT 1 FROM files AS g WHERE g.target IN ({marks})"
                " AND g.rel = f.rel AND g.upload_uuid = f.upload_uuid AND g.status = 'uploaded')",
                (*target_keys, now, *target_keys),
            ).fetchone()
        return int(count), first

    def rows(self, target_key: str | None = None) -> Iterator[StateRow]:
        """Every row (of one target, or all), ordered by target then rel bytes, page by page."""
        after: PageKey | None = None
        while True:
            page = self.rows_page(target_key, after, PAGE_SIZE)
            yield from page
            if (after := next_page_key(page, PAGE_SIZE)) is None:
                return

    def rows_page(
        self, target_key: str | None, after: PageKey | None, limit: int
    ) -> list[StateRow]:
        """One page of `rows()`: keyset pagination, so no read cursor stays open between pages."""
        where: list[str] = []
        args: list[object] = []
        if target_key is not None:
            where.append("target = ?")
            args.append(target_key)
        if after is not None:
            where.append("(target, rel) > (?, ?)")
            args.extend(after)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._guard("read"):
            cur = self._conn.execute(
                f"SELECT {COLUMNS} FROM files {clause} ORDER BY target, rel LIMIT ?",
                (*args, limit),
            )
            return [decode_row(values) for values in cur]

    def status_counts(self, target_key: str | None = None) -> dict[str, tuple[int, int]]:
        """Per status: (number of files, total bytes), for one target or all."""
        clause, args = ("", ()) if target_key is None else ("WHERE target = ?", (target_key,))
        with self._guard("read"):
            cur = self._conn.execute(
                f"SELECT status, COUNT(*), COALESCE(SUM(size), 0) FROM files {clause}"
                " GROUP BY status",
                args,
            )
            return {status: (count, size) for status, count, size in cur}

    def runs(self, target_key: str | None = None) -> list[dict[str, Any]]:
        """Past runs, oldest first, with their decoded summaries."""
        clause, args = ("", ()) if target_key is None else ("WHERE target = ?", (target_key,))
        with self._guard("read"):
            cur = self._conn.execute(
                f"SELECT id, target, started_at, finished_at, summary FROM runs {clause}"
                " ORDER BY id",
                args,
            )
            return [
                {
                    "id": run_id,
                    "target": target,
                    "started_at": started,
                    "finished_at": finished,
                    "summary": json.loads(summary) if summary else None,
                }
                for run_id, target, started, finished, summary in cur
            ]

    def api_limits(self) -> dict[str, Any]:
        """The rate limits the last run that saw any reported (`RateLimitPacer.known`): they
        belong to the app, whatever the target, so a run plans and paces with them at once."""
        with self._guard("read"):
            row = self._conn.execute(
                'SELECT summary FROM runs WHERE summary LIKE \'%"api_limits": {"%\' '
                "ORDER BY id DESC LIMIT 1"
            ).fetchone()
        limits = json.loads(row[0]).get("api_limits") if row else None
        return limits if isinstance(limits, dict) else {}

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StateError(_describe(exc, action, printable(str(self.path)))) from exc

    @contextlib.contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the write lock up front, so busy_timeout covers the whole batch.
        with self._guard(action):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")


def _connect(db_path: Path, shown: str, *, readonly: bool) -> sqlite3.Connection:
    try:
        if readonly:
            uri = f"{db_path.resolve().as_uri()}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            # Autocommit mode: transactions are explicit (see StateStore._write).
            conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StateError(_describe(exc, "open", shown)) from exc
    try:
        _prepare(conn, shown, readonly=readonly)
    except BaseException as exc:
        conn.close()
        if isinstance(exc, sqlite3.Error):
            raise StateError(_describe(exc, "open", shown)) from exc
        raise
    return conn


def _prepare(conn: sqlite3.Connection, shown: str, *, readonly: bool) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # Reading user_version is the first real read: a corrupt or foreign file fails here.
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StateError(f"state store {shown} was written by a newer bulkupload")
    if readonly and 0 < version < SCHEMA_VERSION:
        raise StateError(
            f"state store {shown} was written by an older bulkupload: an upload run with it "
            "upgrades it (nothing is lost), then it can be read"
        )
    if not readonly:
        # WAL lets `bulkupload report` read while a run writes; NORMAL is durable across
        # process crashes in WAL mode, and only a power loss may drop the last commits.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if 0 < version < SCHEMA_VERSION:
            conn.execute("BEGIN IMMEDIATE")
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step]:
                    conn.execute(statement)
            conn.execute("COMMIT")
        conn.executescript(SCHEMA)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _describe(exc: sqlite3.Error, action: str, shown: str) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"state store {shown} is locked by another process (could not {action})"
    if "not a database" in text or "malformed" in text:
        return f"state store {shown} is not a bulkupload state database or is corrupt ({text})"
    return f"state store {shown}: could not {action}: {text}"
