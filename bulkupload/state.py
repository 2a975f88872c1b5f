"""The durable state store: one SQLite row per (target, file) so a nightly run resumes and skips.

Rels are stored as BLOBs of their exact bytes (`rel.encode("utf-8", "surrogateescape")`), so a
non-UTF-8 file name round-trips unchanged; `StateRow.display_rel` gives printable text.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import anyio
import anyio.to_thread
from filelock import FileLock, Timeout

from bulkupload.errors import StateError
from bulkupload.models import FileEntry, FileResult, printable

__all__ = [
    "DEFAULT_STATE_PATH",
    "ROW_STATUSES",
    "AsyncStateStore",
    "StateRow",
    "StateStore",
    "is_unchanged",
]

DEFAULT_STATE_PATH = Path(".bulkupload") / "state.sqlite"
"""Relative to the working directory of the run."""

ROW_STATUSES = ("uploaded", "skipped", "failed", "sent")
"""`sent`: the bytes are in storage but the file is not yet attached to Documents."""

SCHEMA_VERSION = 1
LOOKUP_CHUNK = 500  # rels per IN (...) query: well under SQLite's bound-variable limit
BUSY_TIMEOUT_MS = 5000
PAGE_SIZE = 1000  # rows per page when iterating a whole state

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    target      TEXT    NOT NULL,
    rel         BLOB    NOT NULL,
    size        INTEGER,
    mtime_ns    INTEGER,
    md5         TEXT,
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
    PRIMARY KEY (target, rel)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    target      TEXT    NOT NULL,
    started_at  TEXT    NOT NULL,
    finished_at TEXT,
    summary     TEXT
);
"""

_COLUMNS = (
    "target, rel, size, mtime_ns, md5, upload_uuid, file_id, folder_id, version, status,"
    " attempts, error, first_seen, updated_at, seen_run"
)

# Procore identity (file, folder, version) survives a failed retry so the next success can
# add a version to the same document instead of creating a duplicate.
_UPSERT = f"""
INSERT INTO files ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
    seen_run = excluded.seen_run
"""


@dataclass(frozen=True, slots=True)
class StateRow:
    """What the store remembers about one file of one target."""

    target: str
    rel: str
    size: int | None
    mtime_ns: int | None
    md5: str | None
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

    @property
    def display_rel(self) -> str:
        """The rel as printable UTF-8 text (undecodable bytes as ``\\xNN``)."""
        return printable(self.rel)


def is_unchanged(row: StateRow | None, entry: FileEntry) -> bool:
    """True when `entry` was uploaded before and its size and mtime have not changed since."""
    return (
        row is not None
        and row.status == "uploaded"
        and row.size == entry.size
        and row.mtime_ns == entry.mtime_ns
    )


def _rel_key(rel: str) -> bytes:
    return rel.encode("utf-8", "surrogateescape")


def _row(values: Sequence[Any]) -> StateRow:
    target, rel, *rest = values
    return StateRow(target, bytes(rel).decode("utf-8", "surrogateescape"), *rest)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _mtime_ns(result: FileResult) -> int | None:
    if result.mtime_ns is not None:
        return result.mtime_ns
    return None if result.mtime is None else round(result.mtime * 1_000_000_000)


class StateStore:
    """Synchronous access to the state database; one instance per run holds its lock.

    Opening takes an exclusive `flock` on `<path>.lock`, so a second run on the same state
    fails at once instead of interleaving writes. `readonly=True` (for reports) skips the lock.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, lock_fd: FileLock | None) -> None:
        self.path = path
        self._conn = conn
        self._lock_fd = lock_fd

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, readonly: bool = False) -> Self:
        """Open (creating if needed) the store at `path`, default `.bulkupload/state.sqlite`."""
        db_path = Path(path) if path is not None else DEFAULT_STATE_PATH
        shown = printable(str(db_path))
        if db_path.is_dir():
            raise StateError(f"state store {shown} is a directory, not a database file")
        if readonly and not db_path.exists():
            raise StateError(f"state store {shown} does not exist")
        lock_fd = None if readonly else _take_lock(db_path, shown)
        try:
            conn = _connect(db_path, shown, readonly=readonly)
        except BaseException:
            if lock_fd is not None:
                lock_fd.release()
            raise
        return cls(db_path, conn, lock_fd)

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
        if self._lock_fd is not None:
            self._lock_fd.release()
            self._lock_fd = None

    def begin_run(self, target_key: str) -> int:
        """Record the start of a run for `target_key` and return its id."""
        with self._write("start a run") as conn:
            cur = conn.execute(
                "INSERT INTO runs (target, started_at) VALUES (?, ?)", (target_key, _now())
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

    def finish_run(self, run_id: int, summary: dict[str, Any]) -> None:
        """Record the end of run `run_id` with its JSON-serialisable summary."""
        with self._write("finish the run") as conn:
            conn.execute(
                "UPDATE runs SET finished_at = ?, summary = ? WHERE id = ?",
                (_now(), json.dumps(summary, ensure_ascii=False, default=str), run_id),
            )

    def lookup(self, target_key: str, rels: Sequence[str]) -> dict[str, StateRow]:
        """The stored rows for those of `rels` the store knows, keyed by rel."""
        found: dict[str, StateRow] = {}
        with self._guard("read"):
            for start in range(0, len(rels), LOOKUP_CHUNK):
                chunk = [_rel_key(rel) for rel in rels[start : start + LOOKUP_CHUNK]]
                marks = ", ".join("?" * len(chunk))
                cur = self._conn.execute(
                    f"SELECT {_COLUMNS} FROM files WHERE target = ? AND rel IN ({marks})",
                    (target_key, *chunk),
                )
                for values in cur:
                    row = _row(values)
                    found[row.rel] = row
        return found

    def record(self, target_key: str, results: Sequence[FileResult], run_id: int) -> None:
        """Upsert one row per result in a single transaction; marks them seen by `run_id`."""
        now = _now()
        params = [
            (
                target_key,
                _rel_key(r.rel),
                r.size,
                _mtime_ns(r),
                r.md5,
                r.upload_uuid,
                r.file_id,
                r.folder_id,
                r.version,
                str(r.status),
                r.attempts,
                r.error,
                now,
                now,
                run_id,
            )
            for r in results
        ]
        with self._write("record results") as conn:
            conn.executemany(_UPSERT, params)

    def mark_seen(self, target_key: str, rels: Sequence[str], run_id: int) -> None:
        """Note that `rels` still exist in run `run_id` (unchanged files that were not sent)."""
        params = [(run_id, target_key, _rel_key(rel)) for rel in rels]
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
                f"SELECT {_COLUMNS}{where} ORDER BY rel LIMIT ?", (target_key, run_id, limit)
            )
            return int(count), [_row(values) for values in cur]

    def rows(self, target_key: str | None = None) -> Iterator[StateRow]:
        """Every row (of one target, or all), ordered by target then rel bytes, page by page."""
        after: tuple[str, bytes] | None = None
        while True:
            page = self.rows_page(target_key, after, PAGE_SIZE)
            yield from page
            if len(page) < PAGE_SIZE:
                return
            after = (page[-1].target, _rel_key(page[-1].rel))

    def rows_page(
        self, target_key: str | None, after: tuple[str, bytes] | None, limit: int
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
                f"SELECT {_COLUMNS} FROM files {clause} ORDER BY target, rel LIMIT ?",
                (*args, limit),
            )
            return [_row(values) for values in cur]

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


def _take_lock(db_path: Path, shown: str) -> FileLock:
    """One run per state file: an OS lock beside it (flock on POSIX, msvcrt on Windows, via
    filelock), released by the OS if the process dies, so a SIGKILL never leaves it stuck."""
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(f"{db_path}.lock", thread_local=False)
        lock.acquire(timeout=0)
    except Timeout:
        raise StateError(f"another bulkupload run is using {shown}") from None
    except OSError as exc:
        raise StateError(f"cannot create state store {shown}: {exc.strerror or exc}") from exc
    return lock


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
    if not readonly:
        # WAL lets `bulkupload report` read while a run writes; NORMAL is durable across
        # process crashes in WAL mode, and only a power loss may drop the last commits.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.executescript(_SCHEMA)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _describe(exc: sqlite3.Error, action: str, shown: str) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"state store {shown} is locked by another process (could not {action})"
    if "not a database" in text or "malformed" in text:
        return f"state store {shown} is not a bulkupload state database or is corrupt ({text})"
    return f"state store {shown}: could not {action}: {text}"


T = TypeVar("T")


class AsyncStateStore:
    """The same store for async code: every call runs, one at a time, in a worker thread.

    A `CapacityLimiter(1)` serialises the calls, so the single connection is never used by
    two threads at once (it is opened with `check_same_thread=False` for that reason).
    """

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._limiter = anyio.CapacityLimiter(1)

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str] | None = None, *, readonly: bool = False
    ) -> AsyncStateStore:
        """Open the store in a worker thread; see `StateStore.open`."""
        store = await anyio.to_thread.run_sync(lambda: StateStore.open(path, readonly=readonly))
        return cls(store)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(func, *args, limiter=self._limiter)

    async def call(self, func: Callable[..., T], *args: Any) -> T:
        """Run `func(*args)` in the store's thread, in turn with its other calls: lets a caller
        pair its own file I/O with a store write in one thread hop."""
        return await self._run(func, *args)

    async def begin_run(self, target_key: str) -> int:
        """See `StateStore.begin_run`."""
        return await self._run(self.store.begin_run, target_key)

    async def finish_run(self, run_id: int, summary: dict[str, Any]) -> None:
        """See `StateStore.finish_run`."""
        await self._run(self.store.finish_run, run_id, summary)

    async def lookup(self, target_key: str, rels: Sequence[str]) -> dict[str, StateRow]:
        """See `StateStore.lookup`."""
        return await self._run(self.store.lookup, target_key, rels)

    async def record(self, target_key: str, results: Sequence[FileResult], run_id: int) -> None:
        """See `StateStore.record`."""
        await self._run(self.store.record, target_key, results, run_id)

    async def mark_seen(self, target_key: str, rels: Sequence[str], run_id: int) -> None:
        """See `StateStore.mark_seen`."""
        await self._run(self.store.mark_seen, target_key, rels, run_id)

    async def gone(
        self, target_key: str, run_id: int, limit: int = -1
    ) -> tuple[int, list[StateRow]]:
        """See `StateStore.gone`."""
        return await self._run(self.store.gone, target_key, run_id, limit)

    async def rows(self, target_key: str | None = None) -> AsyncIterator[StateRow]:
        """See `StateStore.rows`; each page is fetched in the worker thread."""
        after: tuple[str, bytes] | None = None
        while True:
            page = await self._run(self.store.rows_page, target_key, after, PAGE_SIZE)
            for row in page:
                yield row
            if len(page) < PAGE_SIZE:
                return
            after = (page[-1].target, _rel_key(page[-1].rel))

    async def close(self) -> None:
        """See `StateStore.close`."""
        await self._run(self.store.close)
