"""`bulkupload report`: print what the state store knows, as a table, JSON Lines or CSV.

Rows are streamed page by page from the store, so a state of millions of files is reported
in constant memory (the table makes two passes: one to size its columns, one to print).
"""

from __future__ import annotations

import base64
import csv
import json
from collections.abc import Iterator, Sequence
from itertools import chain
from typing import Any, TextIO

from bulkupload.digests import split_digest
from bulkupload.errors import ConfigError
from bulkupload.human import count, shown
from bulkupload.manifest import printable_values
from bulkupload.models import Target
from bulkupload.state import ROW_STATUSES, StateRow, StateStore

__all__ = ["REPORT_FORMATS", "render_report", "summary_counts", "target_keys"]

REPORT_FORMATS = ("table", "json", "csv")

# Machine-readable formats carry every column; `path_bytes_b64` only matters for odd names.
_FIELDS = (
    "target",
    "path",
    "path_bytes_b64",
    "status",
    "size",
    "mtime_ns",
    "md5",
    "upload_uuid",
    "file_id",
    "folder_id",
    "version",
    "attempts",
    "error",
    "first_seen",
    "updated_at",
    "seen_run",
    "parts_sha256",  # last: a column added later must not move the others
)

_MAX_PATH_WIDTH = 80  # longer paths overflow their column instead of widening every line


Targets = str | Target | Sequence[str] | None
"""One target (its key or itself), several keys, or every target (None)."""


def _keys(target: Targets) -> list[str] | None:
    if target is None:
        return None
    if isinstance(target, Target):
        return [target.key]
    if isinstance(target, str):
        return [target]
    return list(target)


def target_keys(store: StateStore, prefix: str) -> list[str]:
    """The state's target keys that are `prefix` or lie under it (`project:42` matches
    `project:42` and `project:42/Drawings`, not `project:420`); every key for `""`."""
    keys = sorted({str(run["target"]) for run in store.runs()})
    keys = [k for k in keys if not prefix or k == prefix or k.startswith(prefix.rstrip("/") + "/")]
    return [k for k in keys if store.status_counts(k)]


def _rows(store: StateStore, keys: list[str] | None) -> Iterator[StateRow]:
    if keys is None:
        return store.rows(None)
    return chain.from_iterable(store.rows(key) for key in keys)


def summary_counts(store: StateStore, target: Targets = None) -> dict[str, int]:
    """Files per status (every status present, zero if none), the total, and bytes uploaded."""
    keys = _keys(target)
    counts: dict[str, tuple[int, int]] = {}
    for key in [None] if keys is None else keys:
        for status, (n, size) in store.status_counts(key).items():
            had_n, had_size = counts.get(status, (0, 0))
            counts[status] = (had_n + n, had_size + size)
    summary = {status: counts.get(status, (0, 0))[0] for status in ROW_STATUSES}
    summary["total"] = sum(n for n, _ in counts.values())
    summary["bytes_uploaded"] = counts.get("uploaded", (0, 0))[1]
    return summary


def render_report(store: StateStore, target: Targets, fmt: str, out: TextIO) -> None:
    """Write every state row of `target` (one key, several, or all targets) to `out` in `fmt`.

    `table`: aligned columns path/status/size/uploaded at/error and a summary line (with a
    target column when more than one target is shown).
    `json`: JSON Lines, one object per file (a JSON array would have to end before it could be
    parsed, which matters for states of millions of rows). `csv`: a header then one row per file.
    Paths are printable text; `path_bytes_b64` gives the exact bytes when they differ.
    """
    keys = _keys(target)
    if fmt == "table":
        _render_table(store, keys, out)
    elif fmt == "json":
        for row in _rows(store, keys):
            record = printable_values(_record(row))
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in _rows(store, keys):
            writer.writerow(printable_values(_record(row)))
    else:
        raise ConfigError(f"unknown report format {fmt!r} (choose {', '.join(REPORT_FORMATS)})")


def _record(row: StateRow) -> dict[str, Any]:
    record: dict[str, Any] = {"target": row.target, "path": row.display_rel}
    raw = row.rel.encode("utf-8", "surrogateescape")
    record["path_bytes_b64"] = (
        base64.b64encode(raw).decode("ascii") if row.display_rel != row.rel else None
    )
    for name in _FIELDS[3:-1]:
        record[name] = getattr(row, name)
    record["md5"], record["parts_sha256"] = split_digest(row.md5)
    return record


def _cell(text: str | None) -> str:
    return shown(text or "")  # one line each: a newline in a file name is escaped


def _table_cells(row: StateRow, with_target: bool) -> list[str]:
    uploaded_at = row.updated_at if row.status == "uploaded" else ""
    size = "" if row.size is None else str(row.size)
    cells = [_cell(row.display_rel), row.status, size, uploaded_at, _cell(row.error)]
    return [row.target, *cells] if with_target else cells


def _render_table(store: StateStore, keys: list[str] | None, out: TextIO) -> None:
    with_target = keys is None or len(keys) > 1
    header = ["path", "status", "size", "uploaded at", "error"]
    if with_target:
        header.insert(0, "target")
    widths = [len(h) for h in header]
    for row in _rows(store, keys):  # first pass: column widths only
        for i, cell in enumerate(_table_cells(row, with_target)):
            widths[i] = max(widths[i], len(cell))
    path_col = 1 if with_target else 0
    widths[path_col] = min(widths[path_col], _MAX_PATH_WIDTH)
    size_col = path_col + 2

    def line(cells: list[str]) -> str:
        padded = [
            cell.rjust(widths[i]) if i == size_col else cell.ljust(widths[i])
            for i, cell in enumerate(cells[:-1])
        ]
        return "  ".join([*padded, cells[-1]]).rstrip() + "\n"

    out.write(line(header))
    out.write(line(["-" * w for w in widths[:-1]] + ["-" * len(header[-1])]))
    for row in _rows(store, keys):
        out.write(line(_table_cells(row, with_target)))
    counts = summary_counts(store, keys)
    parts = ", ".join(f"{counts[s]} {s}" for s in ROW_STATUSES if counts[s])
    out.write(count(counts["total"], "file") + (f": {parts}" if parts else "") + "\n")
