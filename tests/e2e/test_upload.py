"""The product, end to end: the real CLI uploads real trees to the emulator over loopback."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from bulkupload.emulator.seaweed_parts import multipart_etag
from bulkupload.emulator.server import RunningEmulator
from tests.e2e.conftest import Runner
from tests.trees import make_tree, manifest_rel, read_manifest, stored_md5_by_uuid, write


def assert_all_stored(runner: Runner, expected: dict[str, str]) -> list[dict[str, object]]:
    """Every file has exactly one manifest line, uploaded, and its stored bytes match."""
    records = read_manifest(runner.manifest)
    by_rel = {manifest_rel(r): r for r in records}
    assert len(records) == len(by_rel) == len(expected)
    assert set(by_rel) == set(expected)
    stored = stored_md5_by_uuid(runner.emulator)
    for rel, md5 in expected.items():
        record = by_rel[rel]
        assert record["status"] == "uploaded", (rel, record)
        assert record["md5"] == md5
        assert stored[str(record["upload_uuid"])] == md5, rel
    return records


def test_mixed_tree_with_odd_names_and_a_50mb_file(runner: Runner, tmp_path: Path) -> None:
    expected = make_tree(tmp_path / "src", 520, big=50 * 1024 * 1024)
    result = runner(str(tmp_path / "src"), "--concurrency", "16", "--no-attach")
    assert result.code == 0, result.stderr
    records = assert_all_stored(runner, expected)
    keys = set(records[0])
    assert {
        "path",
        "size",
        "mtime",
        "md5",
        "status",
        "upload_uuid",
        "attempts",
        "error",
        "started_at",
        "finished_at",
    } <= keys
    assert sum(1 for r in records if r["size"] == 0) >= 10
    assert f"{len(expected)} files found: {len(expected)} uploaded" in result.stdout
    assert f"WARNING: {len(expected)} uploads are stored but not attached" in result.stdout
    assert "Attach them with: bulkupload attach --manifest" in result.stdout


def test_short_lived_instructions_and_slow_storage(make_runner, tmp_path: Path) -> None:
    runner = make_runner(upload_lifetime=1.0)
    # Slow storage on the emulator's clock: each storage request takes 0.6 s of its time, so
    # instructions made while another file was sent expire before their own POST ends, and
    # fresh ones, sent at once, never do (one file at a time: nothing else moves the clock).
    runner.emulator.set_faults(storage_clock_step=0.6)
    expected = make_tree(tmp_path / "src", 30)
    report = tmp_path / "report.json"
    result = runner(
        str(tmp_path / "src"), "--concurrency", "1", "--no-attach", "--report", str(report)
    )
    assert result.code == 0, result.stderr
    assert_all_stored(runner, expected)
    # Instructions did expire on the way and were replaced, not failed.
    assert len(runner.emulator.uploads()) > len(expected)
    assert json.loads(report.read_text())["retries_by_kind"]["renewal"] > 0


def test_twenty_percent_faults_everywhere(make_runner, tmp_path: Path) -> None:
    runner = make_runner(fault_api_5xx=0.2, fault_storage_5xx=0.2, fault_reset=0.2, seed=3)
    expected = make_tree(tmp_path / "src", 80)
    result = runner(str(tmp_path / "src"), "--concurrency", "8", "--retries", "10")
    assert result.code == 0, result.stdout + result.stderr
    assert_all_stored(runner, expected)
    faults = runner.emulator.counters()["faults_injected"]
    assert sum(faults.values()) >= 20, faults


def test_low_spike_limit_makes_few_429s(make_runner, tmp_path: Path) -> None:
    runner = make_runner(spike_limit=10, spike_window=1.0)  # 16 at once would break it
    expected = make_tree(tmp_path / "src", 16)
    result = runner(str(tmp_path / "src"), "--concurrency", "16", "--no-attach")
    assert result.code == 0, result.stderr
    assert_all_stored(runner, expected)
    # Before the first answer nobody knows the budget: calls that start together (16 here)
    # may spend more than it (10); after it, pacing keeps to it. A loaded machine can line
    # them all up, so at most the excess of that first round: 16 - 10.
    assert runner.emulator.counters()["rate_limited"] <= 6


def test_no_token_reaches_storage_and_variant_company(runner: Runner, tmp_path: Path) -> None:
    expected = make_tree(tmp_path / "src", 20)
    env = runner.env(PROCORE_COMPANY_ID="2")
    result = runner(str(tmp_path / "src"), "--project", "200", env=env)
    assert result.code == 0, result.stderr
    assert_all_stored(runner, expected)
    counters = runner.emulator.counters()
    assert counters["storage_requests"] >= len(expected)
    assert counters["storage_authorization_headers"] == 0
    uploads = runner.emulator.uploads()
    assert all(u["company_id"] == 2 for u in uploads)


def test_a_report_path_that_cannot_be_written_stops_the_run_before_any_call(
    runner: Runner, tmp_path: Path
) -> None:
    """Was: the files were uploaded, then the run ended with the OSError and no summary."""
    src = tmp_path / "src"
    write(src / "a.txt", b"a")
    (tmp_path / "not-a-folder").write_text("a file")
    result = runner(str(src), "--report", str(tmp_path / "not-a-folder" / "report.json"))
    assert result.code == 2, result.stdout + result.stderr
    assert "not-a-folder" in result.stderr and "Traceback" not in result.stderr
    counters = runner.emulator.counters()
    assert (counters["api_calls"], counters["storage_requests"]) == (0, 0)


def test_bad_input_is_reported_per_file(runner: Runner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    expected = make_tree(src, 10)
    os.mkfifo(src / "a-fifo")
    (src / "loop").mkdir()
    (src / "loop" / "back").symlink_to("..")
    (src / "dangling").symlink_to("does-not-exist")
    result = runner(str(src), "--follow-symlinks", "--no-attach")
    records = {manifest_rel(r): r for r in read_manifest(runner.manifest)}
    assert records["a-fifo"]["status"] == "skipped"
    assert "FIFO" in records["a-fifo"]["error"]
    loops = [r for rel, r in records.items() if rel.startswith("loop/back")]
    assert loops and all(r["status"] == "failed" for r in loops)
    assert "loop" in loops[0]["error"]
    assert records["dangling"]["status"] == "failed"
    for rel in expected:
        assert records[rel]["status"] == "uploaded"
    assert result.code == 1
    assert "Traceback" not in result.stderr + result.stdout


def started_one_file_done(runner: Runner, cmd: list[str]) -> subprocess.Popen[str]:
    """The CLI `cmd` started in its own process, once its manifest has its first line."""
    proc = subprocess.Popen(
        cmd, env=runner.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 30
    while not (runner.manifest.exists() and runner.manifest.read_bytes().count(b"\n") >= 1):
        assert time.monotonic() < deadline, "the CLI never finished a file"
        time.sleep(0.02)
    return proc


def test_unreadable_and_vanished_files(make_runner, tmp_path: Path) -> None:
    # Slow API answers so the walk is long done when the last file's turn comes.
    runner = make_runner(api_latency=0.25)
    src = tmp_path / "src"
    expected = make_tree(src, 5)
    secret = src / "no-permission.txt"
    write(secret, b"cannot read me")
    secret.chmod(0)
    doomed = src / "zz-deleted.txt"
    write(doomed, b"gone before upload")
    cmd = runner.command(str(src), "--no-attach", "--concurrency", "1", drop_root_read=True)
    # The first finished file means the walk (one batch) is done; the last file is seconds away.
    proc = started_one_file_done(runner, cmd)
    doomed.unlink()
    stdout, stderr = proc.communicate(timeout=60)
    records = {manifest_rel(r): r for r in read_manifest(runner.manifest)}
    assert records["no-permission.txt"]["status"] == "failed"
    assert "permission" in records["no-permission.txt"]["error"].lower()
    # Known unreadable at the walk: no upload is created for it (the deleted file's was).
    routes = runner.emulator.counters()["api_calls_by_route"]
    assert routes["POST /rest/v1.1/projects/{id}/uploads"] == len(expected) + 1
    assert records["zz-deleted.txt"]["status"] == "failed"
    assert "no longer exists" in records["zz-deleted.txt"]["error"]
    for rel in expected:
        assert records[rel]["status"] == "uploaded"
    assert proc.returncode == 1
    assert "Traceback" not in stderr + stdout
    assert "no-permission.txt: " in stdout  # listed under failures in the summary


def test_an_uploaded_file_that_became_unreadable_is_skipped_as_unchanged(
    runner: Runner, tmp_path: Path
) -> None:
    """A file we may not read fails only when it is to be sent: one unchanged since its
    upload is skipped as ever, and not reported gone from SOURCE."""
    src = tmp_path / "src"
    expected = make_tree(src, 4)
    assert runner(str(src), "--no-attach").code == 0
    locked = sorted(expected)[0]
    (src / locked).chmod(0)
    report = tmp_path / "report.json"
    cmd = runner.command(str(src), "--no-attach", "--report", str(report), drop_root_read=True)
    again = subprocess.run(cmd, env=runner.env(), capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stdout + again.stderr
    summary = json.loads(report.read_text())
    assert (summary["skipped"], summary["failed"], summary["gone_from_source"]) == (
        len(expected),
        0,
        [],
    )


@pytest.mark.parametrize("attach", [False, True])
def test_procore_gone_mid_run_stops_the_run_at_once(
    make_runner, tmp_path: Path, attach: bool
) -> None:
    """Was: each file left spent its own retries on the dead host, one after another (about
    33 s each with backoff: close to an hour for 100 files). Now the first call that spends
    its retries with no call answered meanwhile stops the run: exit 2, every file its line."""
    runner = make_runner(storage_latency=0.2)
    src = tmp_path / "src"
    expected = make_tree(src, 40)
    how = ["--folder", "Gone"] if attach else ["--no-attach"]
    proc = started_one_file_done(runner, runner.command(str(src), *how, "-j", "2"))
    runner.emulator.stop()
    stopped = time.monotonic()
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2, stdout + stderr
    assert time.monotonic() - stopped < 15
    assert "cannot reach" in stderr and "Traceback" not in stdout + stderr
    records = {manifest_rel(r): r for r in read_manifest(runner.manifest)}
    assert set(records) == set(expected)  # every file found has its line
    left = [r for r in records.values() if r["status"] != "uploaded"]
    assert left and all(r["status"] == "failed" for r in left)
    assert any("not sent" in r["error"] for r in left)  # the next run sends them


def test_help_documents_every_option(runner: Runner) -> None:
    from bulkupload.cli import build_parser

    result = runner.subprocess("--help", project=None)
    assert result.code == 0
    for action in build_parser()._actions:
        for option in action.option_strings:
            assert option in result.stdout, option
        if action.option_strings:
            assert action.help, f"{action.option_strings} has no help text"
    for text in ("PROCORE_CLIENT_ID", "PROCORE_ACCESS_TOKEN", "PROCORE_COMPANY_ID", "exit codes"):
        assert text in result.stdout, text


def test_clear_errors_for_setup_problems(runner: Runner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, 3)
    wrong = runner(str(src), env=runner.env(PROCORE_CLIENT_SECRET="wrong"))
    assert wrong.code == 2 and "authentication failed" in wrong.stderr
    missing = runner(str(src), env={"PROCORE_COMPANY_ID": "1"})
    assert missing.code == 2 and "PROCORE_CLIENT_ID" in missing.stderr
    unknown = runner(str(src), "--project", "999")
    assert unknown.code == 2 and "999" in unknown.stderr
    # The run stopped as a whole, yet every file found still has its line saying why.
    stopped = read_manifest(runner.manifest)
    assert len(stopped) == 4
    assert all(r["status"] != "uploaded" and "999" in r["error"] for r in stopped), stopped
    unknown_attach = runner(str(src), "--project", "999", "--no-attach")
    assert unknown_attach.code == 2 and "999" in unknown_attach.stderr
    assert len(read_manifest(runner.manifest)) == 4
    unreachable = runner(
        str(src), "--base-url", "http://127.0.0.1:9", "--login-url", "http://127.0.0.1:9"
    )
    assert unreachable.code == 2 and "cannot reach" in unreachable.stderr
    for run in (wrong, missing, unknown, unreachable):
        assert "Traceback" not in run.stderr
        assert runner.emulator.client_secret not in run.stderr + run.stdout


@pytest.mark.seaweedfs
def test_against_a_real_s3_seaweedfs(seaweed_emulator: RunningEmulator, tmp_path: Path) -> None:
    """The same client, proven against a real S3 implementation's POST policy checks."""
    runner = Runner(seaweed_emulator, tmp_path)
    expected = make_tree(tmp_path / "src", 60, big=6 * 1024 * 1024)
    for company, project in (("1", "42"), ("2", "200")):
        result = runner(
            str(tmp_path / "src"),
            "--project",
            project,
            "--folder",
            f"seaweed-{company}",
            "--state",
            str(tmp_path / f"state-{company}.sqlite"),
            env=runner.env(PROCORE_COMPANY_ID=company),
        )
        assert result.code == 0, result.stdout + result.stderr
        records = {manifest_rel(r): r for r in read_manifest(runner.manifest)}
        stored = stored_md5_by_uuid(seaweed_emulator)
        assert set(records) == set(expected)
        for rel, md5 in expected.items():
            assert records[rel]["status"] == "uploaded"
            assert stored[records[rel]["upload_uuid"]] == md5, rel


@pytest.mark.seaweedfs
def test_v2_1_parts_through_a_real_s3_seaweedfs(
    seaweed_emulator: RunningEmulator, tmp_path: Path
) -> None:
    """v2.1 against S3's own presigned UploadPart URLs: SeaweedFS checks each part's signature,
    headers and digests, and keeps what the completing PATCH assembles."""
    runner = Runner(seaweed_emulator, tmp_path)
    expected = make_tree(tmp_path / "src", 20, big=101 * 1024 * 1024)  # one file over 100 MiB
    empty = [rel for rel in expected if not (tmp_path / "src" / rel).stat().st_size]
    for rel in empty:  # v2.1 takes no file of 0 bytes (file_size >= 1)
        (tmp_path / "src" / rel).unlink()
        del expected[rel]
    result = runner(
        str(tmp_path / "src"), "--api-version", "2.1", "--part-size", "6MiB",
        "--no-attach", "--state", str(tmp_path / "state.sqlite"),
    )  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr
    records = {manifest_rel(r): r for r in read_manifest(runner.manifest)}
    assert set(records) == set(expected)
    v21 = {u["upload_id"]: u for u in seaweed_emulator.v21_uploads()}
    stored = {o["key"]: o for o in seaweed_emulator.objects()}
    for rel, md5 in expected.items():
        record = records[rel]
        assert record["status"] == "uploaded", record
        upload = v21[record["upload_uuid"]]
        assert (upload["status"], upload["md5"]) == ("available", md5), rel
        assert stored[f"v21/{record['upload_uuid']}"]["size"] == record["size"]
    # The 101 MiB file, in parts of 6 MiB; the others are one part each.
    assert sorted(v21[r["upload_uuid"]]["parts"] for r in records.values())[-2:] == [1, 17]


@pytest.mark.seaweedfs
def test_segments_through_a_real_s3_seaweedfs(
    seaweed_emulator: RunningEmulator, tmp_path: Path
) -> None:
    """v1.1 segments against S3's own presigned UploadPart URLs: SeaweedFS checks each
    segment's signature, headers and digests, and completes the object the file version takes;
    an unchanged re-run makes no API call."""
    runner = Runner(seaweed_emulator, tmp_path)
    src = tmp_path / "src"
    data = os.urandom(11 * 1024 * 1024 + 7)  # segments of 5 MiB, 5 MiB and the rest
    expected = {"model.ifc": write(src / "model.ifc", data)}
    flags = ["--segment-threshold", "8MiB", "--segment-size", "5MiB", "--folder", "segmented"]
    state = ["--state", str(tmp_path / "state.sqlite")]
    result = runner(str(src), *flags, *state)
    assert result.code == 0, result.stdout + result.stderr
    [record] = read_manifest(runner.manifest)
    assert (record["status"], record["md5"]) == ("uploaded", expected["model.ifc"]), record
    assert record["file_id"] is not None
    size = 5 * 1024 * 1024
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    made = multipart_etag([hashlib.md5(piece).hexdigest() for piece in pieces])
    upload = seaweed_emulator.state.uploads[record["upload_uuid"]]
    stored = {o["key"]: o for o in seaweed_emulator.objects()}[upload.key]
    assert (stored["size"], stored["md5"]) == (len(data), made)  # SeaweedFS made it of 3 parts
    seaweed_emulator.reset_counters()
    again = runner(str(src), *flags, *state)
    assert again.code == 0, again.stdout + again.stderr
    assert seaweed_emulator.counters()["api_calls"] == 0


def test_api_version_1_0(runner: Runner, tmp_path: Path) -> None:
    expected = make_tree(tmp_path / "src", 12)
    result = runner(str(tmp_path / "src"), "--api-version", "1.0", "--no-attach")
    assert result.code == 0, result.stderr
    assert_all_stored(runner, expected)
    routes = runner.emulator.counters()["api_calls_by_route"]
    assert routes == {"POST /rest/v1.0/projects/{id}/uploads": len(expected)}
    assert "deprecated" in result.stderr  # Procore's reference flags v1.0 Create Upload
    assert "deprecated" not in runner(str(tmp_path / "src"), "--no-attach").stderr


def test_big_files_go_in_segments_through_v1_0_too(runner: Runner, tmp_path: Path) -> None:
    """Procore's v1.0 Create Upload takes `segments` as v1.1 does (was refused by the client)."""
    src = tmp_path / "src"
    expected = {"big.bin": write(src / "big.bin", os.urandom(11 * 1024 * 1024))}
    result = runner(
        str(src), "--api-version", "1.0", "--segment-threshold", "8MiB", "--segment-size", "5MiB",
        "--no-attach",
    )  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr
    assert_all_stored(runner, expected)
    routes = runner.emulator.counters()["api_calls_by_route"]
    assert routes == {
        "POST /rest/v1.0/projects/{id}/uploads": 1,
        "PATCH /rest/v1.0/projects/{id}/uploads/{id}": 1,
    }


def test_every_segment_starts_before_the_instructions_expire(make_runner, tmp_path: Path) -> None:
    """Segment URLs are not renewed: at 4 MiB/s, one storage slot (-j 1), the later 5 MiB
    segments would start seconds after Create, past the URLs' life (2 s here, an hour at
    Procore). Once the instructions reach --instruction-max-age the rest start at once, slot
    or not: one upload, no renewal."""
    runner: Runner = make_runner(upload_lifetime=2)
    src = tmp_path / "src"
    expected = {"big.bin": write(src / "big.bin", os.urandom(15 * 1024 * 1024))}
    result = runner(
        str(src), "--segment-threshold", "8MiB", "--segment-size", "5MiB", "--bwlimit", "4M",
        "--instruction-max-age", "0.5", "--no-attach", "-j", "1",  # one storage slot: held
    )  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr
    assert_all_stored(runner, expected)
    routes = runner.emulator.counters()["api_calls_by_route"]
    assert routes["POST /rest/v1.1/projects/{id}/uploads"] == 1  # no fresh instructions needed


def test_big_files_go_in_segments(runner: Runner, tmp_path: Path) -> None:
    """Above --segment-threshold: Create Upload with segments, PUT each, PATCH complete, attach."""
    src = tmp_path / "src"
    expected = make_tree(src, 6, big=12 * 1024 * 1024 + 123)  # 3 segments of 5 MiB, last smaller
    result = runner(str(src), "--segment-threshold", "8MiB", "--segment-size", "5MiB")
    assert result.code == 0, result.stdout + result.stderr
    records = {manifest_rel(r): r for r in read_manifest(runner.manifest)}
    stored = stored_md5_by_uuid(runner.emulator)
    for rel, md5 in expected.items():
        assert records[rel]["status"] == "uploaded"
        assert records[rel]["md5"] == md5
        assert stored[records[rel]["upload_uuid"]] == md5, rel
        assert records[rel]["file_id"] is not None
    routes = runner.emulator.counters()["api_calls_by_route"]
    assert routes.get("PATCH /rest/v1.1/projects/{id}/uploads/{id}") == 1
    assert runner.emulator.counters()["storage_authorization_headers"] == 0
