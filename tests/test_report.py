"""`bulkupload report`: what a user reads (table) or a script parses (JSON Lines, CSV)."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bulkupload.errors import ConfigError
from bulkupload.models import FileResult, Status, Target
from bulkupload.report import render_report, summary_counts
from bulkupload.state import StateStore
from bulkupload.usage import run_usage

T = "project:42"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    path = tmp_path / "state.sqlite"
    with StateStore.open(path) as writer:
        run = writer.begin_run(T)
        writer.record(
            T,
            [
                FileResult(
                    rel="plans/a.pdf", size=1234, mtime_ns=1_000_000_000, status=Status.UPLOADED
                ),
                FileResult(
                    rel="caf\udce9\nx.txt", size=5, mtime_ns=1_000_000_000, status=Status.UPLOADED
                ),
                FileResult(
                    rel="b.dwg",
                    size=9,
                    mtime_ns=1_000_000_000,
                    status=Status.FAILED,
                    error="storage 503",
                ),
                FileResult(rel="pipe", size=None, mtime_ns=None, status=Status.SKIPPED),
            ],
            run,
        )
        writer.record("company:1", [FileResult("other", 1, 1_000_000_000, Status.UPLOADED)], run)
    with StateStore.open(path, readonly=True) as reader:
        yield reader


def render(store: StateStore, target: str | Target | None, fmt: str) -> str:
    out = io.StringIO()
    render_report(store, target, fmt, out)
    return out.getvalue()


def test_summary_counts(store: StateStore) -> None:
    assert summary_counts(store, Target("project", 42)) == {
        "uploaded": 2,
        "skipped": 1,
        "failed": 1,
        "sent": 0,
        "total": 4,
        "bytes_uploaded": 1239,
    }
    assert summary_counts(store)["total"] == 5


def test_table_is_aligned_one_line_per_file_with_a_summary(store: StateStore) -> None:
    text = render(store, T, "table")
    lines = text.splitlines()
    assert lines[0].split() == ["path", "status", "size", "uploaded", "at", "error"]
    assert len(lines) == 2 + 4 + 1  # header, rule, one line per file, summary
    body = lines[2:-1]
    assert [line.split()[0] for line in body] == [
        "b.dwg",
        "caf\\xe9\\nx.txt",
        "pipe",
        "plans/a.pdf",
    ]
    status_col = lines[0].index("status")
    assert all(line[status_col:].split()[0] in {"uploaded", "failed", "skipped"} for line in body)
    assert "storage 503" in body[0]
    assert lines[-1] == "4 files: 2 uploaded, 1 skipped, 1 failed"
    assert "target" in render(store, None, "table").splitlines()[0]


def test_json_lines_keep_exact_names(store: StateStore) -> None:
    records = [json.loads(line) for line in render(store, T, "json").splitlines()]
    assert len(records) == 4
    odd = next(r for r in records if r["path_bytes_b64"])
    assert odd["path"] == "caf\\xe9\nx.txt"
    assert base64.b64decode(odd["path_bytes_b64"]) == b"caf\xe9\nx.txt"
    failed = next(r for r in records if r["status"] == "failed")
    assert (failed["path"], failed["size"], failed["error"]) == ("b.dwg", 9, "storage 503")


def test_csv_has_a_header_and_quotes_odd_names(store: StateStore) -> None:
    rows = list(csv.DictReader(io.StringIO(render(store, None, "csv"))))
    assert len(rows) == 5
    assert {r["target"] for r in rows} == {T, "company:1"}
    assert "caf\\xe9\nx.txt" in {r["path"] for r in rows}


def test_unknown_format_is_a_config_error(store: StateStore) -> None:
    with pytest.raises(ConfigError, match="unknown report format"):
        render(store, T, "xml")


def test_api_usage_counts_no_call_for_files_a_stop_left_unsent() -> None:
    # 10 uploaded and 2 failed cost 24 calls; 30 "not sent" (counted as failed) cost nothing.
    summary = {
        "uploaded": 10,
        "failed": 32,
        "not_started": 30,
        "api_usage": {"POST /rest/v1.1/projects/{id}/uploads": {"calls": 24, "errors": 2}},
    }
    run = {"id": 1, "target": "project:42", "started_at": "2026-12-05T02:00:00", "summary": summary}
    usage = run_usage(run)
    assert usage["files"] == 12 and usage["calls_per_file"] == 2.0
    assert usage["error_rate"] == round(2 / 24, 4)
