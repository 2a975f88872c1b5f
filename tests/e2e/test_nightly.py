"""Issue #5, end to end: the nightly run survives crashes, signals and token expiry, and only
sends what changed. The real CLI (in-process or in its own process) against the emulator."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from bulkupload import cli
from bulkupload.emulator.server import RunningEmulator
from tests.e2e.conftest import Runner
from tests.trees import manifest_rel, read_manifest

PROJECT = 42


def small_tree(root: Path, files: int, *, seed: int = 11) -> dict[str, tuple[str, int]]:
    """`files` files of a few hundred bytes in nested folders; rel → (MD5, size)."""
    rng = random.Random(seed)
    expected: dict[str, tuple[str, int]] = {}
    for i in range(files):
        rel = f"area-{i % 7}/level-{i % 3}/doc {i:05d}.txt"
        data = rng.randbytes(rng.randint(100, 600))
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        expected[rel] = (hashlib.md5(data).hexdigest(), len(data))
    return expected


def documents_under(emulator: RunningEmulator, folder: str) -> list[tuple[str, dict[str, Any]]]:
    """Every Documents file below `folder` (a/b/c, "" for the root) as (rel, file) pairs."""
    node = emulator.admin_get(f"/_emulator/documents?project_id={PROJECT}")
    for part in filter(None, folder.split("/")):
        matches = [f for f in node["folders"] if f["name"] == part]
        assert len(matches) == 1, f"folder {part!r} of {folder!r}: {len(matches)} entries"
        node = matches[0]
    found: list[tuple[str, dict[str, Any]]] = []

    def visit(node: dict[str, Any], prefix: str) -> None:
        for entry in node["files"]:
            found.append((prefix + entry["name"], entry))
        for sub in node["folders"]:
            visit(sub, f"{prefix}{sub['name']}/")

    visit(node, "")
    return found


def assert_documents_hold(
    emulator: RunningEmulator,
    folder: str,
    expected: dict[str, tuple[str, int]],
    *,
    versions: dict[str, int] | None = None,
    complete: bool = True,
) -> None:
    """Each local file is in Documents exactly once, with its bytes; nothing else is there.

    `complete=False` (after a crash) allows local files not there yet."""
    found = documents_under(emulator, folder)
    rels = [rel for rel, _ in found]
    duplicates = sorted({rel for rel in rels if rels.count(rel) > 1})
    assert not duplicates, f"files with two Documents entries: {duplicates[:10]}"
    assert not [rel for rel in rels if " (1)" in rel], "renamed duplicates in Documents"
    assert set(rels) == set(expected) or (not complete and set(rels) < set(expected)), (
        f"missing: {sorted(set(expected) - set(rels))[:10]}, "
        f"extra: {sorted(set(rels) - set(expected))[:10]}"
    )
    for rel, entry in found:
        md5, size = expected[rel]
        assert (entry["md5"], entry["size"]) == (md5, size), rel
        want = (versions or {}).get(rel, 1)
        assert len(entry["versions"]) == want, (rel, entry["versions"])


def run_cli(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run(argv, env or {})
    return code, out.getvalue(), err.getvalue()


def state_report(state: Path) -> list[dict[str, Any]]:
    """`bulkupload report --format json`: one object per file the state store knows."""
    code, out, err = run_cli(["report", "--state", str(state), "--format", "json"])
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def assert_state_uploaded(state: Path, expected: dict[str, tuple[str, int]]) -> None:
    rows = state_report(state)
    assert sorted(r["path"] for r in rows) == sorted(expected)
    wrong = [(r["path"], r["status"]) for r in rows if r["status"] != "uploaded"]
    assert not wrong, wrong[:10]
    assert all(r["md5"] == expected[r["path"]][0] for r in rows)


def line_count(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


# ── crash safety ───────────────────────────────────────────────────────────────────────────
CRASH_FILES = 2000


def uploaded_lines(manifest: Path) -> int:
    """Files this run has uploaded so far (a killed run may leave half a last line)."""
    try:
        return manifest.read_bytes().count(b'"status": "uploaded"')
    except FileNotFoundError:
        return 0


def test_sigkill_at_random_moments_then_rerun_gives_one_entry_per_file(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    expected = small_tree(src, CRASH_FILES)
    work = tmp_path / "work"
    work.mkdir()
    runner = Runner(emu, work)
    folder = "Nightly/crash"
    args = (str(src), "--folder", folder, "--concurrency", "16")
    rng = random.Random(20261129)
    # A crash, a crash while resuming that one, and another: each run is SIGKILLed after a
    # random number of new uploads and the next starts from whatever state it left behind.
    for _ in range(3):
        kill_after = rng.randint(50, 500)
        proc = subprocess.Popen(
            runner.command(*args),
            env=runner.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while uploaded_lines(runner.manifest) < kill_after and time.monotonic() < deadline:
            assert proc.poll() is None, f"run ended before {kill_after} uploads: no crash tested"
            time.sleep(0.01)
        assert proc.poll() is None, f"run ended before {kill_after} uploads: no crash tested"
        proc.kill()
        assert proc.wait(timeout=10) == -signal.SIGKILL
        assert_documents_hold(emu, folder, expected, complete=False)

    # The rerun in its own process too: the emulator then has this process to itself.
    again = runner.subprocess(*args, timeout=90)
    assert again.code == 0, again.stdout + again.stderr
    assert_documents_hold(emu, folder, expected)
    assert_state_uploaded(runner.state, expected)
    records = read_manifest(runner.manifest)
    assert sorted(manifest_rel(r) for r in records) == sorted(expected)
    assert {r["status"] for r in records} <= {"uploaded", "skipped"}


# ── incremental runs ───────────────────────────────────────────────────────────────────────
def test_unchanged_tree_costs_no_api_call_and_a_changed_file_is_resent(
    runner: Runner, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    expected = small_tree(src, 40)
    first = runner(str(src))
    assert first.code == 0, first.stderr
    assert_documents_hold(runner.emulator, "", expected)

    runner.emulator.reset_counters()
    second = runner(str(src))
    assert second.code == 0, second.stderr
    counters = runner.emulator.counters()
    assert counters["api_calls"] == 0, counters["api_calls_by_route"]
    assert counters["oauth_calls"] <= 1
    assert counters["storage_requests"] == 0
    assert "0 uploaded, 40 skipped" in second.stdout

    changed = "area-3/level-0/doc 00003.txt"
    data = b"edited after the first night\n" * 5
    (src / changed).write_bytes(data)
    expected[changed] = (hashlib.md5(data).hexdigest(), len(data))
    runner.emulator.reset_counters()
    third = runner(str(src))
    assert third.code == 0, third.stderr
    counters = runner.emulator.counters()
    assert counters["storage_requests"] == 1
    assert counters["storage_success"] == 1
    assert "1 uploaded, 39 skipped" in third.stdout
    assert_documents_hold(runner.emulator, "", expected, versions={changed: 2})
    assert_state_uploaded(runner.state, expected)


def test_short_token_lifetime_is_renewed_mid_run(make_runner: Any, tmp_path: Path) -> None:
    runner = make_runner(token_lifetime=2)
    # Each storage request moves the emulator's clock on by half a second: tokens (2 s) expire
    # every few files of the run, on Procore's clock, without waiting in real time.
    runner.emulator.set_faults(storage_clock_step=0.5)
    src = tmp_path / "src"
    expected = small_tree(src, 100)
    report = tmp_path / "report.json"
    result = runner(str(src), "--concurrency", "2", "--report", str(report))
    assert result.code == 0, result.stdout + result.stderr
    summary = json.loads(report.read_text())
    assert summary["failed"] == 0 and summary["uploaded"] == len(expected)
    assert runner.emulator.counters()["oauth_calls"] > 10  # renewed again and again
    assert_documents_hold(runner.emulator, "", expected)


# ── graceful stop ──────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_gracefully_and_the_next_run_finishes(
    make_runner: Any, tmp_path: Path, signum: signal.Signals
) -> None:
    runner = make_runner(api_latency=0.05)
    src = tmp_path / "src"
    expected = small_tree(src, 300)
    proc = subprocess.Popen(
        runner.command(str(src), "--concurrency", "4"),
        env=runner.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while line_count(runner.manifest) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before the signal"
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signum, stdout + stderr
    assert "Traceback" not in stdout + stderr
    assert f"interrupted by {signum.name}" in stdout

    records = read_manifest(runner.manifest)
    rels = [manifest_rel(r) for r in records]
    assert len(rels) == len(set(rels))
    assert f"{len(records)} files found:" in stdout  # one line per file found so far
    uploaded = {manifest_rel(r) for r in records if r["status"] == "uploaded"}
    others = [r for r in records if r["status"] != "uploaded"]
    assert uploaded and len(uploaded) < len(expected)
    # Not done is not "skipped" (on purpose): a failure that says the next run sends it.
    assert all(
        r["status"] == "failed" and r["error"].startswith("not sent: run interrupted")
        for r in others
    ), others
    assert f"{len(others)} of them not started: the run stopped first" in stdout
    # Nothing lost: what reached Documents is exactly what the manifest says was uploaded.
    assert {rel for rel, _ in documents_under(runner.emulator, "")} == uploaded

    runner.emulator.set_faults(api_latency=0)  # slow only to be caught mid-run
    again = runner(str(src), "--concurrency", "4")
    assert again.code == 0, again.stdout + again.stderr
    assert f"{len(expected) - len(uploaded)} uploaded, {len(uploaded)} skipped" in again.stdout
    assert_documents_hold(runner.emulator, "", expected)
    assert_state_uploaded(runner.state, expected)
    assert runner.emulator.counters()["storage_success"] == len(expected)


def interrupt_twice(runner: Runner, src: Path) -> tuple[str, list[dict[str, Any]]]:
    """Start a run, SIGINT it, and SIGINT it again as soon as it says it is stopping (so the
    two signals are never merged into one); its stdout and manifest."""
    proc = subprocess.Popen(
        runner.command(str(src), "--concurrency", "8", "--progress", "plain"),
        env=runner.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while line_count(runner.manifest) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    seen = []
    while not any("interrupted: finishing" in line for line in seen):
        line = proc.stderr.readline()
        assert line, f"the run ended without saying it was stopping: {seen}"
        seen.append(line)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stdout + stderr
    return stdout, read_manifest(runner.manifest)


def test_second_signal_aborts_and_the_next_run_still_makes_one_entry_per_file(
    make_runner: Any, tmp_path: Path
) -> None:
    runner = make_runner(api_latency=0.05, storage_latency=0.2)
    src = tmp_path / "src"
    expected = small_tree(src, 200)
    _, records = interrupt_twice(runner, src)
    rels = [manifest_rel(r) for r in records]
    assert len(rels) == len(set(rels))
    for record in records:
        assert record["status"] == "uploaded" or "interrupted" in record["error"], record

    runner.emulator.set_faults(api_latency=0, storage_latency=0)  # slow only to be caught
    again = runner(str(src), "--concurrency", "8")
    assert again.code == 0, again.stdout + again.stderr
    assert_documents_hold(runner.emulator, "", expected)
    assert_state_uploaded(runner.state, expected)


def test_after_an_abort_every_file_found_has_a_manifest_line(
    make_runner: Any, tmp_path: Path
) -> None:
    runner = make_runner(api_latency=0.05, storage_latency=0.2)
    src = tmp_path / "src"
    small_tree(src, 2000)  # the walk is far ahead of the uploads when the signals come
    stdout, records = interrupt_twice(runner, src)
    assert f"{len(records)} files found:" in stdout


def test_checksum_finds_a_change_that_size_and_mtime_hide(runner: Runner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    expected = small_tree(src, 10)
    assert runner(str(src)).code == 0
    rel = "area-2/level-2/doc 00002.txt"
    path = src / rel
    before = path.stat()
    data = bytes(b ^ 0xFF for b in path.read_bytes())  # same size, other bytes
    path.write_bytes(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    expected[rel] = (hashlib.md5(data).hexdigest(), len(data))

    runner.emulator.reset_counters()
    by_stat = runner(str(src))
    assert by_stat.code == 0 and "0 uploaded, 10 skipped" in by_stat.stdout
    assert runner.emulator.counters()["storage_requests"] == 0

    by_content = runner(str(src), "--checksum")
    assert by_content.code == 0, by_content.stderr
    assert "1 uploaded, 9 skipped" in by_content.stdout
    assert runner.emulator.counters()["storage_success"] == 1
    assert_documents_hold(runner.emulator, "", expected, versions={rel: 2})

    runner.emulator.reset_counters()
    unchanged = runner(str(src), "--checksum")
    assert unchanged.code == 0 and "0 uploaded, 10 skipped" in unchanged.stdout
    assert runner.emulator.counters()["api_calls"] == 0


# ── dry run ───────────────────────────────────────────────────────────────────────────────
def test_dry_run_sends_nothing_then_a_real_run_sends_everything(
    runner: Runner, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    expected = small_tree(src, 25)
    # `--progress auto` is what cron gets (stderr not a terminal): plain lines.
    dry = runner(str(src), "--dry-run", "--progress", "auto")
    assert dry.code == 0, dry.stderr
    for rel in expected:
        assert f"would upload: {rel}" in dry.stdout + dry.stderr, rel
    counters = runner.emulator.counters()
    assert counters["api_calls"] == counters["oauth_calls"] == 0
    assert counters["storage_requests"] == 0
    assert documents_under(runner.emulator, "") == []

    real = runner(str(src))
    assert real.code == 0, real.stderr
    assert f"{len(expected)} uploaded" in real.stdout
    assert_documents_hold(runner.emulator, "", expected)
    assert_state_uploaded(runner.state, expected)

    # A dry run after a real one: nothing to send, and no file is taken for gone from SOURCE.
    report = tmp_path / "dry-report.json"
    again = runner(str(src), "--dry-run", "--progress", "auto", "--report", str(report))
    assert again.code == 0, again.stderr
    assert "would upload" not in again.stdout + again.stderr
    assert "gone from SOURCE" not in again.stdout
    assert json.loads(report.read_text())["gone_from_source"] == []


# ── reports and logs ──────────────────────────────────────────────────────────────────────
def test_report_csv_and_log_file_without_secrets(runner: Runner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    expected = small_tree(src, 30)
    report, log_file = tmp_path / "out" / "report.json", tmp_path / "out" / "run.log"
    result = runner(str(src), "--report", str(report), "--log-file", str(log_file))
    assert result.code == 0, result.stderr

    summary = json.loads(report.read_text())
    assert summary["files_found"] == summary["uploaded"] == len(expected)
    assert summary["skipped"] == summary["failed"] == 0
    assert summary["bytes_uploaded"] == sum(size for _, size in expected.values())
    assert summary["duration_s"] > 0 and summary["throughput_bytes_per_s"] > 0
    assert summary["api_calls"] == runner.emulator.counters()["api_calls"]
    assert summary["rate_limited_429"] == 0 and summary["retries"] == 0
    assert summary["failures"] == [] and summary["gone_from_source"] == []

    code, out, err = run_cli(["report", "--state", str(runner.state), "--format", "csv"])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("target,path,")
    assert len(lines) == 1 + len(expected)
    assert all(",uploaded," in line for line in lines[1:])

    text = log_file.read_text(encoding="utf-8")
    entries = [json.loads(line) for line in text.splitlines()]
    assert sum(1 for e in entries if e.get("status") == "uploaded") == len(expected)
    assert runner.emulator.client_secret not in text
    assert "bearer" not in text.lower()
    for token in _issued_tokens(runner.emulator):
        assert token not in text


def _issued_tokens(emulator: RunningEmulator) -> list[str]:
    from bulkupload.emulator.api import API_STATE_KEY

    tokens = list(emulator.app[API_STATE_KEY].tokens)
    assert tokens, "the run authenticated, so a token was issued"
    return tokens


# ── config file ───────────────────────────────────────────────────────────────────────────
def test_config_file_with_flags_overriding_and_secrets_refused(
    runner: Runner, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    expected = small_tree(src, 12)
    config = tmp_path / "bulkupload.toml"
    config.write_text(
        f'source = "{src}"\nproject = {PROJECT}\nfolder = "From TOML"\nconcurrency = 3\n'
    )
    from_file = runner("--config", str(config), project=None)
    assert from_file.code == 0, from_file.stderr
    assert_documents_hold(runner.emulator, "From TOML", expected)

    # A fresh state: the state store knows files per target, not per folder.
    other_state = str(tmp_path / "other-state.sqlite")
    overridden = runner(
        "--config", str(config), "--folder", "From Flag", "--state", other_state, project=None
    )
    assert overridden.code == 0, overridden.stderr
    assert_documents_hold(runner.emulator, "From Flag", expected)

    leaky = tmp_path / "leaky.toml"
    leaky.write_text(f'source = "{src}"\nproject = {PROJECT}\nclient_secret = "hunter2-secret"\n')
    refused = runner("--config", str(leaky), project=None)
    assert refused.code == 2
    assert "secret" in refused.stderr and "hunter2-secret" not in refused.stderr + refused.stdout


# ── files gone from SOURCE ─────────────────────────────────────────────────────────────────
def test_files_deleted_locally_are_reported_and_kept_remotely(
    runner: Runner, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    expected = small_tree(src, 15)
    assert runner(str(src)).code == 0
    gone = sorted(expected)[:2]
    for rel in gone:
        (src / rel).unlink()
    runner.emulator.reset_counters()
    report = tmp_path / "report.json"
    result = runner(str(src), "--report", str(report))
    assert result.code == 0, result.stderr
    assert json.loads(report.read_text())["gone_from_source"] == gone
    assert "2 files uploaded before are gone from SOURCE" in result.stdout
    routes = runner.emulator.counters()["api_calls_by_route"]
    assert not [route for route in routes if route.startswith(("DELETE", "PATCH"))], routes
    assert_documents_hold(runner.emulator, "", expected)


def test_a_run_stopped_before_its_walk_ended_reports_nothing_gone(
    make_runner: Any, tmp_path: Path
) -> None:
    runner = make_runner(api_latency=0.05)
    src = tmp_path / "src"
    uploaded = small_tree(src / "zz-last", 10)
    assert runner(str(src)).code == 0
    # Many new files that sort first: the stop comes before the walk reaches zz-last/.
    added = small_tree(src / "aa-first", 2000, seed=5)
    report = tmp_path / "report.json"
    runner.manifest.unlink()  # wait for this run's own lines below
    proc = subprocess.Popen(
        runner.command(str(src), "--concurrency", "4", "--report", str(report)),
        env=runner.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while line_count(runner.manifest) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stdout + stderr
    walked = {manifest_rel(r) for r in read_manifest(runner.manifest)}
    assert not any(rel.startswith("zz-last/") for rel in walked), "the walk got too far"
    assert json.loads(report.read_text())["gone_from_source"] == []
    assert "gone from SOURCE" not in stdout
    everything = {f"zz-last/{rel}": v for rel, v in uploaded.items()}
    everything |= {f"aa-first/{rel}": v for rel, v in added.items()}
    assert_documents_hold(runner.emulator, "", everything, complete=False)
    remote = {rel for rel, _ in documents_under(runner.emulator, "")}
    assert {rel for rel in everything if rel.startswith("zz-last/")} <= remote
