"""The CSV sidecar: per-file field values a document controller typed in a spreadsheet.

The first column is `path` (the file's path relative to SOURCE, `/` or `\\` separated); every
other column names a Procore field by name or label, except `problems` (the dry-run sheet's
notes), which is ignored. A non-empty cell wins over the rules file for that file and field.
Comma, semicolon or tab separated (the header line decides, so a spreadsheet saved in a
semicolon locale reads too); UTF-8 with or without a BOM. Several values in one cell are
separated by `;` (quote the cell in a semicolon-separated file).
"""

from __future__ import annotations

import csv
import itertools
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ._errors import MetadataError

if TYPE_CHECKING:
    from _csv import Reader

__all__ = ["Sidecar", "normalize_path", "parse_sidecar", "read_sidecar"]

IGNORED_COLUMN = "problems"


@dataclass(frozen=True, slots=True)
class Sidecar:
    """A read sidecar: `columns` are the field keys as written; `rows` maps each normalised
    path to its cells, one per column ("" where empty). Held whole in memory: about 100 bytes
    plus the text of each row."""

    source: str
    columns: tuple[str, ...]
    rows: Mapping[str, tuple[str, ...]]

    def row(self, rel: str) -> tuple[str, ...] | None:
        """The cells for the file at `rel`, or None when the sidecar has no row for it."""
        return self.rows.get(normalize_path(rel))


def normalize_path(path: str) -> str:
    """The form paths are compared in: `/`-separated, no leading `./` or `/`, Unicode NFC."""
    path = path.strip().replace("\\", "/")
    while path.startswith(("./", "/")):
        path = path[1:] if path[0] == "/" else path[2:]
    if not unicodedata.is_normalized("NFC", path):
        path = unicodedata.normalize("NFC", path)
    return path


def read_sidecar(path: str | Path) -> Sidecar:
    """Read a sidecar file (blocking: call it before the event loop or in a thread).
    Bytes that are not UTF-8 are kept surrogate-escaped, as the walk keeps such names."""
    try:
        with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as stream:
            return parse_sidecar(stream, source=str(path))
    except OSError as exc:
        raise MetadataError(f"{path}: cannot read the sidecar ({exc})") from exc


def parse_sidecar(lines: Iterable[str], *, source: str = "sidecar") -> Sidecar:
    """Check and index a sidecar's lines (as from a file opened with ``newline=""``)."""
    lines = iter(lines)
    first = next(lines, "")
    first = first.removeprefix("\ufeff")
    if not first.strip():
        raise MetadataError(f"{source}: empty (the first line names the columns: path, ...)")
    delimiter = max(",;\t", key=first.count) if any(d in first for d in ",;\t") else ","
    reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter, strict=True)
    try:
        return _parse(reader, source)
    except csv.Error as exc:
        raise MetadataError(f"{source} line {reader.line_num}: {exc}") from exc


def _parse(reader: Reader, source: str) -> Sidecar:
    header = [cell.strip() for cell in next(reader)]
    if header[0].casefold() != "path":
        raise MetadataError(f"{source}: the first column must be 'path', not {header[0]!r}")
    keep: list[int] = []
    seen: dict[str, int] = {}
    for index, name in enumerate(header[1:], start=1):
        if not name:
            raise MetadataError(f"{source}: column {index + 1} has no name")
        folded = name.casefold()
        if folded in seen or folded == "path":
            raise MetadataError(f"{source}: column {name!r} appears twice")
        seen[folded] = index
        if folded != IGNORED_COLUMN:
            keep.append(index)
    rows: dict[str, tuple[str, ...]] = {}
    lines_of: dict[str, int] = {}
    width = len(header)
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue  # a blank line, or a row of empty cells a spreadsheet left
        if any(cell.strip() for cell in cells[width:]):
            raise MetadataError(f"{source} line {line}: {len(cells)} cells for {width} columns")
        path = normalize_path(cells[0])
        if not path:
            raise MetadataError(f"{source} line {line}: values without a path")
        if path in lines_of:
            raise MetadataError(f"{source} line {line}: {path!r} is also on line {lines_of[path]}")
        lines_of[path] = line
        rows[path] = tuple(cells[i].strip() if i < len(cells) else "" for i in keep)
    return Sidecar(source, tuple(header[i] for i in keep), rows)
