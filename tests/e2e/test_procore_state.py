"""Issue #9 end to end: the client settles lost answers and clashes from Procore's published state.

The emulator here loses API answers after doing the work (the connection drops once the handler
has changed its state), the way a proxy timeout or a reset does in production. Procore publishes
no upload uuid on file versions and no wording for clashes, so the client must recognise its own
earlier success from the folder listing alone: no false failure, no duplicate version.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bulkupload.emulator.documents import store as documents_store
from bulkupload.emulator.faults import reset_connection
from tests.e2e.conftest import Runner
from tests.e2e.test_documents_attach import (
    documents,
    flatten,
    local,
    records_by_rel,
    remote,
    under,
)
from tests.proxy import Proxy
from tests.trees import make_tree, write

FOLDER = "Lost/Answers"


def test_five_percent_of_answers_lost_every_file_attached_once(make_runner, tmp_path: Path) -> None:
    runner: Runner = make_runner(seed=9, fault_api_lost=0.05)
    src = tmp_path / "src"
    expected = make_tree(src, 300)
    result = runner(str(src), "--folder", FOLDER, "--concurrency", "16")
    assert result.code == 0, result.stdout + result.stderr

    counters = runner.emulator.counters()
    assert counters["faults_injected"].get("api_lost", 0) >= 10  # the fault really happened
    records = records_by_rel(runner)
    assert set(records) == set(expected)
    assert [r for r in records.values() if r["status"] != "uploaded"] == []
    want_folders, want_files = local(src, expected)
    got_folders, got_nodes = flatten(under(documents(runner), FOLDER))
    assert got_folders == want_folders
    assert {p: (n["size"], n["md5"]) for p, n in got_nodes.items()} == want_files
    # Exactly one version each: no lost answer turned into a duplicate.
    assert {p: len(n["versions"]) for p, n in got_nodes.items()} == dict.fromkeys(want_files, 1)
    for rel, record in records.items():
        assert record["file_id"] == got_nodes[remote(rel)]["id"]

    # A nightly re-run with a few changed files: one new version each, still no duplicates.
    changed = sorted(expected)[:20]
    for rel in changed:
        expected[rel] = write(src / rel, b"changed overnight: " + rel.encode("utf-8", "replace"))
    again = runner(str(src), "--folder", FOLDER, "--concurrency", "16")
    assert again.code == 0, again.stdout + again.stderr
    _, nodes = flatten(under(documents(runner), FOLDER))
    counts = {p: len(n["versions"]) for p, n in nodes.items()}
    _, want_files = local(src, expected)
    assert {p: (n["size"], n["md5"]) for p, n in nodes.items()} == want_files
    assert {p for p, c in counts.items() if c == 2} == {remote(rel) for rel in changed}
    assert all(c in (1, 2) for c in counts.values())
    statuses = {rel: r["status"] for rel, r in records_by_rel(runner).items()}
    assert {rel for rel, status in statuses.items() if status == "uploaded"} == set(changed)
    assert {statuses[rel] for rel in set(expected) - set(changed)} == {"skipped"}


def test_lost_answers_are_settled_without_relying_on_a_refusal_procore_does_not_publish(
    make_runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Procore publishes no refusal of a second attach of the same upload. Here the emulator
    accepts one (it attaches the upload again): a write whose answer was lost must not be
    sent again before Procore's listing says it did not happen, or a file gets two versions."""
    real = documents_store.usable_upload

    def attachable_again(uploads: Any, now: Any, expired: Any, space: Any, who: Any, uuid: str):  # type: ignore[no-untyped-def]
        record = uploads.get(uuid)
        attached, record.attached_to = record.attached_to, None
        try:
            return real(uploads, now, expired, space, who, uuid)
        finally:
            record.attached_to = attached if attached is not None else record.attached_to

    monkeypatch.setattr(documents_store, "usable_upload", attachable_again)
    runner: Runner = make_runner(seed=5, fault_api_lost=0.1)
    src = tmp_path / "src"
    expected = make_tree(src, 120)
    assert (first := runner(str(src), "--folder", FOLDER)).code == 0, first.stdout + first.stderr
    changed = sorted(expected)[:40]
    for rel in changed:  # new versions: the PATCH whose answer may be lost
        write(src / rel, b"changed: " + rel.encode("utf-8", "replace"))
    assert (again := runner(str(src), "--folder", FOLDER)).code == 0, again.stdout + again.stderr
    lost = runner.emulator.counters()["faults_injected"].get("api_lost", 0)
    assert lost >= 10  # the fault really happened
    _, nodes = flatten(under(documents(runner), FOLDER))
    counts = {path: len(node["versions"]) for path, node in nodes.items()}
    assert {p for p, c in counts.items() if c != 1} == {remote(rel) for rel in changed}
    assert {counts[remote(rel)] for rel in changed} == {2}


def test_a_folder_whose_create_answer_is_lost_is_found_not_created_again(
    runner: Runner, tmp_path: Path
) -> None:
    """Procore publishes no refusal of a second folder of the same name: a create whose answer
    was lost (the folder made) is settled from the parent's listing, not sent again."""
    src = tmp_path / "src"
    expected = make_tree(src, 12)
    lost: list[str] = []

    def lose_first_create(request: web.Request, status: int, body: bytes) -> web.Response | None:
        if request.method == "POST" and request.path == "/rest/v1.0/folders" and not lost:
            lost.append(json.loads(body)["name"])
            reset_connection(request)  # the folder is made; its answer never arrives
        return None

    with Proxy(runner.emulator.base_url, after=lose_first_create) as proxy:
        result = runner(str(src), "--folder", FOLDER, "--base-url", proxy.url)
    assert result.code == 0, result.stdout + result.stderr
    assert lost  # the fault really happened
    want_folders, _ = local(src, expected)
    got_folders, _ = flatten(under(documents(runner), FOLDER))
    assert got_folders == want_folders  # no folder twice
    created = runner.emulator.counters()["api_calls_by_route"]["POST /rest/v1.0/folders"]
    assert created == len(want_folders) + len(FOLDER.split("/"))  # each made with one POST


def test_a_checked_out_file_fails_clearly_while_the_rest_land(
    runner: Runner, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    expected = {rel: write(src / rel, rel.encode() * 3) for rel in ("a.dwg", "b.dwg", "c.dwg")}
    assert runner(str(src), "--folder", FOLDER).code == 0
    ids = {rel: r["file_id"] for rel, r in records_by_rel(runner).items()}
    until = runner.emulator.advance_clock(0) + 3600
    runner.emulator.admin_post(
        "/_emulator/documents/checkout", {"project_id": 42, "file_id": ids["b.dwg"], "until": until}
    )
    for rel in expected:  # every file changes overnight; b.dwg is checked out by a colleague
        expected[rel] = write(src / rel, b"revised " + rel.encode())
    result = runner(str(src), "--folder", FOLDER)
    assert result.code == 1, result.stdout + result.stderr
    records = records_by_rel(runner)
    assert {rel: r["status"] for rel, r in records.items()} == {
        "a.dwg": "uploaded",
        "b.dwg": "failed",
        "c.dwg": "uploaded",
    }
    assert "409" in records["b.dwg"]["error"], records["b.dwg"]["error"]
    assert "Traceback" not in result.stdout + result.stderr
    _, nodes = flatten(under(documents(runner), FOLDER))
    assert {p: len(n["versions"]) for p, n in nodes.items()} == {"a.dwg": 2, "b.dwg": 1, "c.dwg": 2}

    # Checked in again: the next run attaches the stored bytes, without sending them again.
    runner.emulator.admin_post(
        "/_emulator/documents/checkout", {"project_id": 42, "file_id": ids["b.dwg"], "until": None}
    )
    sent = runner.emulator.counters()["storage_success"]
    again = runner(str(src), "--folder", FOLDER)
    assert again.code == 0, again.stdout + again.stderr
    assert records_by_rel(runner)["b.dwg"]["status"] == "uploaded"
    assert runner.emulator.counters()["storage_success"] == sent
    _, nodes = flatten(under(documents(runner), FOLDER))
    assert {p: (len(n["versions"]), n["md5"]) for p, n in nodes.items()} == {
        rel: (2, md5) for rel, md5 in expected.items()
    }


def test_retries_are_counted_by_kind_in_the_report(make_runner, tmp_path: Path) -> None:
    """Was: "0 retries" in the summary after dozens of retried API 500s."""
    runner: Runner = make_runner(seed=3, fault_api_5xx=0.3)
    runner.emulator.set_faults(retry_after=0)
    src = tmp_path / "src"
    make_tree(src, 20)
    report = tmp_path / "report.json"
    result = runner(str(src), "--no-attach", "--concurrency", "8", "--report", str(report))
    assert result.code == 0, result.stdout + result.stderr
    injected = runner.emulator.counters()["faults_injected"]["api_5xx"]
    assert injected > 0
    summary = json.loads(report.read_text())
    assert summary["retries_by_kind"]["api"] == injected  # each injected 5xx was sent again
    assert summary["retries"] == sum(summary["retries_by_kind"].values())
    assert f"{summary['retries']} retries" in result.stdout


def test_failures_are_counted_in_full_but_kept_in_memory_up_to_a_bound(
    make_runner, tmp_path: Path, monkeypatch
) -> None:
    """The memory bound covers failures: the first KEPT_FAILURES are kept, the rest counted."""
    import bulkupload.stats

    monkeypatch.setattr(bulkupload.stats, "KEPT_FAILURES", 3)
    runner: Runner = make_runner(fault_api_5xx=1.0)
    src = tmp_path / "src"
    expected = make_tree(src, 25)
    report = tmp_path / "report.json"
    result = runner(str(src), "--no-attach", "--retries", "0", "--report", str(report))
    assert result.code == 1
    summary = json.loads(report.read_text())
    assert summary["failed"] == len(expected) and summary["failures_listed"] == 3
    assert len(records_by_rel(runner)) == len(expected)  # the manifest has every one
    assert all(r["status"] == "failed" for r in records_by_rel(runner).values())
    assert f"and {len(expected) - 20} more (see manifest)" in result.stdout


def test_an_answer_of_an_unexpected_shape_is_settled_from_procores_listing(
    runner: Runner, tmp_path: Path
) -> None:
    """Was: a KeyError from `int(resp.data["id"])` escaped the per-file accounting (exit 2,
    lines lost); then the file failed and the next run settled it. Procore answers a file
    write with a list, which says nothing of what it did: the folder listing shows the write
    worked, so the file is uploaded once, in the same run."""
    src = tmp_path / "src"
    expected = make_tree(src, 12)
    odd = sorted(expected)[3]
    odd_answers = 0

    def odd_answer(request: web.Request, status: int, body: bytes) -> web.Response | None:
        nonlocal odd_answers
        written = request.method == "POST" and request.path == "/rest/v1.0/files"
        if written and status == 201 and json.loads(body)["name"] == remote(odd).split("/")[-1]:
            odd_answers += 1
            return web.json_response([], status=201)
        return None

    with Proxy(runner.emulator.base_url, after=odd_answer) as proxy:
        first = runner(str(src), "--folder", FOLDER, "--base-url", proxy.url)
    assert first.code == 0, first.stdout + first.stderr
    assert odd_answers == 1  # the write was sent once, not repeated
    records = records_by_rel(runner)
    assert set(records) == set(expected)  # every file found has its line
    assert {r["status"] for r in records.values()} == {"uploaded"}
    _, nodes = flatten(under(documents(runner), FOLDER))
    assert {len(n["versions"]) for n in nodes.values()} == {1}  # and no duplicate version
    assert records[odd]["file_id"] == nodes[odd]["id"]
