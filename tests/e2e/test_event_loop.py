"""The real CLI on either event loop: the same job, the same records."""

from __future__ import annotations

from pathlib import Path

from bulkupload.eventloop import ENV, loop_name
from tests.e2e.conftest import Runner
from tests.trees import make_tree, read_manifest


def test_asyncio_loop_uploads_and_the_default_loop_finds_it_done(
    runner: Runner, tmp_path: Path
) -> None:
    expected = make_tree(tmp_path / "src", 40)
    src, debug = str(tmp_path / "src"), ("--log-level", "debug")
    first = runner.subprocess(src, *debug, env=runner.env(**{ENV: "asyncio"}))
    assert first.code == 0, first.stderr
    assert "event loop: asyncio" in first.stderr
    records = read_manifest(runner.manifest)
    assert len(records) == len(expected)
    assert {r["status"] for r in records} == {"uploaded"}
    stored = runner.emulator.counters()["storage_requests"]
    assert stored == len(expected)
    again = runner.subprocess(src, *debug)  # uvloop where installed
    assert again.code == 0, again.stderr
    assert f"event loop: {loop_name({})}" in again.stderr
    assert {r["status"] for r in read_manifest(runner.manifest)} == {"skipped"}
    assert runner.emulator.counters()["storage_requests"] == stored  # nothing sent twice


def test_an_unknown_loop_is_a_usage_error(runner: Runner, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    result = runner.subprocess(str(tmp_path / "src"), env=runner.env(**{ENV: "curio"}))
    assert result.code == 2
    assert "BULKUPLOAD_EVENT_LOOP='curio': expected one of uvloop, asyncio" in result.stderr
    assert "Traceback" not in result.stderr
