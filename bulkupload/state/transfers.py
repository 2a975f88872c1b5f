"""Uploads in progress, to the part: what a run killed in the middle of a big file leaves for the
next run, so that run sends only the parts not yet stored (Procore's v2.1 unified uploads).

A transfer is the upload id, the file as it was when the upload was made (size and mtime: a
file changed since starts over), the part plan (size and digests of every part, which Procore
was promised) and the ETag of each part stored so far. The row goes when the file's outcome is
recorded.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from .rows import now_iso, rel_key

__all__ = ["PartPlan", "TransferRecords", "TransferRow"]

LOOKUP_CHUNK = 500


@dataclass(frozen=True, slots=True)
class PartPlan:
    """One part as Procore was told of it: its size and hex digests."""

    size: int
    sha256: str
    md5: str


@dataclass(frozen=True, slots=True)
class TransferRow:
    """An upload in progress for one file (see the module docstring)."""

    upload_id: str
    size: int
    mtime_ns: int
    parts: tuple[PartPlan, ...]
    sha256: str
    md5: str
    expires_at: float  # when Procore deletes the upload if it is never linked (Unix seconds)
    etags: dict[int, str] = field(default_factory=dict)  # part index → ETag, parts stored

    def plan_json(self) -> str:
        parts = [[p.size, p.sha256, p.md5] for p in self.parts]
        return json.dumps({"parts": parts, "sha256": self.sha256, "md5": self.md5})

    @classmethod
    def from_sql(
        cls, upload_id: str, size: int, mtime_ns: int, plan: str, expires_at: float
    ) -> TransferRow:
        data = json.loads(plan)
        parts = tuple(PartPlan(int(n), str(s), str(m)) for n, s, m in data["parts"])
        return cls(upload_id, size, mtime_ns, parts, data["sha256"], data["md5"], expires_at)


class _Store(Protocol):
    _conn: sqlite3.Connection

    def _guard(self, action: str) -> AbstractContextManager[None]: ...
    def _write(self, action: str) -> AbstractContextManager[sqlite3.Connection]: ...


class TransferRecords:
    """The state store's transfers (mixed into `StateStore`)."""

    def begin_transfer(self: _Store, target_key: str, rel: str, transfer: TransferRow) -> None:
        """A new upload for `rel`: it replaces any earlier one and its parts."""
        key = rel_key(rel)
        with self._write("record an upload in progress") as conn:
            conn.execute(
                "DELETE FROM transfer_parts WHERE target = ? AND rel = ?", (target_key, key)
            )
            conn.execute(
                "INSERT OR REPLACE INTO transfers VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    target_key,
                    key,
                    transfer.upload_id,
                    transfer.size,
                    transfer.mtime_ns,
                    transfer.plan_json(),
                    transfer.expires_at,
                    now_iso(),
                ),
            )

    def part_stored(
        self: _Store, target_key: str, rel: str, upload_id: str, number: int, etag: str
    ) -> None:
        """Part `number` (0-based) of upload `upload_id` is stored with `etag`."""
        with self._write("record a stored part") as conn:
            conn.execute(
                "INSERT OR REPLACE INTO transfer_parts VALUES (?, ?, ?, ?, ?)",
                (target_key, rel_key(rel), upload_id, number, etag),
            )

    def transfers(self: _Store, target_key: str, rels: Sequence[str]) -> dict[str, TransferRow]:
        """The uploads in progress for those of `rels` that have one, with their stored parts."""
        found: dict[str, TransferRow] = {}
        with self._guard("read"):
            for start in range(0, len(rels), LOOKUP_CHUNK):
                chunk = [rel_key(rel) for rel in rels[start : start + LOOKUP_CHUNK]]
                marks = ", ".join("?" * len(chunk))
                rows = self._conn.execute(
                    "SELECT rel, upload_id, size, mtime_ns, plan, expires_at FROM transfers"
                    f" WHERE target = ? AND rel IN ({marks})",
                    (target_key, *chunk),
                ).fetchall()
                for raw, *values in rows:
                    transfer = TransferRow.from_sql(*values)
                    parts = self._conn.execute(
                        "SELECT number, etag FROM transfer_parts"
                        " WHERE target = ? AND rel = ? AND upload_id = ?",
                        (target_key, raw, transfer.upload_id),
                    )
                    transfer.etags.update(parts)
                    found[bytes(raw).decode("utf-8", "surrogateescape")] = transfer
        return found


def forget_transfers(conn: sqlite3.Connection, target_key: str, rels: Iterator[str]) -> None:
    """The files' outcomes are recorded: their uploads in progress are no longer needed."""
    params = [(target_key, rel_key(rel)) for rel in rels]
    conn.executemany("DELETE FROM transfers WHERE target = ? AND rel = ?", params)
    conn.executemany("DELETE FROM transfer_parts WHERE target = ? AND rel = ?", params)
