"""Filters and change detection, as a user sees them in the manifest and the emulator."""

from __future__ import annotations

import os
from pathlib import Path

from tests.e2e.conftest import Runner
from tests.trees import manifest_rel, read_manifest, write


def records(runner: Runner) -> dict[str, dict[str, object]]:
    return {manifest_rel(r): r for r in read_manifest(runner.manifest)}


def test_include_and_exclude_patterns(runner: Runner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    for rel in ("a.pdf", "b.tmp", "plans/c.pdf", "plans/d.dwg", "build/e.pdf", "build/f.pdf"):
        write(src / rel, rel.encode())
    result = runner(
        str(src), "--include", "*.pdf", "--include", "*.tmp", "--exclude", "*.tmp",
        "--exclude", "build/", "--no-attach",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    found = records(runner)
    assert {rel for rel, r in found.items() if r["status"] == "uploaded"} == {
        "a.pdf",
        "plans/c.pdf",
    }
    assert "--exclude" in str(found["b.tmp"]["error"])
    assert "--include" in str(found["plans/d.dwg"]["error"])
    pruned = [rel for rel in found if rel.startswith("build")]
    assert pruned == ["build/"] and found["build/"]["status"] == "skipped"
    assert len(runner.emulator.uploads()) == 2


def test_touch_without_change_resends_unless_checksum(runner: Runner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "same.txt", b"same bytes")
    write(src / "edited.txt", b"old bytes!")
    assert runner(str(src), "--no-attach").code == 0
    assert runner.emulator.counters()["storage_success"] == 2

    later = (src / "same.txt").stat().st_mtime + 60
    os.utime(src / "same.txt", (later, later))  # touched, content unchanged
    write(src / "edited.txt", b"new bytes!")  # same size, new content
    os.utime(src / "edited.txt", (later, later))
    runner.emulator.reset_counters()
    result = runner(str(src), "--no-attach", "--checksum")
    assert result.code == 0, result.stderr
    found = records(runner)
    assert found["same.txt"]["status"] == "skipped"
    assert "MD5" in str(found["same.txt"]["error"])
    assert found["edited.txt"]["status"] == "uploaded"
    assert runner.emulator.counters()["storage_success"] == 1

    # Without --checksum, size+mtime decide: the touched file is sent again (nothing lost).
    os.utime(src / "same.txt", (later + 60, later + 60))
    runner.emulator.reset_counters()
    assert runner(str(src), "--no-attach").code == 0
    assert records(runner)["same.txt"]["status"] == "uploaded"
    assert runner.emulator.counters()["storage_success"] == 1
