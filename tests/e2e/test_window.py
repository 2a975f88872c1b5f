"""Issue #13 end to end: a nightly run that fits its window and its API budget, says in advance
what it will do, and reports what it cost.
"""

from __future__ import annotations

import io
import json
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from bulkupload import cli
from tests.e2e.conftest import Runner
from tests.e2e.test_nightly import assert_documents_hold, small_tree
from tests.trees import read_manifest

EXIT_TIME_LIMIT = 75


def storage_posts(runner: Runner) -> int:
    return int(runner.emulator.counters()["storage_requests"])


def test_max_duration_stops_on_time_and_the_next_run_finishes(
    make_runner: Any, tmp_path: Path
) -> None:
    runner: Runner = make_runner(api_latency=0.05)
    src = tmp_path / "src"
    expected = small_tree(src, 150)
    args = (str(src), "--folder", "Window", "-j", "2")
    started = time.monotonic()
    first = runner(*args, "--max-duration", "1s")
    elapsed = time.monotonic() - started
    assert first.code == EXIT_TIME_LIMIT, first.stdout + first.stderr
    assert "stopped by the time limit" in first.stdout
    assert elapsed < 1 + 2.5  # the limit, the files in flight, start-up
    records = read_manifest(runner.manifest)
    assert len(records) == 150  # every file found has its line
    sent = [r for r in records if r["status"] == "uploaded"]
    left = [r for r in records if r["status"] == "failed"]  # not done: never "skipped"
    assert sent and left and len(sent) + len(left) == 150
    assert all(r["error"].startswith("not sent: stopped by the time limit") for r in left)
    assert f"{len(left)} of them not started" in first.stdout

    second = runner(*args)
    assert second.code == 0, second.stdout + second.stderr
    assert_documents_hold(runner.emulator, "Window", expected)
    assert storage_posts(runner) == 150  # nothing sent twice


def test_a_second_limit_aborts_what_is_still_in_flight(make_runner: Any, tmp_path: Path) -> None:
    runner: Runner = make_runner(storage_bandwidth=2_000_000)
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(b"x" * 6_000_000)  # 3 s at the storage's pace
    result = runner(str(src), "--max-duration", "0.5s", "--stop-grace", "0.5s")
    assert result.code == EXIT_TIME_LIMIT, result.stdout + result.stderr
    [line] = read_manifest(runner.manifest)
    assert line["status"] == "failed" and "aborted mid-upload" in line["error"]


def spike_windows(runner: Runner) -> list[int]:
    """Calls our client made in each ended spike window of the emulator."""
    windows = runner.emulator.admin_get("/_emulator/rate-windows")
    return [calls for _, calls in windows[runner.emulator.client_id]["spike"]]


def test_api_share_keeps_to_its_share_of_the_spike_limit(make_runner: Any, tmp_path: Path) -> None:
    runner: Runner = make_runner(spike_limit=120, spike_window=2.0)
    src = tmp_path / "src"
    small_tree(src, 150)  # about 300 calls: 5 windows of 60, at least 2 of them whole
    result = runner(str(src), "--folder", "Shared", "--api-share", "0.5", "-j", "8")
    assert result.code == 0, result.stdout + result.stderr
    assert runner.emulator.counters()["rate_limited"] == 0
    full = spike_windows(runner)[1:]  # windows that ended; the first was partial
    assert len(full) >= 2, full
    share = 0.5 * 120
    average = sum(full) / len(full)
    print(f"calls per 2 s window at --api-share 0.5 of 120: {full} (average {average:.1f})")
    assert all(n <= share for n in full), full
    assert abs(average - share) <= 0.05 * share, full


def test_the_plan_estimates_a_rate_limited_run_within_20_percent(
    make_runner: Any, tmp_path: Path
) -> None:
    runner: Runner = make_runner(spike_limit=100, spike_window=5.0)
    src = tmp_path / "src"
    small_tree(src, 30)
    args = (str(src), "--folder", "Planned", "--json")
    assert runner(*args).code == 0  # a first night: the state learns the limits
    more = small_tree(src / "more", 100, seed=5)
    result = runner(*args)
    assert result.code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    plan = report["plan"]
    assert plan["files"] == len(more)
    estimated, measured = plan["duration_s"], report["duration_s"]
    print(f"plan: {plan}; measured {measured:.1f} s")
    assert abs(estimated - measured) <= 0.2 * measured, (estimated, measured)
    calls = report["api_calls"]
    assert abs(plan["api_calls"] - calls) <= 0.2 * calls, (plan["api_calls"], calls)


def report_out(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.run(["report", *argv], {})
    return code, out.getvalue()


def test_report_api_usage_per_run(runner: Runner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    small_tree(src, 20)
    assert runner(str(src), "--folder", "Usage").code == 0
    code, out = report_out("--state", str(runner.state), "--api-usage", "--format", "json")
    assert code == 0
    [usage] = [json.loads(line) for line in out.splitlines()]
    calls = runner.emulator.counters()["api_calls"]
    assert usage["files"] == 20 and usage["api_calls"] == calls
    assert usage["calls_per_file"] == round(calls / 20, 3)
    assert usage["routes"]["POST /rest/v1.0/files"]["calls"] == 20
    assert usage["error_rate"] == 0.0 and usage["rate_limited_rate"] == 0.0
    code, out = report_out("--state", str(runner.state), "--api-usage")
    assert "per file" in out and "POST /rest/v1.0/files" in out
    code, out = report_out("--state", str(runner.state), "--runs")
    assert code == 0 and "20 uploaded" in out


def test_strict_file_upload_types_get_their_line_before_any_call(
    runner: Runner, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "setup.exe").write_bytes(b"MZ")
    (src / "plan.pdf").write_bytes(b"%PDF")
    (src / 'odd: "name".pdf').write_bytes(b"%PDF")
    dry = runner(str(src), "--strict-extensions", "--dry-run")
    assert dry.code == 1
    lines = {
        r["path"]: r for r in read_manifest(runner.manifest.with_name("manifest-dry-run.jsonl"))
    }
    assert "Strict File Upload" in lines["setup.exe"]["error"]
    result = runner(str(src), "--strict-extensions", "--block-extension", ".tmp")
    assert result.code == 1
    assert runner.emulator.counters()["api_calls_by_route"]["POST /rest/v1.0/files"] == 2
    assert "Procore Drive" in result.stdout  # the odd name: sent, with a note


def test_bwlimit_caps_the_storage_traffic(runner: Runner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        (src / f"f{i}.bin").write_bytes(bytes(256 * 1024))
    started = time.monotonic()
    result = runner(str(src), "--bwlimit", "512K", "-j", "4", "--no-attach")
    elapsed = time.monotonic() - started
    assert result.code == 0, result.stdout + result.stderr
    # 1 MiB at 512 KiB/s, a tenth of a second of it free: at least 1.9 s.
    assert elapsed >= 1.85, elapsed


def test_unattached_uploads_are_warned_about_by_every_later_run(
    runner: Runner, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    small_tree(src, 5)
    args = (str(src), "--folder", "Later", "--no-attach")
    assert "WARNING: 5 uploads are stored but not attached" in runner(*args).stdout
    again = runner(*args)
    assert "WARNING: 5 uploads are stored but not attached to any Procore resource (by " in (
        again.stdout
    )
    dry = runner(*args, "--dry-run")
    assert "WARNING: 5 uploads are stored but not attached" in dry.stdout
    # A run that attaches them says they were sent earlier, and warns no more.
    done = runner(str(src), "--folder", "Later")
    assert "5 uploaded, 5 of them sent by an earlier run" in done.stdout
    assert "0 B in" in done.stdout and "WARNING" not in done.stdout
    dry = runner(str(src), "--folder", "Later", "--dry-run")
    assert "0 would be uploaded, 5 skipped" in dry.stdout
