"""The dry run's two products: a short summary as text lines, and a CSV of the files with
problems that the user fills in and gives back as the sidecar.

The sheet has one row per file with problems: `path`, one column per field to fill (headed by
its label, or its name where the label is not unique), pre-filled with what was given (resolved
or not), empty where nothing was, and `problems`, which the sidecar reader ignores. Rows are
written as outcomes arrive: nothing is held per file.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TextIO

from ._outcome import FileMetadata, ProblemKind
from ._records import FieldDef
from ._sidecar import IGNORED_COLUMN

__all__ = ["ProblemSheet", "Summary"]


class Summary:
    """Counts of files ok and with problems, by problem kind and field (each counted once per
    file), with one example text each. Memory: one entry per kind and field seen."""

    def __init__(self) -> None:
        self.files = 0
        self.ok = 0
        self._counts: Counter[tuple[ProblemKind, str]] = Counter()
        self._examples: dict[tuple[ProblemKind, str], str] = {}

    def add(self, outcome: FileMetadata) -> None:
        """Count one file's outcome."""
        self.files += 1
        self.ok += outcome.ok
        for problem in outcome.problems:
            self._examples.setdefault((problem.kind, problem.field), str(problem))
        self._counts.update({(p.kind, p.field) for p in outcome.problems})

    @property
    def with_problems(self) -> int:
        """Files with at least one problem."""
        return self.files - self.ok

    def lines(self, unmatched_sidecar_paths: Sequence[str] = (), *, most: int = 20) -> list[str]:
        """The summary: a count line, then one line per problem kind and field (the `most`
        commonest), then the sidecar rows whose path no file had."""
        out = [
            f"metadata: {self.files:,} files: {self.ok:,} ok, {self.with_problems:,} with problems"
        ]
        ranked = sorted(self._counts.items(), key=lambda item: (-item[1], item[0]))
        for (kind, field), count in ranked[:most]:
            files = "file" if count == 1 else "files"
            out.append(f"  {kind} {field}: {count:,} {files}, e.g. {self._examples[kind, field]}")
        if len(ranked) > most:
            out.append(f"  ... and {len(ranked) - most} more kinds of problem")
        if unmatched_sidecar_paths:
            count = len(unmatched_sidecar_paths)
            shown = ", ".join(repr(path) for path in unmatched_sidecar_paths[:5])
            more = f" and {count - 5:,} more" if count > 5 else ""
            out.append(f"sidecar: {count:,} rows for paths not in the tree: {shown}{more}")
        return out


class ProblemSheet:
    """Writes the dry-run CSV to `stream` (open it with ``newline=""``; `create` does).

    `columns` are (header, field) pairs, as `MetadataResolver.sheet_columns` gives them.
    Writing is blocking I/O: from the event loop, hand rows to a worker thread.
    """

    def __init__(self, stream: TextIO, columns: Sequence[tuple[str, FieldDef]]) -> None:
        self._stream = stream
        self._columns = tuple(columns)
        self._writer = csv.writer(stream)
        self._writer.writerow(["path", *(header for header, _ in self._columns), IGNORED_COLUMN])
        self.rows = 0

    @classmethod
    def create(cls, path: str | Path, columns: Sequence[tuple[str, FieldDef]]) -> ProblemSheet:
        """A sheet writing to a new file at `path` (UTF-8 with a BOM, which spreadsheets need
        to show accents; names that are not UTF-8 are written back byte for byte)."""
        # The sheet owns the stream from here: `close` or the context manager closes it.
        stream = open(path, "w", encoding="utf-8-sig", errors="surrogateescape", newline="")  # noqa: SIM115
        return cls(stream, columns)

    def add(self, outcome: FileMetadata) -> bool:
        """Write a row for `outcome` if it has problems; whether it did."""
        if outcome.ok:
            return False
        cells = {setting.field.id: setting.text for setting in outcome.fields}
        for problem in outcome.problems:
            if problem.field_id is not None and problem.given is not None:
                cells.setdefault(problem.field_id, problem.given)
        row = [outcome.rel, *(cells.get(field.id, "") for _, field in self._columns)]
        self._writer.writerow([*row, "; ".join(str(p) for p in outcome.problems)])
        self.rows += 1
        return True

    def close(self) -> None:
        """Close the stream."""
        self._stream.close()

    def __enter__(self) -> ProblemSheet:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
