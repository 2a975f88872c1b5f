"""Issue #4 end to end: uploads land in the Documents tool as a mirror of the local tree.

Each test runs the real CLI against the emulator and checks what a user would look at: the
Documents tree (admin view, with the MD5 of the stored bytes), the manifest, and the emulator's
counters of API calls and storage requests.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import posixpath
import sqlite3
from pathlib import Path
from typing import Any

from bulkupload import cli
from tests.e2e.conftest import CliRun, Runner
from tests.trees import make_tree, manifest_rel, read_manifest, write

PROJECT = 42
FOLDER = "Migrations/Test"
SMALL = {
    "readme.txt": b"top level",
    "plans/site.pdf": b"%PDF site plan",
    "plans/levels/level-1.dwg": b"level one drawing",
    "plans/levels/level-2.dwg": b"level two drawing, longer",
}


# ── helpers ───────────────────────────────────────────────────────────────────────────
def remote(rel: str) -> str:
    """The name Procore shows for a local rel: undecodable bytes become U+FFFD."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def documents(runner: Runner) -> dict[str, Any]:
    tree: dict[str, Any] = runner.emulator.admin_get(f"/_emulator/documents?project_id={PROJECT}")
    return tree


def flatten(tree: dict[str, Any], prefix: str = "") -> tuple[set[str], dict[str, dict[str, Any]]]:
    """(folder paths, file path → file node) of an admin tree, paths relative to `tree`."""
    folders: set[str] = set()
    files: dict[str, dict[str, Any]] = {}
    for node in tree["files"]:
        files[posixpath.join(prefix, node["name"])] = node
    for sub in tree["folders"]:
        path = posixpath.join(prefix, sub["name"])
        folders.add(path)
        sub_folders, sub_files = flatten(sub, path)
        folders |= sub_folders
        files |= sub_files
    return folders, files


def under(tree: dict[str, Any], path: str) -> dict[str, Any]:
    """The subtree at `path` (``A/B``) of an admin tree."""
    for name in path.split("/"):
        matches = [f for f in tree["folders"] if f["name"] == name]
        assert len(matches) == 1, (
            f"no single folder {name!r} in {[f['name'] for f in tree['folders']]}"
        )
        tree = matches[0]
    return tree


def local(root: Path, expected: dict[str, str]) -> tuple[set[str], dict[str, tuple[int, str]]]:
    """(folder paths, remote path → (size, MD5)) of a local tree, as Documents should hold it."""
    files = {remote(rel): ((root / rel).stat().st_size, md5) for rel, md5 in expected.items()}
    folders: set[str] = set()
    for path in files:
        parent = posixpath.dirname(path)
        while parent:
            folders.add(parent)
            parent = posixpath.dirname(parent)
    return folders, files


def write_tree(root: Path, files: dict[str, bytes]) -> dict[str, str]:
    return {rel: write(root / rel, data) for rel, data in files.items()}


def records_by_rel(runner: Runner, manifest: Path | None = None) -> dict[str, dict[str, Any]]:
    return {manifest_rel(r): r for r in read_manifest(manifest or runner.manifest)}


def attach_cli(runner: Runner, *args: str, env: dict[str, str] | None = None) -> CliRun:
    """`bulkupload attach --manifest M --project 42 ...` in-process, as a user would run it."""
    argv = [
        "attach",
        "--manifest",
        str(runner.manifest),
        "--state",
        str(runner.state),
        "--project",
        str(PROJECT),
        "--base-url",
        runner.emulator.base_url,
        "--login-url",
        runner.emulator.login_url,
        *args,
    ]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run(argv, env or runner.env())
    return CliRun(code, out.getvalue(), err.getvalue(), runner.manifest)


def storage_uploads(runner: Runner) -> int:
    return int(runner.emulator.counters()["storage_success"])


# ── the whole tree, its API cost ──────────────────────────────────────────────────────
def test_tree_of_220_files_mirrors_into_documents(runner: Runner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    expected = make_tree(src, 220)
    result = runner(str(src), "--folder", FOLDER, "--concurrency", "16")
    assert result.code == 0, result.stdout + result.stderr

    want_folders, want_files = local(src, expected)
    assert max(path.count("/") for path in want_files) == 3  # three levels of folders
    got_folders, got_nodes = flatten(under(documents(runner), FOLDER))
    assert got_folders == want_folders
    assert {path: (n["size"], n["md5"]) for path, n in got_nodes.items()} == want_files
    assert all(len(n["versions"]) == 1 for n in got_nodes.values())
    # Nothing landed outside the base folder.
    root = documents(runner)
    assert [f["name"] for f in root["folders"]] == ["Migrations"] and root["files"] == []

    records = records_by_rel(runner)
    assert set(records) == set(expected)
    for rel, record in records.items():
        node = got_nodes[remote(rel)]
        assert record["status"] == "uploaded", record
        assert (record["file_id"], record["version"]) == (node["id"], 1)

    counters = runner.emulator.counters()
    files, folders = len(expected), len(want_folders) + len(FOLDER.split("/"))
    calls = counters["api_calls"]
    print(
        f"\nfresh run: {calls} API calls for {files} files in {folders} folders "
        f"({calls / files:.3f} per file); by route: {counters['api_calls_by_route']}"
    )
    assert calls <= 2 * files + 2 * folders
    by_route = counters["api_calls_by_route"]
    assert by_route["POST /rest/v1.1/projects/{id}/uploads"] == files
    assert by_route["POST /rest/v1.0/files"] == files
    assert by_route["POST /rest/v1.0/folders"] == folders


# ── incremental runs ──────────────────────────────────────────────────────────────────
def test_unchanged_rerun_sends_nothing_and_an_edit_makes_one_version(
    runner: Runner, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    expected = write_tree(src, SMALL)
    assert runner(str(src), "--folder", FOLDER).code == 0
    before = flatten(under(documents(runner), FOLDER))
    sent = storage_uploads(runner)
    uploads = len(runner.emulator.uploads())

    again = runner(str(src), "--folder", FOLDER)
    assert again.code == 0, again.stdout + again.stderr
    assert storage_uploads(runner) == sent
    assert len(runner.emulator.uploads()) == uploads
    assert flatten(under(documents(runner), FOLDER)) == before
    assert {r["status"] for r in records_by_rel(runner).values()} == {"skipped"}

    edited = src / "plans/levels/level-1.dwg"
    new_md5 = write(edited, b"level one drawing, revised and longer")
    os.utime(edited, ns=(edited.stat().st_atime_ns, edited.stat().st_mtime_ns + 10**9))
    expected["plans/levels/level-1.dwg"] = new_md5
    edit = runner(str(src), "--folder", FOLDER)
    assert edit.code == 0, edit.stdout + edit.stderr
    assert storage_uploads(runner) == sent + 1

    folders, nodes = flatten(under(documents(runner), FOLDER))
    assert folders == before[0] and set(nodes) == set(before[1])  # a version, not a new entry
    versioned = {path: n for path, n in nodes.items() if len(n["versions"]) > 1}
    assert list(versioned) == ["plans/levels/level-1.dwg"]
    node = versioned["plans/levels/level-1.dwg"]
    assert node["id"] == before[1]["plans/levels/level-1.dwg"]["id"]
    assert [v["md5"] for v in node["versions"]] == [
        hashlib.md5(SMALL["plans/levels/level-1.dwg"]).hexdigest(),
        new_md5,
    ]
    record = records_by_rel(runner)["plans/levels/level-1.dwg"]
    assert (record["status"], record["version"], record["file_id"]) == ("uploaded", 2, node["id"])


# ── --on-conflict, with a fresh state so only Documents knows the files exist ──────────
def upload_twice(runner: Runner, tmp_path: Path, mode: str) -> CliRun:
    src = tmp_path / "src"
    write_tree(src, SMALL)
    assert runner(str(src), "--folder", FOLDER).code == 0
    return runner(
        str(src),
        "--folder",
        FOLDER,
        "--on-conflict",
        mode,
        "--state",
        str(tmp_path / "fresh.sqlite"),
    )


def test_on_conflict_version_adds_a_version(runner: Runner, tmp_path: Path) -> None:
    result = upload_twice(runner, tmp_path, "version")
    assert result.code == 0, result.stdout + result.stderr
    _, nodes = flatten(under(documents(runner), FOLDER))
    assert set(nodes) == set(SMALL)
    for rel, data in SMALL.items():
        assert [v["md5"] for v in nodes[rel]["versions"]] == [hashlib.md5(data).hexdigest()] * 2
    records = records_by_rel(runner)
    first_ids = {rel: nodes[rel]["id"] for rel in SMALL}
    for rel, record in records.items():
        assert (record["status"], record["version"]) == ("uploaded", 2), record
        assert record["file_id"] == first_ids[rel]


def test_on_conflict_skip_uploads_nothing(runner: Runner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_tree(src, SMALL)
    assert runner(str(src), "--folder", FOLDER).code == 0
    sent, uploads = storage_uploads(runner), len(runner.emulator.uploads())
    before = flatten(under(documents(runner), FOLDER))
    result = runner(
        str(src), "--folder", FOLDER, "--on-conflict", "skip", "--state", str(tmp_path / "s2")
    )
    assert result.code == 0, result.stdout + result.stderr
    assert storage_uploads(runner) == sent
    assert len(runner.emulator.uploads()) == uploads  # not even an instruction spent
    assert flatten(under(documents(runner), FOLDER)) == before
    records = records_by_rel(runner)
    assert set(records) == set(SMALL)
    for rel, record in records.items():
        assert record["status"] == "skipped", record
        assert "exists in Procore" in record["error"]
        assert record["file_id"] == before[1][rel]["id"]


def test_on_conflict_rename_adds_numbered_files(runner: Runner, tmp_path: Path) -> None:
    result = upload_twice(runner, tmp_path, "rename")
    assert result.code == 0, result.stdout + result.stderr
    _, nodes = flatten(under(documents(runner), FOLDER))
    renamed = {
        "readme (1).txt",
        "plans/site (1).pdf",
        "plans/levels/level-1 (1).dwg",
        "plans/levels/level-2 (1).dwg",
    }
    assert set(nodes) == set(SMALL) | renamed
    assert all(len(n["versions"]) == 1 for n in nodes.values())
    for rel, data in SMALL.items():
        stem, ext = posixpath.splitext(rel)
        assert (
            nodes[f"{stem} (1){ext}"]["md5"] == nodes[rel]["md5"] == hashlib.md5(data).hexdigest()
        )
    for rel, record in records_by_rel(runner).items():
        stem, ext = posixpath.splitext(rel)
        assert record["status"] == "uploaded"
        assert record["file_id"] == nodes[f"{stem} (1){ext}"]["id"]


# ── --no-attach, then `bulkupload attach` ─────────────────────────────────────────────
def test_no_attach_then_attach_command(runner: Runner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    expected = write_tree(src, SMALL)
    first = runner(str(src), "--no-attach")
    assert first.code == 0, first.stdout + first.stderr
    assert flatten(documents(runner)) == (set(), {})
    sent = storage_uploads(runner)

    attached = attach_cli(runner, "--folder", FOLDER)
    assert attached.code == 0, attached.stdout + attached.stderr
    assert "attached 4, expired 0, failed 0" in attached.stdout
    assert storage_uploads(runner) == sent
    folders, nodes = flatten(under(documents(runner), FOLDER))
    assert folders == {"plans", "plans/levels"}
    assert {path: n["md5"] for path, n in nodes.items()} == expected
    for rel, record in records_by_rel(runner).items():
        node = nodes[rel]
        assert record["status"] == "uploaded"
        assert record["file_id"] == node["id"]
        assert record["version"] == 1
        assert record["folder_id"] is not None
        assert record["upload_uuid"] == node["versions"][0]["upload_uuid"]


def test_attach_after_seven_days_reports_expired(runner: Runner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_tree(src, SMALL)
    assert runner(str(src), "--no-attach").code == 0
    runner.emulator.advance_clock(8 * 24 * 3600)

    late = attach_cli(runner, "--folder", FOLDER)
    assert late.code != 0
    assert "attached 0, expired 4, failed 0" in late.stdout, late.stdout + late.stderr
    _, nodes = flatten(documents(runner))
    assert nodes == {}
    for record in records_by_rel(runner).values():
        assert record["status"] == "failed"
        assert "expired" in record["error"]
        assert record["file_id"] is None


def test_another_identity_cannot_attach_my_uploads(runner: Runner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_tree(src, SMALL)
    assert runner(str(src), "--no-attach").code == 0
    other = runner.env(
        PROCORE_CLIENT_ID="other-client-id", PROCORE_CLIENT_SECRET="other-client-secret"
    )
    result = attach_cli(runner, "--folder", FOLDER, env=other)
    assert result.code != 0
    assert "attached 0, expired 0, failed 4" in result.stdout, result.stdout + result.stderr
    _, nodes = flatten(documents(runner))
    assert nodes == {}
    for record in records_by_rel(runner).values():
        assert record["status"] == "failed"
        # Procore's wording is not published: the line says what failed, with Procore's words.
        assert record["error"].startswith("attach failed: "), record["error"]
        assert record["file_id"] is None
    # The owner still can: running `attach` again retries the failed records.
    mine = attach_cli(runner, "--folder", FOLDER)
    assert mine.code == 0, mine.stdout + mine.stderr
    assert "attached 4, expired 0, failed 0" in mine.stdout
    _, nodes = flatten(under(documents(runner), FOLDER))
    assert set(nodes) == set(SMALL)
    for rel, record in records_by_rel(runner).items():
        assert (record["status"], record["error"]) == ("uploaded", None)
        assert record["file_id"] == nodes[rel]["id"]


# ── resume: bytes stored, never attached ──────────────────────────────────────────────
def test_sent_but_not_attached_is_attached_without_resending(
    runner: Runner, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    expected = write_tree(src, SMALL)
    assert runner(str(src), "--no-attach").code == 0
    uploaded = {manifest_rel(r): r["upload_uuid"] for r in read_manifest(runner.manifest)}
    # What a crash between storage and attach leaves behind: rows 'sent' with their upload uuid.
    with contextlib.closing(sqlite3.connect(runner.state)) as db, db:
        assert db.execute("UPDATE files SET status = 'sent'").rowcount == len(SMALL)
    sent, uploads = storage_uploads(runner), len(runner.emulator.uploads())

    resumed = runner(str(src), "--folder", FOLDER)
    assert resumed.code == 0, resumed.stdout + resumed.stderr
    assert storage_uploads(runner) == sent
    assert len(runner.emulator.uploads()) == uploads
    _, nodes = flatten(under(documents(runner), FOLDER))
    assert {path: n["md5"] for path, n in nodes.items()} == expected
    for rel, record in records_by_rel(runner).items():
        assert record["status"] == "uploaded"
        assert record["upload_uuid"] == uploaded[rel] == nodes[rel]["versions"][0]["upload_uuid"]
        assert record["file_id"] == nodes[rel]["id"]


def test_a_failure_before_sending_keeps_the_stored_bytes_on_record(
    runner: Runner, tmp_path: Path
) -> None:
    """A run killed after its attach landed, before its record, leaves the row 'sent'. If
    Procore fails the next run before that file is settled (here: every API call a 5xx), the
    row must stay 'sent': a 'failed' row would have the run after it send the bytes again and
    add them as a second version of the same file."""
    src = tmp_path / "src"
    write(src / "a.txt", b"one")
    assert runner(str(src), "--folder", FOLDER).code == 0
    with contextlib.closing(sqlite3.connect(runner.state)) as db, db:
        db.execute("UPDATE files SET status = 'sent', expires_at = 4102444800")
        before = db.execute("SELECT status, upload_uuid, expires_at FROM files").fetchall()
    runner.emulator.set_faults(api_5xx=1.0, retry_after=0)
    hiccup = runner(str(src), "--folder", FOLDER, "--retries", "1")
    runner.emulator.set_faults(api_5xx=0.0)
    assert hiccup.code == 1, hiccup.stdout + hiccup.stderr
    assert [r["status"] for r in read_manifest(runner.manifest)] == ["failed"]
    with contextlib.closing(sqlite3.connect(runner.state)) as db:
        kept = db.execute("SELECT status, upload_uuid, expires_at FROM files").fetchall()
    assert kept == before
    settled = runner(str(src), "--folder", FOLDER)
    assert settled.code == 0, settled.stdout + settled.stderr
    _, nodes = flatten(under(documents(runner), FOLDER))
    assert len(nodes["a.txt"]["versions"]) == 1  # settled from Procore's state, not sent again


def test_run_after_no_attach_attaches_the_stored_uploads(runner: Runner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    expected = write_tree(src, SMALL)
    assert runner(str(src), "--no-attach").code == 0
    sent = storage_uploads(runner)

    result = runner(str(src), "--folder", FOLDER)
    assert result.code == 0, result.stdout + result.stderr
    _, nodes = flatten(documents(runner))
    assert {path: n["md5"] for path, n in nodes.items()} == {
        f"{FOLDER}/{rel}": md5 for rel, md5 in expected.items()
    }
    assert storage_uploads(runner) == sent  # the stored bytes are attached, not sent again


def test_a_new_folder_with_the_same_state_gets_its_own_copy(runner: Runner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    expected = write_tree(src, SMALL)
    assert runner(str(src), "--folder", "First").code == 0
    again = runner(str(src), "--folder", "First")
    assert again.code == 0 and f"0 uploaded, {len(expected)} skipped" in again.stdout

    second = runner(str(src), "--folder", "Second")
    assert second.code == 0, second.stdout + second.stderr
    assert f"{len(expected)} uploaded" in second.stdout
    _, nodes = flatten(documents(runner))
    for folder in ("First", "Second"):
        assert {
            p[len(folder) + 1 :]: n["md5"] for p, n in nodes.items() if p.startswith(folder)
        } == {remote(rel): md5 for rel, md5 in expected.items()}


def test_company_level_documents(runner: Runner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    expected = write_tree(src, SMALL)
    result = runner(str(src), "--company", "1", "--folder", "Company Library", project=None)
    assert result.code == 0, result.stdout + result.stderr
    tree = runner.emulator.admin_get("/_emulator/documents?company_id=1")
    _, nodes = flatten(tree)
    assert {path: n["md5"] for path, n in nodes.items()} == {
        f"Company Library/{remote(rel)}": md5 for rel, md5 in expected.items()
    }
    routes = runner.emulator.counters()["api_calls_by_route"]
    assert routes.get("POST /rest/v1.1/companies/{id}/uploads") == len(expected)
    assert not any("projects" in route for route in routes)
