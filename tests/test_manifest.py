"""The manifest: what a user or a script reading it afterwards can rely on."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bulkupload.manifest import (
    MANIFEST_KEYS,
    ManifestWriter,
    manifest_line,
    original_rel,
    read_manifest,
)
from bulkupload.models import FileResult, Placement, Status


def result(rel: str, **kw: object) -> FileResult:
    base: dict[str, object] = {"size": 3, "mtime_ns": 1_500_000_000, "status": Status.UPLOADED}
    base.update(kw)
    return FileResult(rel=rel, **base)  # type: ignore[arg-type]


def test_lines_have_the_documented_keys_in_order(tmp_path: Path) -> None:
    path = tmp_path / "out" / "manifest.jsonl"
    with ManifestWriter(path) as writer:
        writer.write_many(
            [
                result(
                    "a.txt",
                    md5="m",
                    upload_uuid="u",
                    attempts=2,
                    placement=Placement(file_id=1, version=3, action="created"),
                ),
                result("b.txt", status=Status.FAILED, error="storage 503"),
            ]
        )
    first, second = list(read_manifest(path))
    assert tuple(first) == (*MANIFEST_KEYS, "action")
    assert first["path"] == "a.txt"
    assert (first["size"], first["mtime"], first["md5"], first["status"]) == (
        3,
        1.5,
        "m",
        "uploaded",
    )
    assert (first["attempts"], first["file_id"], first["version"]) == (2, 1, 3)
    assert first["action"] == "created"
    assert tuple(second) == MANIFEST_KEYS
    assert (second["status"], second["error"], second["file_id"]) == ("failed", "storage 503", None)


def test_a_new_run_truncates_the_old_manifest(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    with ManifestWriter(path) as writer:
        writer.write_many([result("old1"), result("old2")])
    with ManifestWriter(path) as writer:
        writer.write_many([result("new")])
    assert [r["path"] for r in read_manifest(path)] == ["new"]


def test_lines_are_readable_before_close(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    writer = ManifestWriter(path)
    writer.write_many([result("a")])
    assert [r["path"] for r in read_manifest(path)] == ["a"]  # flushed after each batch
    writer.close()
    writer.close()


def test_undecodable_name_is_printable_and_recoverable(tmp_path: Path) -> None:
    rel = "dir/caf\udce9 \U0001f3d7.txt"
    path = tmp_path / "m.jsonl"
    with ManifestWriter(path) as writer:
        writer.write_many([result(rel, error=f"cannot open {rel}"), result("plain é.txt")])
    raw = path.read_bytes()
    raw.decode("utf-8")  # strict: the file is valid UTF-8
    odd, plain = list(read_manifest(path))
    assert odd["path"] == "dir/caf\\xe9 \U0001f3d7.txt"
    assert original_rel(odd) == rel
    assert odd["error"] == "cannot open dir/caf\\xe9 \U0001f3d7.txt"
    assert "path_bytes_b64" not in plain
    assert original_rel(plain) == "plain é.txt"


def test_mtime_is_seconds_from_the_exact_nanoseconds() -> None:
    assert manifest_line(result("a", mtime_ns=2_500_000_000))["mtime"] == 2.5
    assert manifest_line(result("a", mtime_ns=None))["mtime"] is None


def test_truncated_last_line_is_ignored_but_bad_middle_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"path": "a"}\n{"path": "b", "si')
    assert [r["path"] for r in read_manifest(path)] == ["a"]
    path.write_text('{"path": "a"}\nnot json\n{"path": "c"}\n')
    try:
        list(read_manifest(path))
    except ValueError as exc:
        assert "line 2" in str(exc)
    else:
        raise AssertionError("bad line was accepted")


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(
        st.binary(min_size=1, max_size=30).filter(lambda b: b"\0" not in b),
        min_size=1,
        max_size=5,
    )
)
def test_any_name_round_trips_through_the_manifest(names: list[bytes]) -> None:
    rels = [os.fsdecode(n) for n in names]
    lines = b"".join(
        (json.dumps(manifest_line(result(r)), ensure_ascii=False) + "\n").encode() for r in rels
    )
    records = [json.loads(line) for line in lines.decode("utf-8").splitlines()]
    assert [os.fsencode(original_rel(rec)) for rec in records] == names
