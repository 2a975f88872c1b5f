"""Issue #11 end to end: v2.1 unified uploads through the real CLI against the emulator.

Parts in parallel, completed and polled until available, resumable to the part; faults, part
URLs that expire, Procore's malware scan and both of its status vocabularies.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from bulkupload.emulator.server import RunningEmulator
from tests.e2e.conftest import Runner
from tests.trees import make_tree, manifest_rel, read_manifest

MIB = 1 << 20
V21 = ("--api-version", "2.1", "--no-attach")


def big_file(path: Path, size: int, seed: int = 5) -> str:
    """`size` bytes of a repeated random MiB (every part differs from its neighbours by
    position only, as real files do not, but storage checks each part's own digests)."""
    block = __import__("random").Random(seed).randbytes(MIB)
    digest = hashlib.md5()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        left = size
        while left:
            chunk = block[: min(left, MIB)]
            fh.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def parts_sha256(path: Path, part_size: int) -> str:
    """The parts digest worked out here: SHA-256 over the parts' binary SHA-256s, in order."""
    data = path.read_bytes()
    digests = [
        hashlib.sha256(data[i : i + part_size]).digest() for i in range(0, len(data), part_size)
    ]
    combined = hashlib.sha256(b"".join(digests)).hexdigest()
    return f"sha256-parts:{part_size}:{combined}-{len(digests)}"


def creates(emulator: RunningEmulator) -> int:
    by_route: dict[str, int] = emulator.counters()["api_calls_by_route"]
    return sum(n for route, n in by_route.items() if route.startswith("POST /rest/v2.1/"))


def stored(emulator: RunningEmulator) -> dict[str, dict[str, Any]]:
    """The emulator's available uploads by file name (the last one of a name)."""
    done = [u for u in emulator.v21_uploads() if u["status"] == "available"]
    return {u["file_name"]: u for u in sorted(done, key=lambda u: u["created"])}


def assert_stored(emulator: RunningEmulator, expected: dict[str, str]) -> None:
    """Every file's bytes are in an available upload (MD5 checked by the emulator too)."""
    by_name = stored(emulator)
    for rel, md5 in expected.items():
        name = os.fsdecode(os.fsencode(rel)).rsplit("/", 1)[-1]
        name = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        assert by_name[name]["md5"] == md5, rel


@pytest.mark.parametrize("level", ["project", "company"])
def test_a_tree_and_a_big_file_in_parts(runner: Runner, tmp_path: Path, level: str) -> None:
    src = tmp_path / "src"
    expected = make_tree(src, 12)
    expected["model.ifc"] = big_file(src / "model.ifc", 300 * MIB)
    target = ("--company", "1") if level == "company" else ()
    result = runner(str(src), *V21, "--part-size", "32MiB", *target)
    # The empty file: v2.1 takes no file of 0 bytes; it fails with its reason, nothing else.
    records = {manifest_rel(r): r for r in read_manifest(runner.manifest)}
    empty = {rel for rel, r in records.items() if r["size"] == 0}
    assert len(empty) == 1 and result.code == 1, result.stdout + result.stderr
    for rel in empty:
        assert records[rel]["status"] == "failed"
        assert "no upload protocol takes a file of 0 bytes" in records[rel]["error"]
    sent = {rel: md5 for rel, md5 in expected.items() if rel not in empty}
    assert {rel for rel, r in records.items() if r["status"] == "uploaded"} == set(sent)
    assert_stored(runner.emulator, sent)
    big = stored(runner.emulator)["model.ifc"]
    assert big["parts_received"] == 10  # 300 MiB in parts of 32 MiB
    # Create heard each part's SHA-256 alone (the MD5s would triple the pass before the first
    # byte); our records know the file by them too (no MD5 read through 300 MiB in one line).
    assert big["given"] == []
    assert records["model.ifc"]["md5"] is None
    assert records["model.ifc"]["parts_sha256"] == parts_sha256(src / "model.ifc", 32 * MIB)
    for name, upload in stored(runner.emulator).items():
        if name != "model.ifc":  # one part: its SHA-256 is the whole file's too; no MD5
            assert upload["given"] == ["sha256"], name
    for rel in set(sent) - {"model.ifc"}:  # and our records know it by that SHA-256
        assert records[rel]["md5"] is None, rel
        assert records[rel]["parts_sha256"] == parts_sha256(src / rel, 100 * MIB), rel
    counters = runner.emulator.counters()
    assert counters["storage_authorization_headers"] == 0
    assert creates(runner.emulator) == len(sent)  # one upload per file, none made twice
    assert "24 hours after creation" in result.stdout  # staged only: the deadline is said
    if level == "project":
        small = max(set(sent) - {"model.ifc"}, key=lambda rel: (src / rel).stat().st_size)
        touched_files_are_not_sent_again(runner, src, small)


def touched_files_are_not_sent_again(runner: Runner, src: Path, small: str) -> None:
    """Only their mtimes changed: the next run cuts each as before (the big file in parts, the
    small one whole), finds the same SHA-256s, sends nothing; with --checksum, the same."""
    before = (creates(runner.emulator), runner.emulator.counters()["storage_requests"])
    later = time.time() + 60
    for rel in ("model.ifc", small):
        os.utime(src / rel, (later, later))
    cut = {"model.ifc": 32 * MIB, small: 100 * MIB}  # one part: as if cut in parts of 100 MiB
    for flags in ((), ("--checksum",)):
        runner(str(src), *V21, "--part-size", "32MiB", *flags)
        records = {manifest_rel(r): r for r in read_manifest(runner.manifest)}
        for rel, part_size in cut.items():
            record = records[rel]
            assert record["status"] == "skipped", record
            assert record["error"].startswith("unchanged since last upload (same SHA-256s)")
            assert record["parts_sha256"] == parts_sha256(src / rel, part_size)
    after = (creates(runner.emulator), runner.emulator.counters()["storage_requests"])
    assert after == before


def test_part_faults_are_retried_per_part(make_runner: Any, tmp_path: Path) -> None:
    # Faults drawn at random, so their order depends on the parts' (concurrent) order: rates
    # high enough that both kinds happen (no reset in ~35 PUTs: 4e-5), retries enough that no
    # part runs out (a part failing 16 times in a row: 1e-4 a run).
    runner: Runner = make_runner(fault_storage_5xx=0.25, fault_reset=0.25, seed=4)
    src = tmp_path / "src"
    expected = {"drawing.pdf": big_file(src / "drawing.pdf", 130 * MIB)}
    report = tmp_path / "report.json"
    result = runner(
        str(src), *V21, "--part-size", "6MiB", "--retries", "15", "--report", str(report)
    )
    assert result.code == 0, result.stdout + result.stderr
    assert_stored(runner.emulator, expected)
    injected = runner.emulator.counters()["faults_injected"]
    retries = __import__("json").loads(report.read_text())["retries_by_kind"]
    assert retries["part"] == injected["storage_5xx"] + injected["reset"] > 0
    assert creates(runner.emulator) == 1  # a failed part is sent again, not the upload


def test_part_urls_that_expire_mid_file_are_renewed_not_recreated(
    make_runner: Any, tmp_path: Path
) -> None:
    runner: Runner = make_runner()
    # Each part PUT moves the emulator's clock on by 25 minutes: URLs (an hour) expire after
    # two parts, long before the file is done.
    runner.emulator.set_faults(storage_clock_step=1500)
    src = tmp_path / "src"
    expected = {"model.rvt": big_file(src / "model.rvt", 110 * MIB)}
    report = tmp_path / "report.json"
    result = runner(str(src), *V21, "--part-size", "6MiB", "-j", "2", "--report", str(report))
    assert result.code == 0, result.stdout + result.stderr
    assert_stored(runner.emulator, expected)
    assert creates(runner.emulator) == 1
    assert __import__("json").loads(report.read_text())["retries_by_kind"]["renewal"] >= 3


def test_procore_scanning_then_a_retryable_failure_makes_a_new_upload(
    make_runner: Any, tmp_path: Path
) -> None:
    # Seeded, one file at a time: the same scans fail on every run (three, each retryable, and
    # each file passes within the three uploads its policy allows).
    runner: Runner = make_runner(v21_scan_polls=2, fault_scan_failed=0.5, seed=2)
    src = tmp_path / "src"
    expected = make_tree(src, 8)
    for rel in [rel for rel in expected if not (src / rel).stat().st_size]:
        (src / rel).unlink()  # v2.1 takes no empty file
        del expected[rel]
    report = tmp_path / "report.json"
    result = runner(str(src), *V21, "-j", "1", "--report", str(report))
    assert result.code == 0, result.stdout + result.stderr
    assert_stored(runner.emulator, expected)
    retries = __import__("json").loads(report.read_text())["retries_by_kind"]
    assert retries["poll"] >= len(expected)  # scanning, then available
    assert retries["recreate"] == 3  # scans failed and said a new upload may pass
    failed = [u for u in runner.emulator.v21_uploads() if u["status"] == "failed"]
    assert creates(runner.emulator) == len(expected) + len(failed)


def test_a_file_procore_refuses_fails_with_procores_message(
    make_runner: Any, tmp_path: Path
) -> None:
    runner: Runner = make_runner(fault_scan_failed=1.0, fault_scan_retryable=False)
    src = tmp_path / "src"
    big_file(src / "virus.zip", 1000)
    result = runner(str(src), *V21)
    assert result.code == 1
    [record] = read_manifest(runner.manifest)
    assert record["status"] == "failed"
    assert record["error"].startswith("Procore did not accept the upload: ")
    assert creates(runner.emulator) == 1  # not retryable: no new upload


def test_the_tutorials_status_words_are_understood(make_runner: Any, tmp_path: Path) -> None:
    runner: Runner = make_runner(v21_status_words="tutorial", v21_scan_polls=1)
    src = tmp_path / "src"
    expected = {"a.pdf": big_file(src / "a.pdf", 12 * MIB)}
    result = runner(str(src), *V21, "--part-size", "6MiB")
    assert result.code == 0, result.stdout + result.stderr
    assert_stored(runner.emulator, expected)


def test_v2_uploads_cannot_go_to_the_documents_tool(runner: Runner, tmp_path: Path) -> None:
    result = runner(str(tmp_path), "--api-version", "2.1")
    assert result.code == 2
    assert "Documents tool takes v1 uploads only" in result.stderr
    assert runner.emulator.counters()["api_calls"] == 0


def test_expired_staged_uploads_are_sent_again(runner: Runner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    expected = {"a.pdf": big_file(src / "a.pdf", 1000), "b.pdf": big_file(src / "b.pdf", 2000, 6)}
    # The emulator's clock a day and an hour behind: what it stages now expires, by its own
    # deadline, an hour ago; then the clock catches up and Procore deletes the uploads.
    runner.emulator.advance_clock(-25 * 3600)
    first = runner(str(src), *V21)
    assert first.code == 0, first.stdout + first.stderr
    runner.emulator.advance_clock(25 * 3600)
    again = runner(str(src), *V21)
    assert again.code == 0, again.stdout + again.stderr
    assert {manifest_rel(r): r["status"] for r in read_manifest(runner.manifest)} == {
        "a.pdf": "uploaded",
        "b.pdf": "uploaded",
    }
    assert creates(runner.emulator) == 4  # each sent again, nothing failed on a gone upload
    assert_stored(runner.emulator, expected)


def kill_after_parts(runner: Runner, proc: subprocess.Popen[bytes], parts: int) -> None:
    """SIGKILL the run once the emulator holds `parts` parts of the first upload (it tells no
    one: ask it), or after a minute."""
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            uploads = runner.emulator.v21_uploads()
            if uploads and uploads[0]["parts_received"] >= parts:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)


def test_sigkill_mid_file_then_only_the_missing_parts_are_sent(
    make_runner: Any, tmp_path: Path
) -> None:
    runner: Runner = make_runner(storage_latency=0.05)
    src = tmp_path / "src"
    expected = {"site.las": big_file(src / "site.las", 120 * MIB)}
    parts, concurrency = 20, 3
    proc = subprocess.Popen(
        runner.command(str(src), *V21, "--part-size", "6MiB", "-j", str(concurrency)),
        env=runner.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kill_after_parts(runner, proc, 6)
    sent_before = runner.emulator.counters()["storage_success"]
    assert 6 <= sent_before < parts
    report = tmp_path / "report.json"
    again = runner(
        str(src), *V21, "--part-size", "6MiB", "-j", str(concurrency), "--report", str(report)
    )
    assert again.code == 0, again.stdout + again.stderr
    assert_stored(runner.emulator, expected)
    assert creates(runner.emulator) == 1  # the same upload, resumed
    # Its bytes and rate count the parts this run sent, not the 6 or more the first run stored
    # (how many more is a race: a part in flight at the kill may still land; one stored but
    # not yet recorded is sent again, as below): never the whole file.
    sent_now = json.loads(report.read_text())["bytes_uploaded"]
    assert sent_now % (6 * MIB) == 0 and 0 < sent_now <= (parts - 6 + concurrency) * 6 * MIB
    assert sent_now < 120 * MIB
    # The resumed run knows the file by the parts the first run cut and hashed.
    [record] = read_manifest(runner.manifest)
    assert record["parts_sha256"] == parts_sha256(src / "site.las", 6 * MIB)
    # Every part went once, but those in flight at the kill (stored, not yet recorded).
    assert runner.emulator.counters()["storage_requests"] <= parts + concurrency


def test_an_upload_gone_before_the_resume_starts_over(make_runner: Any, tmp_path: Path) -> None:
    runner: Runner = make_runner(storage_latency=0.05)
    src = tmp_path / "src"
    expected = {"scan.e57": big_file(src / "scan.e57", 110 * MIB)}
    proc = subprocess.Popen(
        runner.command(str(src), *V21, "--part-size", "6MiB", "-j", "1"),
        env=runner.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kill_after_parts(runner, proc, 2)
    runner.emulator.advance_clock(25 * 3600)  # Procore deletes the half-made upload
    report = tmp_path / "report.json"
    again = runner(str(src), *V21, "--part-size", "6MiB", "--report", str(report))
    assert again.code == 0, again.stdout + again.stderr
    assert_stored(runner.emulator, expected)
    assert creates(runner.emulator) == 2  # started over: counted, not failed
    assert __import__("json").loads(report.read_text())["retries_by_kind"]["recreate"] == 1
