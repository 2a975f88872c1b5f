"""The CSV sidecar: read as a spreadsheet saves it, one clear line when it cannot be used."""

from __future__ import annotations

import csv
import io
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkupload.metadata import MetadataError, parse_sidecar, read_sidecar


def sidecar(text: str) -> dict[str, dict[str, str]]:
    read = parse_sidecar(io.StringIO(text, newline=""), source="meta.csv")
    return {path: dict(zip(read.columns, cells, strict=True)) for path, cells in read.rows.items()}


def test_rows_by_path_with_columns_by_field() -> None:
    assert sidecar("path,Type,discipline\nDrawings/E/1.pdf,Drawing,E\nSpecs/a.docx,,\n") == {
        "Drawings/E/1.pdf": {"Type": "Drawing", "discipline": "E"},
        "Specs/a.docx": {"Type": "", "discipline": ""},
    }


def test_semicolon_and_tab_separated_files_and_a_bom() -> None:
    assert sidecar('\ufeffPath;Type;Trades\na.pdf;Drawing;"E; M"\n') == {
        "a.pdf": {"Type": "Drawing", "Trades": "E; M"}
    }
    assert sidecar("path\tType\na.pdf\tDrawing\n") == {"a.pdf": {"Type": "Drawing"}}


def test_paths_are_compared_normalised() -> None:
    read = parse_sidecar(["path,Type\n", ".\\Drawings\\Café.pdf,Drawing\n"])
    assert read.row("Drawings/Café.pdf") == ("Drawing",)
    assert read.row(unicodedata.normalize("NFD", "Drawings/Café.pdf")) == ("Drawing",)
    assert read.row("/Drawings/Café.pdf") == ("Drawing",)
    assert read.row("Drawings/other.pdf") is None


def test_the_problems_column_blank_rows_and_short_rows() -> None:
    assert sidecar("path,problems,Type\na.pdf,Type: missing,\n,,\n\nb.pdf\n") == {
        "a.pdf": {"Type": ""},
        "b.pdf": {"Type": ""},
    }
    assert sidecar("path,Type\na.pdf,X,,\n") == {"a.pdf": {"Type": "X"}}  # trailing empty cells


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "meta.csv: empty (the first line names the columns: path, ...)"),
        ("file,Type\n", "meta.csv: the first column must be 'path', not 'file'"),
        ("path,,Type\n", "meta.csv: column 2 has no name"),
        ("path,Type,type\n", "meta.csv: column 'type' appears twice"),
        ("path,Path\n", "meta.csv: column 'Path' appears twice"),
        ("path,Type\na.pdf,X\n./a.pdf,Y\n", "meta.csv line 3: 'a.pdf' is also on line 2"),
        ("path,Type\n,X\n", "meta.csv line 2: values without a path"),
        ("path,Type\na.pdf,X,Y\n", "meta.csv line 2: 3 cells for 2 columns"),
        ('path,Type\n"a.pdf,X\n', "meta.csv line 2: unexpected end of data"),
    ],
)
def test_a_bad_sidecar_is_one_line(text: str, message: str) -> None:
    with pytest.raises(MetadataError) as caught:
        parse_sidecar(io.StringIO(text, newline=""), source="meta.csv")
    assert str(caught.value) == message


def test_read_sidecar_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "meta.csv"
    path.write_bytes(b"path,Type\nbad\xff.pdf,Drawing\n")  # a name that is not UTF-8
    assert read_sidecar(path).row("bad\udcff.pdf") == ("Drawing",)
    with pytest.raises(MetadataError, match=r"nope\.csv: cannot read the sidecar"):
        read_sidecar(tmp_path / "nope.csv")


names = st.text(
    st.characters(blacklist_categories=["Cs", "Cc", "Zs", "Zl", "Zp"], blacklist_characters="/\\"),
    min_size=1,
).filter(lambda name: name not in (".", ".."))


@given(st.dictionaries(st.lists(names, min_size=1, max_size=3).map("/".join), names, max_size=8))
def test_any_paths_and_values_round_trip_through_csv(rows: dict[str, str]) -> None:
    rows = {unicodedata.normalize("NFC", k): v.strip() for k, v in rows.items()}
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["path", "Description"])
    writer.writerows(rows.items())
    read = parse_sidecar(io.StringIO(out.getvalue(), newline=""))
    assert {path: cells[0] for path, cells in read.rows.items()} == rows
