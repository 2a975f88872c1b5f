"""Filters and change detection, as a user sees them in the manifest and the emulator."""

from __future__ import annotations

import os
from pathlib import Path

from bulkupload import cli
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


def test_a_touch_alone_sends_nothing_a_same_size_edit_is_sent(
    runner: Runner, tmp_path: Path
) -> None:
    """Was (newcomer audit W6): a `touch` made a new Procore version of identical content."""
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

    # Without --checksum too: only the mtime changed, so the content is read, found the same,
    # and nothing is sent; the state takes the new mtime.
    os.utime(src / "same.txt", (later + 60, later + 60))
    runner.emulator.reset_counters()
    assert runner(str(src), "--no-attach").code == 0
    assert records(runner)["same.txt"]["status"] == "skipped"
    assert "unchanged since last upload (same MD5)" in str(records(runner)["same.txt"]["error"])
    assert runner.emulator.counters()["api_calls"] == 0
    again = runner(str(src), "--no-attach")  # and the next run need not read it again
    assert records(runner)["same.txt"]["error"] == "unchanged since last upload (not attached)"
    assert again.code == 0 and runner.emulator.counters()["storage_success"] == 0


def test_several_sources_keep_their_names_and_own_files_stay_home(
    runner: Runner, tmp_path: Path
) -> None:
    drawings, specs = tmp_path / "drawings", tmp_path / "specs"
    write(drawings / "A-101.pdf", b"plan")
    write(specs / "div01" / "010000.docx", b"spec")
    write(tmp_path / "loose.txt", b"a file SOURCE goes at the top")
    result = runner(str(drawings), str(specs), str(tmp_path / "loose.txt"), "--no-attach")
    assert result.code == 0, result.stderr
    assert {rel for rel, r in records(runner).items() if r["status"] == "uploaded"} == {
        "drawings/A-101.pdf",
        "specs/div01/010000.docx",
        "loose.txt",
    }

    clash = runner(str(drawings), str(tmp_path / "other" / "drawings"), "--no-attach")
    assert clash.code == 2 and "drawings" in clash.stderr


def test_the_manifest_and_state_inside_source_are_not_uploaded(
    runner: Runner, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write(src / "real.txt", b"data")
    # `bulkupload .` with the defaults: manifest and state live inside SOURCE.
    args = ["--manifest", str(src / "bulkupload-manifest.jsonl")]
    args += ["--state", str(src / ".bulkupload" / "state.sqlite"), "--no-attach"]
    assert runner(str(src), *args).code == 0
    second = runner(str(src), *args)
    assert second.code == 0, second.stdout
    found = {manifest_rel(r): r for r in read_manifest(src / "bulkupload-manifest.jsonl")}
    assert found["real.txt"]["status"] == "skipped"  # unchanged
    own = [rel for rel in found if rel != "real.txt"]
    assert own and all("own manifest" in str(found[rel]["error"]) for rel in own)
    assert len(runner.emulator.uploads()) == 1


def test_checksum_with_an_unreadable_file_fails_that_file_only(
    runner: Runner, tmp_path: Path
) -> None:
    """Was: `internal error: ExceptionGroup`, exit 2 and one manifest line for three files."""
    src = tmp_path / "src"
    for name in ("a.txt", "b.txt", "secret.txt"):
        write(src / name, name.encode() * 10)
    first = runner(str(src), "--no-attach")
    assert first.code == 0, first.stdout + first.stderr
    (src / "secret.txt").chmod(0)
    again = runner.subprocess(str(src), "--checksum", "--no-attach", drop_root_read=True)
    found = records(runner)
    assert set(found) == {"a.txt", "b.txt", "secret.txt"}
    assert found["secret.txt"]["status"] == "failed"
    assert "permission" in str(found["secret.txt"]["error"]).lower()
    assert {found[n]["status"] for n in ("a.txt", "b.txt")} == {"skipped"}
    assert again.code == 1, again.stdout + again.stderr
    assert "Traceback" not in again.stdout + again.stderr
    assert "internal error" not in again.stdout + again.stderr


def test_checksum_with_a_file_gone_after_the_walk_fails_that_file_only(
    runner: Runner, tmp_path: Path
) -> None:
    """Was: a raw OSError from the MD5 (`internal error: ExceptionGroup`, lines lost). The file
    is deleted between the walk and the plan: when the walk hands its batch over (the run's
    FilesFound event, which a host program can subscribe to)."""
    import anyio

    import bulkupload
    from bulkupload.cli.upload import settings_from

    src = tmp_path / "src"
    for name in ("a.txt", "b.txt", "gone.txt"):
        write(src / name, name.encode() * 10)
    assert runner(str(src), "--no-attach").code == 0

    def delete_after_walk(event: bulkupload.Event) -> None:
        if isinstance(event, bulkupload.FilesFound):
            (src / "gone.txt").unlink()

    args = cli.build_parser().parse_args(runner.argv(str(src), "--checksum", "--no-attach"))
    settings = settings_from(args, runner.env())
    outcome = anyio.run(lambda: bulkupload.upload(settings, events=delete_after_walk))
    found = records(runner)
    assert set(found) == {"a.txt", "b.txt", "gone.txt"}
    assert found["gone.txt"]["status"] == "failed"
    assert found["gone.txt"]["error"] == "gone.txt: no longer exists"
    assert {found[n]["status"] for n in ("a.txt", "b.txt")} == {"skipped"}
    assert (outcome.tally.failed, outcome.tally.skipped) == (1, 2)
