"""`bulkupload attach` end to end: its errors are one line, its progress survives a failure, it is
paced like an upload run, and what it attached is in the state store so a later run skips it.

Each test first makes a `--no-attach` run against the emulator, then runs `bulkupload attach` as a
user would (in-process, through `cli.run`), sometimes through a proxy that cuts the network.
"""

from __future__ import annotations

import contextlib
import io
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from bulkupload import cli
from bulkupload.emulator.faults import reset_connection
from tests.e2e.conftest import CliRun, Runner
from tests.proxy import Proxy
from tests.trees import manifest_rel, read_manifest, write

PROJECT = 42
FOLDER = "Attached"
FILES = {
    "a.txt": b"first file",
    "b.txt": b"second file",
    "plans/c.pdf": b"%PDF third",
    "plans/d.dwg": b"fourth file, a drawing",
}
ATTACH_WRITES = ("POST /rest/v1.0/files", "PATCH /rest/v1.0/files/{id}")


def attach(
    runner: Runner, *args: str, api: str | None = None, env: dict[str, str] | None = None
) -> CliRun:
    """`bulkupload attach --project 42 ...` in-process; `api` replaces the emulator's address."""
    base = api or runner.emulator.base_url
    argv = [
        "attach",
        *("--manifest", str(runner.manifest), "--state", str(runner.state)),
        *("--project", str(PROJECT), "--base-url", base, "--login-url", base),
        *args,
    ]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run(argv, env or runner.env())
    return CliRun(code, out.getvalue(), err.getvalue(), runner.manifest)


def uploaded_without_attaching(runner: Runner, tmp_path: Path, files: dict[str, bytes]) -> Path:
    src = tmp_path / "src"
    for rel, data in files.items():
        write(src / rel, data)
    first = runner(str(src), "--no-attach")
    assert first.code == 0, first.stdout + first.stderr
    return src


def records(runner: Runner) -> dict[str, dict[str, Any]]:
    return {manifest_rel(r): r for r in read_manifest(runner.manifest)}


def state_rows(runner: Runner) -> dict[tuple[str, str], tuple[str, int | None]]:
    """(target key, rel) → (status, file_id) of every row of the state store."""
    with contextlib.closing(sqlite3.connect(runner.state)) as db:
        rows = db.execute("SELECT target, rel, status, file_id FROM files").fetchall()
    return {
        (target, bytes(rel).decode()): (status, file_id) for target, rel, status, file_id in rows
    }


def attach_writes(runner: Runner) -> int:
    by_route = runner.emulator.counters()["api_calls_by_route"]
    return sum(by_route.get(route, 0) for route in ATTACH_WRITES)


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


class CuttingProxy(Proxy):
    """Forwards HTTP to the emulator until `allow` attach writes went through; after that every
    request is answered by `mode`: "reset" drops the connection unanswered (the network failing
    mid-run), "401" refuses the token (and so the renewal: credentials revoked mid-run)."""

    def __init__(self, upstream: str, *, allow: int, mode: str = "reset") -> None:
        self.allow, self.mode = allow, mode
        self.writes = 0
        self.cut = False
        super().__init__(upstream, before=self._cut)

    def _cut(self, request: web.Request) -> web.StreamResponse | None:
        write = request.method in ("POST", "PATCH") and request.path.startswith("/rest/v1.0/files")
        if write and self.writes >= self.allow:
            self.cut = True
        if self.cut:
            if self.mode == "401":
                return web.json_response({"errors": "401 Unauthorized"}, status=401)
            reset_connection(request)
            return web.Response()
        self.writes += write
        return None


# ── setup problems: one line, exit 2, nothing touched ─────────────────────────────────────
def test_missing_manifest_is_one_line_exit_2(runner: Runner, tmp_path: Path) -> None:
    """Was: a FileNotFoundError traceback."""
    runner.manifest = tmp_path / "no-such-manifest.jsonl"
    result = attach(runner)
    assert result.code == 2
    line = one_line(result.stderr)
    assert line.startswith("bulkupload attach: error: manifest not found: ")
    assert "no-such-manifest.jsonl" in line
    assert runner.emulator.counters()["api_calls"] == 0


def test_malformed_manifest_is_one_line_exit_2_and_left_as_it_was(
    runner: Runner, tmp_path: Path
) -> None:
    """Was: a ValueError traceback (a bad line) or a KeyError one (a line without a path)."""
    uploaded_without_attaching(runner, tmp_path, FILES)
    good = runner.manifest.read_text(encoding="utf-8").splitlines(keepends=True)
    cases = [
        ([good[0], "{not json\n", *good[1:]], "line 2"),
        ([good[0], "[1, 2]\n", *good[1:]], "record 2 has no path"),
        ([good[0], '{"status": "uploaded"}\n', *good[1:]], "record 2 has no path"),
    ]
    for lines, says in cases:
        text = "".join(lines)
        runner.manifest.write_text(text, encoding="utf-8")
        result = attach(runner, "--folder", FOLDER)
        assert result.code == 2, result.stdout + result.stderr
        line = one_line(result.stderr)
        assert line.startswith("bulkupload attach: error: not a bulkupload manifest: "), line
        assert says in line
        assert runner.manifest.read_text(encoding="utf-8") == text
    assert attach_writes(runner) == 0


def test_unreachable_host_is_one_line_exit_2(runner: Runner, tmp_path: Path) -> None:
    uploaded_without_attaching(runner, tmp_path, FILES)
    before = runner.manifest.read_bytes()
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, never listening
    result = attach(runner, "--retries", "0", api=closed)
    assert result.code == 2
    assert "cannot reach" in one_line(result.stderr)
    assert runner.manifest.read_bytes() == before


def test_debug_shows_the_traceback(runner: Runner, tmp_path: Path) -> None:
    runner.manifest = tmp_path / "missing.jsonl"
    result = attach(runner, "--debug")
    assert result.code == 2
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("bulkupload attach: error: manifest")


# ── failures midway: progress kept, in the manifest and in the state ─────────────────────
def test_network_failure_mid_run_fails_those_records_and_keeps_the_rest(
    runner: Runner, tmp_path: Path
) -> None:
    """Was: an ExceptionGroup traceback, and the two attaches that worked never written back."""
    src = uploaded_without_attaching(runner, tmp_path, FILES)
    proxy = CuttingProxy(runner.emulator.base_url, allow=2)
    try:
        cut = attach(runner, "--folder", FOLDER, "-j", "1", "--retries", "0", api=proxy.url)
    finally:
        proxy.close()
    assert cut.code == 1, cut.stdout + cut.stderr
    assert "Traceback" not in cut.stdout + cut.stderr
    assert "attached 2, expired 0, failed 2" in cut.stdout
    done = records(runner)
    attached = {rel for rel, r in done.items() if r["file_id"] is not None}
    assert len(attached) == 2 and attached < set(FILES)
    for rel in set(FILES) - attached:
        assert done[rel]["status"] == "failed"
        assert done[rel]["error"].startswith("attach failed: cannot reach http"), done[rel]
    rows = state_rows(runner)
    for rel in attached:
        assert rows[(f"project:{PROJECT}/{FOLDER}", rel)] == ("uploaded", done[rel]["file_id"])

    # The next attach (network back) does the other two; then a normal run sends nothing.
    again = attach(runner, "--folder", FOLDER)
    assert again.code == 0 and "attached 2, expired 0, failed 0" in again.stdout
    assert all(r["status"] == "uploaded" and r["file_id"] for r in records(runner).values())
    sent, writes = runner.emulator.counters()["storage_success"], attach_writes(runner)
    rerun = runner(str(src), "--folder", FOLDER)
    assert rerun.code == 0, rerun.stdout + rerun.stderr
    assert f"0 uploaded, {len(FILES)} skipped" in rerun.stdout
    assert runner.emulator.counters()["storage_success"] == sent
    assert attach_writes(runner) == writes


def test_credentials_revoked_mid_run_stop_it_with_one_line_and_keep_progress(
    runner: Runner, tmp_path: Path
) -> None:
    uploaded_without_attaching(runner, tmp_path, FILES)
    proxy = CuttingProxy(runner.emulator.base_url, allow=2, mode="401")
    try:
        stopped = attach(runner, "--folder", FOLDER, "-j", "1", api=proxy.url)
    finally:
        proxy.close()
    assert stopped.code == 2, stopped.stdout + stopped.stderr
    assert one_line(stopped.stderr).startswith("bulkupload attach: error: authentication failed")
    assert "attached 2, " in stopped.stdout and "not tried 2" in stopped.stdout
    done = records(runner)
    assert sum(1 for r in done.values() if r["file_id"] is not None) == 2
    # The two not attached are still pending, as they were: the next attach finishes the job.
    assert all(r["status"] == "uploaded" for r in done.values())
    again = attach(runner, "--folder", FOLDER)
    assert again.code == 0 and "attached 2, expired 0, failed 0" in again.stdout


# ── the state store and pacing ───────────────────────────────────────────────────────────
def test_attached_files_are_in_the_state_and_a_later_run_skips_them(
    runner: Runner, tmp_path: Path
) -> None:
    """Was: the rows stayed 'sent', so the next run attached every file a second time."""
    src = uploaded_without_attaching(runner, tmp_path, FILES)
    assert {status for status, _ in state_rows(runner).values()} == {"sent"}
    result = attach(runner, "--folder", FOLDER)
    assert result.code == 0, result.stdout + result.stderr
    done = records(runner)
    rows = state_rows(runner)
    for rel, record in done.items():
        assert rows[(f"project:{PROJECT}/{FOLDER}", rel)] == ("uploaded", record["file_id"])

    sent, writes = runner.emulator.counters()["storage_success"], attach_writes(runner)
    runner.emulator.reset_counters()
    rerun = runner(str(src), "--folder", FOLDER)
    assert rerun.code == 0, rerun.stdout + rerun.stderr
    assert f"0 uploaded, {len(FILES)} skipped" in rerun.stdout
    assert "unchanged since last upload" in rerun.stdout
    counters = runner.emulator.counters()
    assert counters["storage_success"] == 0 and attach_writes(runner) == 0 < writes
    assert sent > 0


def test_attach_after_an_upload_run_attached_the_same_uploads_changes_nothing(
    runner: Runner, tmp_path: Path
) -> None:
    """Was: the attach the summary suggests, run after a normal run had attached the stored
    uploads, failed every record ("already used"), rewrote them as failed, and the next run
    paid API calls for files that were in Procore."""
    src = uploaded_without_attaching(runner, tmp_path, FILES)
    kept = tmp_path / "no-attach.jsonl"
    kept.write_bytes(runner.manifest.read_bytes())
    placed = runner(str(src), "--folder", FOLDER)  # attaches the stored uploads
    assert placed.code == 0, placed.stdout + placed.stderr
    rows = state_rows(runner)
    runner.emulator.reset_counters()
    late = attach(runner, "--folder", FOLDER, "--manifest", str(kept))
    assert late.code == 0, late.stdout + late.stderr
    assert f"attached 0, expired 0, failed 0, skipped {len(FILES)}" in late.stdout
    assert runner.emulator.counters()["api_calls"] == 0
    assert state_rows(runner) == rows
    for rel, record in {manifest_rel(r): r for r in read_manifest(kept)}.items():
        assert record["status"] == "uploaded", record
        assert record["file_id"] == rows[(f"project:{PROJECT}/{FOLDER}", rel)][1]
    again = runner(str(src), "--folder", FOLDER)
    assert again.code == 0 and f"0 uploaded, {len(FILES)} skipped" in again.stdout, again.stdout


def test_attach_is_paced_by_the_rate_limit_headers(make_runner: Any, tmp_path: Path) -> None:
    """Was: no pacer, so a burst of attaches met 429 after 429."""
    runner = make_runner(spike_limit=6, spike_window=1.0)  # -j8 at once would break it
    files = {f"f{i:02d}.txt": f"file {i}".encode() for i in range(8)}
    src = tmp_path / "src"
    for rel, data in files.items():
        write(src / rel, data)
    assert runner(str(src), "--no-attach", "-j", "1").code == 0
    runner.emulator.reset_counters()
    result = attach(runner, "-j", "8")
    assert result.code == 0, result.stdout + result.stderr
    assert f"attached {len(files)}, " in result.stdout
    assert runner.emulator.counters()["rate_limited"] <= 1


def test_config_file_and_retries_reach_the_attach_run(runner: Runner, tmp_path: Path) -> None:
    """--config (the upload run's own file will do) and --retries: every API call is tried
    1 + retries times."""
    uploaded_without_attaching(runner, tmp_path, {"a.txt": b"one"})
    config = tmp_path / "bulkupload.toml"
    config.write_text(f'sources = ["src"]\nfolder = "{FOLDER}"\nretries = 2\n', encoding="utf-8")
    runner.emulator.set_faults(api_5xx=1.0)
    failed = attach(runner, "--config", str(config), "-j", "1")
    assert failed.code == 1 and "attached 0, expired 0, failed 1" in failed.stdout
    tries_with_config = runner.emulator.counters()["faults_injected"]["api_5xx"]
    runner.emulator.reset_counters()
    once = attach(runner, "--config", str(config), "--retries", "0", "-j", "1")
    assert once.code == 1
    assert runner.emulator.counters()["faults_injected"]["api_5xx"] * 3 == tries_with_config
    runner.emulator.set_faults(api_5xx=0.0)
    ok = attach(runner, "--config", str(config))
    assert ok.code == 0, ok.stdout + ok.stderr
    [(target, rel)] = [key for key, row in state_rows(runner).items() if row[0] == "uploaded"]
    assert (target, rel) == (f"project:{PROJECT}/{FOLDER}", "a.txt")


def test_sigint_finishes_what_is_in_flight_and_keeps_it(make_runner: Any, tmp_path: Path) -> None:
    """Was: Ctrl-C lost every attach of the run (the manifest was rewritten only at the end)."""
    runner = make_runner(api_latency=0.05)
    files = {f"f{i:02d}.txt": f"file {i}".encode() for i in range(40)}
    uploaded_without_attaching(runner, tmp_path, files)
    base = runner.emulator.base_url
    command = [
        sys.executable,
        *("-m", "bulkupload", "attach", "-j", "1", "--manifest", str(runner.manifest)),
        *("--state", str(runner.state), "--project", str(PROJECT)),
        *("--base-url", base, "--login-url", base),
    ]
    with subprocess.Popen(
        command, env=runner.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        for _ in range(2000):  # the emulator tells no one when a file is attached: ask it
            if attach_writes(runner) >= 2 or proc.poll() is not None:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGINT, stdout + stderr
    assert "Traceback" not in stdout + stderr
    attached = [r for r in records(runner).values() if r["file_id"] is not None]
    assert 2 <= len(attached) < len(files)
    assert f"attached {len(attached)}, " in stdout
    assert f"not tried {len(files) - len(attached)}" in stdout
    uploaded = [row for row in state_rows(runner).values() if row[0] == "uploaded"]
    assert len(uploaded) == len(attached)
