"""The content digest the state keeps: an MD5, or a v2.1 file's parts digest; how the manifest
and the report show each, and how a manifest line gives it back."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

from bulkupload.digests import manifest_digest, parts_digest, parts_size, split_digest
from bulkupload.manifest import manifest_line
from bulkupload.models import FileResult, Status
from bulkupload.report import render_report
from bulkupload.state import StateStore

MD5 = "9e107d9d372bb6826bd81d3542a419d6"


def test_a_parts_digest_is_the_sha256_of_the_parts_sha256s_with_its_cut() -> None:
    parts = [hashlib.sha256(b).hexdigest() for b in (b"one", b"two")]
    combined = hashlib.sha256(b"".join(bytes.fromhex(p) for p in parts)).hexdigest()
    digest = parts_digest(8 << 20, parts)
    assert digest == f"sha256-parts:{8 << 20}:{combined}-2"
    assert parts_size(digest) == 8 << 20
    assert parts_digest(16 << 20, parts) != digest  # the cut is part of it
    with pytest.raises(ValueError, match="at least one part"):
        parts_digest(8 << 20, [])


@pytest.mark.parametrize(
    "other",
    [
        None,
        "",
        MD5,
        "sha256-parts:0:" + "a" * 64 + "-1",
        "sha256-parts:5:abc-1",
        f"sha256-parts:{5 << 20}:" + "a" * 64 + "-1",  # v2.1 never cuts parts this small
        f"sha256-parts:{(100 << 20) + 1}:" + "a" * 64 + "-1",  # nor this big
    ],
)
def test_anything_else_has_no_part_size(other: str | None) -> None:
    """Not a parts digest v2.1 could have made: a later run compares it as an MD5 (and so finds
    the file changed) rather than hashing a file cut as nobody cut it."""
    assert parts_size(other) is None


def test_the_manifest_shows_an_md5_as_md5_and_a_parts_digest_apart() -> None:
    digest = parts_digest(32 << 20, ["ab" * 32, "cd" * 32])
    plain = manifest_line(FileResult("a.pdf", 3, 1, Status.UPLOADED, md5=MD5))
    parted = manifest_line(FileResult("m.ifc", 3, 1, Status.UPLOADED, md5=digest))
    assert plain["md5"] == MD5 and "parts_sha256" not in plain
    assert parted["md5"] is None and parted["parts_sha256"] == digest
    assert [manifest_digest(plain), manifest_digest(parted)] == [MD5, digest]
    assert manifest_digest({"md5": None}) is None


def test_the_report_has_a_column_for_each(tmp_path: Path) -> None:
    digest = parts_digest(32 << 20, ["ab" * 32])
    path = tmp_path / "state.sqlite"
    with StateStore.open(path) as writer:
        run = writer.begin_run("project:1")
        files = [
            FileResult("a.pdf", 3, 1, Status.UPLOADED, md5=MD5),
            FileResult("m.ifc", 3, 1, Status.UPLOADED, md5=digest),
        ]
        writer.record("project:1", files, run)
    out = io.StringIO()
    with StateStore.open(path, readonly=True) as reader:
        render_report(reader, None, "json", out)
    shown = {
        r["path"]: (r["md5"], r["parts_sha256"])
        for r in map(json.loads, out.getvalue().splitlines())
    }
    assert shown == {"a.pdf": (MD5, None), "m.ifc": (None, digest)}
    assert split_digest(None) == (None, None)
