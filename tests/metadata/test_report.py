"""The dry run: a summary a person reads, and a sheet they fill in and give back."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import anyio
import anyio.to_thread

from bulkupload.metadata import (
    FileMetadata,
    MetadataResolver,
    ProblemSheet,
    Summary,
    parse_rules,
    read_sidecar,
)
from tests.metadata.project import DRAWING_RULES, FIELDS, catalog, field, resolver

TREE = [
    "Drawings/E/E-101_Lighting.pdf",  # electrical drawing: Date Authored missing
    "Drawings/X/X-1_Thing.pdf",  # no discipline X
    "Drawings/M/M-201_Duct.pdf",  # ok
    "Specs/260500 Wiring.docx",  # ok
    "Photos/site.jpg",  # no rule: Type and Revision missing
    "Photos/caf\udce9.jpg",  # a name that is not UTF-8, as the walk gives it
]

# The fields some requirement rule makes the user fill, in the rules' order (Name is computed).
REQUIRED = ["Type", "Revision", "Status", "Discipline", "Number", "Date Authored"]


async def dry_run(meta: MetadataResolver) -> list[FileMetadata]:
    return [await meta.resolve(rel) for rel in TREE]


async def test_the_summary_counts_files_by_problem_kind_and_field() -> None:
    meta = await resolver(DRAWING_RULES, "path,Type\nnot/here.pdf,Drawing\n")
    summary = Summary()
    for outcome in await dry_run(meta):
        summary.add(outcome)
    assert summary.lines(meta.unmatched_sidecar_paths()) == [
        "metadata: 6 files: 2 ok, 4 with problems",
        "  missing Revision: 2 files, e.g. Revision: is required and has no value",
        "  missing Type: 2 files, e.g. Type: is required and has no value",
        "  missing Date Authored: 1 file, e.g. Date Authored: is required and has no value",
        "  unknown value Discipline: 1 file, e.g. Discipline: 'X' (from rule 1) is not a label or "
        "code of a value of this field",
        "sidecar: 1 rows for paths not in the tree: 'not/here.pdf'",
    ]
    assert summary.lines(most=1)[-1] == "  ... and 3 more kinds of problem"


def test_the_summary_shortens_long_lists() -> None:
    lines = Summary().lines([f"{n}.pdf" for n in range(8)])
    assert lines == [
        "metadata: 0 files: 0 ok, 0 with problems",
        "sidecar: 8 rows for paths not in the tree: '0.pdf', '1.pdf', '2.pdf', '3.pdf', '4.pdf' "
        "and 3 more",
    ]


async def test_the_sheet_has_a_row_per_file_with_problems() -> None:
    meta = await resolver(DRAWING_RULES)
    out = io.StringIO(newline="")
    sheet = ProblemSheet(out, meta.sheet_columns())
    written = [sheet.add(outcome) for outcome in await dry_run(meta)]
    assert written == [True, True, False, False, True, True]
    assert sheet.rows == 4
    rows = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert rows[0] == ["path", *REQUIRED, "Description", "problems"]
    assert rows[1] == [
        "Drawings/E/E-101_Lighting.pdf",
        "Drawing",
        "A",
        "Issued for Construction",
        "E",
        "E-101",
        "",
        "Lighting",
        "Date Authored: is required and has no value",
    ]
    assert rows[2][4] == "X"  # given but unusable: shown so it can be corrected
    assert rows[3][:4] == ["Photos/site.jpg", "", "", "Issued for Construction"]


async def test_a_header_is_the_name_where_the_label_is_not_unique() -> None:
    fields = [*FIELDS, field("F-X", "custom_field_11", "Number", "string")]
    meta = await resolver("[defaults]\ncustom_field_11 = '1'", cat=catalog(fields=fields))
    headers = [header for header, _ in meta.sheet_columns()]
    assert headers == [*REQUIRED, "custom_field_11"]
    fields = [*FIELDS, field("F-Y", "custom_field_12", "Revision", "string")]
    meta = await resolver("[defaults]\ncustom_field_12 = '1'", cat=catalog(fields=fields))
    assert [h for h, _ in meta.sheet_columns()][-1] == "custom_field_12"


async def test_fill_the_sheet_and_give_it_back_as_the_sidecar(tmp_path: Path) -> None:
    meta = await resolver(DRAWING_RULES)
    sheet_path = tmp_path / "to-fill.csv"
    outcomes = await dry_run(meta)

    def write_sheet() -> None:  # file I/O off the event loop, as the pipeline must do it
        with ProblemSheet.create(sheet_path, meta.sheet_columns()) as sheet:
            for outcome in outcomes:
                sheet.add(outcome)

    await anyio.to_thread.run_sync(write_sheet)

    # The document controller fills the blanks and corrects what was wrong, in a spreadsheet.
    fills = {"Type": "Specification", "Revision": "0", "Date Authored": "2025-12-15"}
    with sheet_path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as stream:
        rows = list(csv.DictReader(stream))
    for row in rows:
        for header, value in fills.items():
            row[header] = row[header] or value
        if row["Discipline"] == "X":
            row["Discipline"] = "Mechanical"
    with sheet_path.open("w", encoding="utf-8-sig", errors="surrogateescape", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    sidecar = await anyio.to_thread.run_sync(read_sidecar, sheet_path)
    again = await MetadataResolver.create(catalog(), parse_rules(DRAWING_RULES), sidecar)
    outcomes = await dry_run(again)
    assert [o.problems for o in outcomes] == [()] * len(TREE)
    assert again.unmatched_sidecar_paths() == []
    date = next(s for s in outcomes[0].fields if s.field.id == "F-DATE")
    assert (date.values, date.source) == (("2025-12-15T00:00:00Z",), "sidecar")
