"""`bulkupload report`: print what the state store knows, as a table, JSON Lines or CSV.

Rows are streamed page by page from the store, so a state of millions of files is reported
in constant memory (the table makes two passes: one to size its columns, one to print).
"""

from __future__ import annotations

import base64
import csv
import json
from typing import Any, TextIO

from bulkupload.errors import ConfigError
from bulkupload.manifest import printable_values
from bulkupload.models import Target
from bulkupload.state import ROW_STATUSES, StateRow, StateStore

__all__ = ["REPORT_FORMATS", "render_report", "summary_counts"]

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
)

# Table cells are one line each: control characters (a newline in a file name) are escaped.
_CONTROL = {code: f"\\x{code:02x}" for code in [*range(32), 127]} | {
    ord("\n"): "\\n",
    ord("\t"): "\\t",
    ord("\r"): "\\r",
}
_MAX_PATH_WIDTH = 80  # longer paths overflow their column instead of widening every line


def _target_key(target: str | Target | None) -> str | None:
    return target.key if isinstance(target, Target) else target


def summary_counts(store: StateStore, target: str | Target | None = None) -> dict[str, int]:
    """Files per status (every status present, zero if none), the total, and bytes uploaded."""
    counts = store.status_counts(_target_key(target))
    summary = {status: counts.get(status, (0, 0))[0] for status in ROW_STATUSES}
    summary["total"] = sum(count for count, _ in counts.values())
    summary["bytes_uploaded"] = counts.get("uploaded", (0, 0))[1]
    return summary


def render_report(store: StateStore, target: str | Target | None, fmt: str, out: TextIO) -> None:
    """Write every state row of `target` (or of all targets) to `out` in format `fmt`.

    `table`: aligned columns path/status/size/uploaded at/error and a summary line.
    `json`: JSON Lines, one object per file (a JSON array would have to end before it could be
    parsed, which matters for states of millions of rows). `csv`: a header then one row per file.
    Paths are printable text; `path_bytes_b64` gives the exact bytes when they differ.
    """
    key = _target_key(target)
    if fmt == "table":
        _render_table(store, key, out)
    elif fmt == "json":
        for row in store.rows(key):
            record = printable_values(_record(row))
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in store.rows(key):
            writer.writerow(printable_values(_record(row)))
    else:
        raise ConfigError(f"unknown report format {fmt!r} (choose {', '.join(REPORT_FORMATS)})")


def _record(row: StateRow) -> dict[str, Any]:
    record: dict[str, Any] = {"target": row.target, "path": row.display_rel}
    raw = row.rel.encode("utf-8", "surrogateescape")
    record["path_bytes_b64"] = (
        base64.b64encode(raw).decode("ascii") if row.display_rel != row.rel else None
    )
    for name in _FIELDS[3:]:
        record[name] = getattr(row, name)
    return record


def _cell(text: str | None) -> str:
    return str(printable_values(text or "")).translate(_CONTROL)


def _table_cells(row: StateRow, with_target: bool) -> list[str]:
    uploaded_at = row.updated_at if row.status == "uploaded" else ""
    size = "" if row.size is None else str(row.size)
    cells = [_cell(row.display_rel), row.status, size, uploaded_at, _cell(row.error)]
    return [row.target, *cells] if with_target else cells


def _render_table(store: StateStore, key: str | None, out: TextIO) -> None:
    with_target = key is None
    header = ["path", "status", "size", "uploaded at", "error"]
    if with_target:
        header.insert(0, "target")
    widths = [len(h) for h in header]
    for row in store.rows(key):  # first pass: column widths only
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
    for row in store.rows(key):
        out.write(line(_table_cells(row, with_target)))
    counts = summary_counts(store, key)
    parts = ", ".join(f"{counts[s]} {s}" for s in ROW_STATUSES if counts[s])
    out.write(f"{counts['total']} files" + (f": {parts}" if parts else "") + "\n")
