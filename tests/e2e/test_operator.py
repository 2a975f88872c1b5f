"""What an operator meets (newcomer audit 2026-12-01): each test reproduces an item of the audit
through the real command line against the emulator, and asserts what the person sees and what
is left on disk. Trees are a few files: these are about behaviour, not volume."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bulkupload import cli
from tests.e2e.conftest import CliRun, Runner
from tests.trees import read_manifest, write

FILES = {"a.txt": b"first", "plans/b.pdf": b"%PDF second", "plans/c.dwg": b"third file"}


def tree(root: Path, files: dict[str, bytes] = FILES) -> Path:
    for rel, data in files.items():
        write(root / rel, data)
    return root


def run(argv: list[str], env: dict[str, str]) -> CliRun:
    """`bulkupload ARGV` in-process, as a user types it (no defaults filled in)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run(argv, env)
    return CliRun(code, out.getvalue(), err.getvalue(), Path())


def connection(runner: Runner) -> list[str]:
    base = runner.emulator.base_url
    return ["--base-url", base, "--login-url", runner.emulator.login_url, "--progress", "none"]


# ── W3: a SOURCE that is not there ─────────────────────────────────────────────────────────
def test_a_missing_source_is_a_usage_error_before_any_api_call(
    runner: Runner, tmp_path: Path
) -> None:
    """Was: `./tre` (a typo) became one failed file after authenticating (exit 1), the manifest
    was rewritten with that one line and every file uploaded before was reported gone."""
    src = tree(tmp_path / "tree")
    first = runner(str(src))
    assert first.code == 0, first.stderr
    manifest_before = runner.manifest.read_bytes()
    runner.emulator.reset_counters()

    for sources in ([str(tmp_path / "tre")], [str(tmp_path / "nope"), str(src)]):
        typo = runner(*sources, "--report", str(tmp_path / "typo.json"))
        assert typo.code == 2 and typo.stdout == "", typo
        [line] = typo.stderr.strip().splitlines()
        assert line == (
            f"bulkupload: error: SOURCE not found: {sources[0]}; nothing was uploaded"
        ), line
        assert "gone" not in typo.stderr
    loop = tmp_path / "loop"
    loop.symlink_to(loop)  # was called "a broken symbolic link"
    looped = runner(str(loop))
    assert looped.code == 2 and "(a symbolic link loop)" in looped.stderr, looped
    counters = runner.emulator.counters()
    assert counters["api_calls"] == counters["oauth_calls"] == 0
    assert runner.manifest.read_bytes() == manifest_before
    assert not (tmp_path / "typo.json").exists()


# ── B3: stdout closed early ────────────────────────────────────────────────────────────────
def closed_stdout(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`cmd | head -c 0`: stdout is a pipe nobody reads, closed before anything is written."""
    read, write_end = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            cmd, stdout=write_end, stderr=subprocess.PIPE, env=env, text=True, timeout=60
        )
    finally:
        os.close(write_end)


def test_output_piped_into_head_is_no_error(runner: Runner, tmp_path: Path) -> None:
    """Was: `report --format json | head` and `csv` gave a BrokenPipeError traceback; a dry run
    gave "internal error: ExceptionGroup", exit 2, and left a 2-line manifest."""
    src = tree(tmp_path / "src", {f"d/{n}.txt": b"x" * n for n in range(1, 40)})
    real = runner(str(src))
    assert real.code == 0, real.stderr
    manifest_before = runner.manifest.read_bytes()
    exe = [sys.executable, "-m", "bulkupload"]
    for fmt in ("json", "csv", "table"):
        done = closed_stdout([*exe, "report", "--state", str(runner.state), "--format", fmt], {})
        assert (done.returncode, done.stderr) == (0, ""), (fmt, done.stderr)

    write(src / "d/new.txt", b"a new file")
    done = closed_stdout(runner.command(str(src), "--dry-run"), runner.env())
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "error" not in done.stderr, done.stderr
    # The dry run recorded every file in its own manifest; the real run's is as it was.
    dry = read_manifest(runner.manifest.with_name("manifest-dry-run.jsonl"))
    assert len(dry) == 40
    assert runner.manifest.read_bytes() == manifest_before
    # A real run's summary into the closed pipe: the run is done and recorded all the same.
    done = closed_stdout(runner.command(str(src)), runner.env())
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    records = {r["path"]: r["status"] for r in read_manifest(runner.manifest)}
    assert len(records) == 40 and records["d/new.txt"] == "uploaded"


# ── W8: report --target ────────────────────────────────────────────────────────────────────
def test_report_target_is_a_prefix_and_says_when_nothing_matches(
    runner: Runner, tmp_path: Path
) -> None:
    """Was: `--target project:42` printed "0 files" (rows are under project:42/Cfg), as did
    `--target bogus`, both with exit 0."""
    src = tree(tmp_path / "src")
    assert runner(str(src), "--folder", "Cfg").code == 0
    assert runner(str(src), "--folder", "Other").code == 0
    report = ["report", "--state", str(runner.state)]
    found = run([*report, "--target", "project:42"], {})
    assert found.code == 0, found.stderr
    assert "targets matching 'project:42': project:42/Cfg, project:42/Other" in found.stderr
    assert found.stdout.rstrip().endswith("6 files: 6 uploaded")
    one = run([*report, "--target", "project:42/Cfg", "--format", "csv"], {})
    assert one.code == 0 and len(one.stdout.splitlines()) == 1 + len(FILES)
    for missing in ("project:4", "bogus"):
        none = run([*report, "--target", missing], {})
        assert none.code == 1 and none.stdout == "", none
        assert f"no target in {runner.state} matches {missing!r}" in none.stderr
        assert "its targets: project:42/Cfg, project:42/Other" in none.stderr


# ── W6: the default state does not depend on the working directory ─────────────────────────
def test_the_same_command_from_another_directory_finds_the_same_state(
    runner: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was: `.bulkupload/state.sqlite` relative to the working directory, so a cron job without
    its `cd` sent every file again, as a new version of identical content."""
    src = tree(tmp_path / "src")
    states = tmp_path / "xdg"
    env = runner.env(XDG_STATE_HOME=str(states))
    argv = [str(src), "--project", "42", "--folder", "Nightly", *connection(runner)]
    for n, where in enumerate(("one", "two")):
        (tmp_path / where).mkdir()
        monkeypatch.chdir(tmp_path / where)
        result = run(argv, env)
        assert result.code == 0, result.stderr
        sent = 0 if n else len(FILES)
        assert f"{sent} uploaded" in result.stdout, result.stdout
        assert not (tmp_path / where / ".bulkupload").exists()
    assert len(list(states.glob("bulkupload/project-42-documents-Nightly-*/state.sqlite"))) == 1
    # Another destination has its own; --state still wins.
    other = run([*argv[:4], "Elsewhere", *argv[5:]], env)
    assert other.code == 0 and f"{len(FILES)} uploaded" in other.stdout
    assert len(list(states.glob("bulkupload/*/state.sqlite"))) == 2
    mine = tmp_path / "mine.sqlite"
    assert run([*argv, "--state", str(mine)], env).code == 0
    assert "project:42/Nightly" in run(["report", "--state", str(mine)], {}).stdout


# ── W10: each run keeps its manifest; a dry run never takes a real run's ───────────────────
def test_each_run_keeps_its_manifest_and_attach_finds_the_latest(
    runner: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tree(tmp_path / "src")
    env = runner.env(XDG_STATE_HOME=str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    argv = [str(src), "--project", "42", "--folder", "NA", *connection(runner)]
    staged = run([*argv, "--no-attach"], env)
    assert staged.code == 0, staged.stderr
    [folder] = (tmp_path / "xdg" / "bulkupload").glob("project-42-documents-NA-*")
    manifests = folder / "manifests"
    [real] = list(manifests.glob("*.jsonl"))
    assert f"manifest: {real}" in staged.stdout
    assert (manifests / "latest.txt").read_text().strip() == real.name
    staged_lines = real.read_bytes()
    # A dry run (of the same command) writes its own, clearly named; `latest` stays.
    dry = run([*argv, "--no-attach", "--dry-run"], env)
    assert dry.code == 0, dry.stderr
    [dry_manifest] = manifests.glob("*-dry-run.jsonl")
    assert len(read_manifest(dry_manifest)) == len(FILES)
    assert real.read_bytes() == staged_lines
    assert (manifests / "latest.txt").read_text().strip() == real.name
    # `attach` without --manifest takes the last real run's, from any directory.
    monkeypatch.chdir(src)
    attach = run(["attach", "--project", "42", "--folder", "NA", *connection(runner)[:4]], env)
    assert attach.code == 0, attach.stderr
    assert f"attached {len(FILES)}, expired 0, failed 0; manifest {real}" in attach.stdout
    # A second real run: a second file beside the first.
    monkeypatch.chdir(tmp_path)
    assert run(argv, env).code == 0
    names = sorted(p.name for p in manifests.glob("*.jsonl"))
    assert len(names) == 3 and (manifests / "latest.txt").read_text().strip() in names


def test_a_manifest_name_with_the_date(runner: Runner, tmp_path: Path) -> None:
    src = tree(tmp_path / "src")
    pattern = tmp_path / "manifests" / "{date}T{time}.jsonl"
    report = tmp_path / "reports" / "{date}.json"
    result = runner(str(src), "--manifest", str(pattern), "--report", str(report))
    assert result.code == 0, result.stderr
    [made] = (tmp_path / "manifests").iterdir()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d{6}\.jsonl", made.name), made.name
    [written] = (tmp_path / "reports").iterdir()
    assert written.name == made.name[:10] + ".json"
    assert len(read_manifest(made)) == len(FILES)
    dry = runner(str(src), "--manifest", str(pattern), "--dry-run")
    assert dry.code == 0 and len(list((tmp_path / "manifests").glob("*-dry-run.jsonl"))) == 1
    # attach with the same pattern takes the newest real run's.
    state = ["--state", str(runner.state), "--project", "42", *connection(runner)[:4]]
    attach = run(["attach", "--manifest", str(pattern), *state], runner.env())
    assert attach.code == 0 and f"manifest {made}" in attach.stdout, attach


# ── F1/F2: plain output while one big file is in flight ────────────────────────────────────
def test_plain_status_lines_come_while_a_big_file_is_in_flight(
    make_runner: Any, tmp_path: Path
) -> None:
    """Was: a line only when a file finished, so cron logs went silent during a big file."""
    runner = make_runner(storage_bandwidth=3 << 20)  # 3 MiB/s: the file takes about a second
    src = tree(tmp_path / "src", {"big.bin": os.urandom(3 << 20)})
    result = runner(str(src), "--progress", "plain", "--stats", "0.2")
    assert result.code == 0, result.stderr
    stamped = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
    during = [line for line in result.stderr.splitlines() if "0/1 files" in line]
    assert len(during) >= 3, result.stderr
    assert all(re.match(stamped, line) and "3.0 MiB" in line for line in during)


# ── W7: retries seen with -v and in --log-file; -q, --json ─────────────────────────────────
def test_retries_say_what_failed_and_the_wait_with_v_and_in_the_log_file(
    make_runner: Any, tmp_path: Path
) -> None:
    runner = make_runner(fault_storage_5xx=0.5, seed=3)
    src = tree(tmp_path / "src")
    log_file = tmp_path / "run.log"
    result = runner(str(src), "-v", "--log-file", str(log_file))
    assert result.code == 0, result.stderr
    retries = [line for line in result.stderr.splitlines() if "retry (storage" in line]
    assert retries, result.stderr
    # path, what failed, and the wait before the next try
    assert re.search(r"retry \(storage, next try in \d+\.\ds\): \S+: storage 5\d\d", retries[0])
    assert any(f"uploaded {rel}" in result.stderr for rel in FILES)
    logged = [json.loads(line) for line in log_file.read_text().splitlines()]
    retry_lines = [line for line in logged if line.get("retry") == "storage"]
    assert len(retry_lines) == len(retries) and all("wait" in line for line in retry_lines)
    assert "storage 5" in retry_lines[0]["message"]


def test_json_prints_the_report_fields_and_quiet_prints_nothing(
    runner: Runner, tmp_path: Path
) -> None:
    src = tree(tmp_path / "src")
    report = tmp_path / "report.json"
    result = runner(str(src), "--json", "--report", str(report))
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary == json.loads(report.read_text()) | {"duration_s": summary["duration_s"]}
    assert summary["uploaded"] == len(FILES) and summary["manifest"] == str(runner.manifest)
    dry = runner(str(src), "--json", "--dry-run")
    assert json.loads(dry.stdout)["files_found"] == len(FILES)  # stdout: the JSON only
    # A dry run's files it would send are no skips, in the JSON as in the summary line.
    (src / "new.txt").write_text("new")
    dry = runner(str(src), "--json", "--dry-run")
    counts = json.loads(dry.stdout)
    assert (counts["would_upload"], counts["skipped"]) == (1, len(FILES)), counts
    quiet = runner(str(src), "-q")
    assert (quiet.code, quiet.stdout, quiet.stderr) == (0, "", "")


# ── F5: unreachable hosts named, with the cause ────────────────────────────────────────────
def test_an_unreachable_login_host_is_named_with_the_cause(runner: Runner, tmp_path: Path) -> None:
    """Was: `cannot reach Procore: cannot reach the login server: ClientConnectorError`."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    src = tree(tmp_path / "src")
    result = runner(str(src), "--login-url", f"http://127.0.0.1:{port}")
    assert result.code == 2
    [line] = result.stderr.strip().splitlines()
    assert line == (
        f"bulkupload: error: cannot reach the login server http://127.0.0.1:{port} "
        "(connection refused: nothing listens there); if that is not your login server, set "
        "--login-url or PROCORE_LOGIN_URL"
    ), line


# ── F7: attach says which records failed, and why ──────────────────────────────────────────
def test_attach_lists_each_record_that_did_not_attach(runner: Runner, tmp_path: Path) -> None:
    src = tree(tmp_path / "src")
    assert runner(str(src), "--no-attach").code == 0
    runner.emulator.advance_clock(8 * 24 * 3600)  # Procore deleted them after 7 days
    state = ["--state", str(runner.state), "--project", "42", *connection(runner)[:4]]
    result = run(["attach", "--manifest", str(runner.manifest), *state], runner.env())
    assert result.code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"attached 0, expired {len(FILES)}, failed 0"), lines
    for rel in FILES:
        line = f"  expired: {rel}: Upload 01"  # Procore's reason, not the word twice
        assert line in result.stdout and "deleted" in result.stdout, result.stdout


# ── F13: messages read once, one line per name ─────────────────────────────────────────────
def test_names_and_reasons_read_once_on_one_line(runner: Runner, tmp_path: Path) -> None:
    """Was: `skipped: skipped: FIFO (named pipe)`, `1 files`, and a newline in a name split a
    dry run's line in two."""
    src = tree(tmp_path / "src", {"odd\nname.txt": b"x", "tab\there.txt": b"y"})
    os.mkfifo(src / "pipe")
    dry = runner(str(src), "--dry-run")
    assert dry.code == 0, dry.stderr
    assert "would upload: odd\\nname.txt\n" in dry.stdout and "would upload: tab\\there.txt\n" in (
        dry.stdout
    )
    assert "  skipped 1: FIFO (named pipe)" in dry.stdout and "skipped: skipped" not in dry.stdout
    single = runner(str(src / "tab\there.txt"))
    assert single.stdout.startswith("1 file found: 1 uploaded"), single.stdout


def test_the_summary_says_a_reason_once() -> None:
    from bulkupload.cli.summary import print_summary
    from bulkupload.config import Credentials, Settings
    from bulkupload.models import Target
    from bulkupload.stats import RunOutcome, Tally

    tally = Tally(failed=1, skipped=1)
    tally.failures.append(("ok/unreadable.txt", "ok/unreadable.txt: Permission denied"))
    tally.skip_reasons["skipped: bulkupload's own manifest, state, report or log file"] += 1
    settings = Settings(("src",), Target("project", 1), 1, Credentials(access_token="t"))
    out = io.StringIO()
    print_summary(RunOutcome(tally, 1.0, api_calls=1), settings, out)
    text = out.getvalue()
    assert "    ok/unreadable.txt: Permission denied\n" in text
    assert "  skipped 1: bulkupload's own manifest, state, report or log file\n" in text
    assert "1 API call," in text and "0 retries" in text
