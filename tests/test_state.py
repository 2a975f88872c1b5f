"""The state store: what a resumed nightly run relies on."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bulkupload.errors import StateError
from bulkupload.models import Disposition, FileResult, Placement, Status
from bulkupload.state import AsyncStateStore, PartPlan, StateRow, StateStore, TransferRow
from bulkupload.state import store as state_module

T = "project:42"


def uploaded(rel: str, *, size: int = 3, mtime_ns: int = 1_000, **kw: object) -> FileResult:
    return FileResult(
        rel=rel,
        size=size,
        mtime_ns=mtime_ns,
        status=Status.UPLOADED,
        md5="abc",
        upload_uuid="u-1",
        attempts=1,
        placement=Placement(file_id=7, folder_id=3, version=1),
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore.open(tmp_path / "s" / "state.sqlite") as opened:
        yield opened


def test_recorded_results_are_found_again_with_exact_names(store: StateStore) -> None:
    run = store.begin_run(T)
    names = ["a.txt", "dir/emoji 🏗.pdf", "caf\udce9.txt", "new\nline"]
    store.record(T, [uploaded(n) for n in names], run)
    found = store.lookup(T, [*names, "unknown.txt"])
    assert set(found) == set(names)
    row = found["caf\udce9.txt"]
    assert row.rel == "caf\udce9.txt"
    assert row.display_rel == "caf\\xe9.txt"
    assert (row.status, row.size, row.mtime_ns, row.md5, row.file_id) == (
        "uploaded",
        3,
        1000,
        "abc",
        7,
    )
    assert row.seen_run == run
    assert store.lookup("project:43", names) == {}


def test_lookup_of_many_rels_is_chunked(store: StateStore) -> None:
    run = store.begin_run(T)
    rels = [f"f{i:05}" for i in range(1234)]
    store.record(T, [uploaded(r) for r in rels], run)
    assert set(store.lookup(T, rels)) == set(rels)


def test_kept_results_leave_their_row_alone(store: StateStore) -> None:
    run = store.begin_run(T)
    store.record(T, [uploaded("a", size=3, mtime_ns=5)], run)
    unchanged = FileResult(
        rel="a", size=99, mtime_ns=6, status=Status.SKIPPED, disposition=Disposition.KEEP
    )
    store.record(T, [unchanged], run)
    row = store.lookup(T, ["a"])["a"]
    assert (row.status, row.size, row.mtime_ns) == ("uploaded", 3, 5)


def test_failed_retry_keeps_procore_identity_and_first_seen(store: StateStore) -> None:
    run1 = store.begin_run(T)
    store.record(T, [uploaded("a")], run1)
    before = store.lookup(T, ["a"])["a"]
    run2 = store.begin_run(T)
    retry = FileResult(
        rel="a",
        size=9,
        mtime_ns=2_500_000_000,
        status=Status.FAILED,
        disposition=Disposition.FAILED,
        attempts=4,
        error="storage 503",
    )
    store.record(T, [retry], run2)
    after = store.lookup(T, ["a"])["a"]
    assert (after.status, after.error, after.attempts, after.size) == (
        "failed",
        "storage 503",
        4,
        9,
    )
    assert after.mtime_ns == 2_500_000_000
    assert (after.file_id, after.folder_id, after.version) == (7, 3, 1)
    assert after.first_seen == before.first_seen
    assert after.seen_run == run2


def test_sent_status_is_stored(store: StateStore) -> None:
    run = store.begin_run(T)
    sent = FileResult(
        rel="a",
        size=1,
        mtime_ns=None,
        status=Status.UPLOADED,
        disposition=Disposition.SENT,
        upload_uuid="u",
    )
    store.record(T, [sent], run)
    assert store.lookup(T, ["a"])["a"].status == "sent"


def test_a_document_upload_belongs_to_the_bytes_it_was_made_for(store: StateStore) -> None:
    """New bytes stored for a file forget the document upload made for the old ones: resuming
    with it would find it submitted and call the new content placed."""
    run = store.begin_run(T)

    def sent(upload: str) -> FileResult:
        return FileResult(
            rel="a", size=1, mtime_ns=None, status=Status.UPLOADED,
            disposition=Disposition.SENT, upload_uuid=upload,
        )  # fmt: skip

    store.record(T, [sent("u-1")], run)
    store.note_document_uploads(T, [("a", "doc-1")])
    store.record(T, [sent("u-1")], run)  # the same bytes again (a failed placing): kept
    assert store.lookup(T, ["a"])["a"].document_upload_id == "doc-1"
    store.record(T, [sent("u-2")], run)
    assert store.lookup(T, ["a"])["a"].document_upload_id is None


def test_gone_lists_uploaded_files_not_seen_in_this_run(store: StateStore) -> None:
    run1 = store.begin_run(T)
    store.record(T, [uploaded("keep"), uploaded("deleted"), uploaded("resent")], run1)
    skipped = FileResult(rel="skip", size=1, mtime_ns=None, status=Status.SKIPPED)
    store.record(T, [skipped], run1)
    run2 = store.begin_run(T)
    store.mark_seen(T, ["keep"], run2)
    store.record(T, [uploaded("resent")], run2)
    assert [row.rel for row in store.gone(T, run2)[1]] == ["deleted"]
    assert store.gone(T, run2, 0) == (1, [])  # counted in full, listed up to the limit


def test_runs_keep_their_summary(store: StateStore) -> None:
    run = store.begin_run(T)
    store.finish_run(run, {"uploaded": 3, "failed": 1, "note": "ünïcode"})
    (info,) = store.runs(T)
    assert info["id"] == run
    assert info["finished_at"] is not None
    assert info["summary"] == {"uploaded": 3, "failed": 1, "note": "ünïcode"}
    assert store.runs("company:1") == []


def test_rows_pages_through_everything_in_order(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_module, "PAGE_SIZE", 7)
    run = store.begin_run(T)
    rels = [f"f{i:03}" for i in range(30)]
    store.record(T, [uploaded(r) for r in reversed(rels)], run)
    store.record("company:1", [uploaded("other")], run)
    assert [r.rel for r in store.rows(T)] == rels
    assert [r.target for r in store.rows()] == ["company:1"] + [T] * 30


def test_default_path_is_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with StateStore.open() as store:
        store.begin_run(T)
    assert (tmp_path / ".bulkupload" / "state.sqlite").is_file()
    mode = sqlite3.connect(tmp_path / ".bulkupload" / "state.sqlite").execute("PRAGMA journal_mode")
    assert mode.fetchone()[0] == "wal"


def test_second_run_on_the_same_state_fails_fast(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with StateStore.open(path):
        with pytest.raises(StateError, match="another bulkupload run is using"):
            StateStore.open(path)
        with StateStore.open(path, readonly=True) as reader:  # reports still work
            assert list(reader.rows()) == []
    with StateStore.open(path):  # the lock is released on close
        pass


def test_unusable_paths_raise_state_error(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="is a directory"):
        StateStore.open(tmp_path)
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StateError, match="corrupt"):
        StateStore.open(corrupt)
    with pytest.raises(StateError, match="does not exist"):
        StateStore.open(tmp_path / "missing.sqlite", readonly=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(StateError, match="cannot create"):
        StateStore.open(tmp_path / "file" / "state.sqlite")


def test_database_locked_by_another_process_is_a_state_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_module, "BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "state.sqlite"
    with StateStore.open(path) as store:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(StateError, match="locked by another process"):
                store.begin_run(T)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert store.begin_run(T) >= 1  # usable again afterwards


async def test_async_store_runs_the_same_operations(tmp_path: Path) -> None:
    async with await AsyncStateStore.open(tmp_path / "state.sqlite") as store:
        run = await store.begin_run(T)
        await store.record(T, [uploaded("a"), uploaded("b\udcff")], run)
        found = await store.lookup(T, ["a", "b\udcff"])
        assert isinstance(found["b\udcff"], StateRow)
        run2 = await store.begin_run(T)
        await store.mark_seen(T, ["a"], run2)
        assert [r.rel for r in (await store.gone(T, run2))[1]] == ["b\udcff"]
        assert [r.rel async for r in store.rows(T)] == ["a", "b\udcff"]
        await store.finish_run(run2, {"ok": True})


def test_a_state_of_the_previous_version_is_upgraded_in_place(tmp_path: Path) -> None:
    """State files written before uploads in progress were kept (schema 1) keep working."""
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE files (target TEXT NOT NULL, rel BLOB NOT NULL, size INTEGER,"
        " mtime_ns INTEGER, md5 TEXT, upload_uuid TEXT, file_id INTEGER, folder_id INTEGER,"
        " version INTEGER, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
        " error TEXT, first_seen TEXT NOT NULL, updated_at TEXT NOT NULL, seen_run INTEGER,"
        " PRIMARY KEY (target, rel)) WITHOUT ROWID;"
        "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL,"
        " started_at TEXT NOT NULL, finished_at TEXT, summary TEXT);"
        "INSERT INTO files VALUES ('project:42', CAST('a.pdf' AS BLOB), 3, 5, 'm', 'u', 7, 3, 1,"
        " 'uploaded', 1, NULL, 't', 't', 1);"
        "PRAGMA user_version = 1;"
    )
    old.close()
    with pytest.raises(StateError, match="older bulkupload: an upload run with it upgrades it"):
        StateStore.open(path, readonly=True)
    with StateStore.open(path) as store:
        row = store.lookup(T, ["a.pdf"])["a.pdf"]
        assert (row.status, row.file_id, row.expires_at) == ("uploaded", 7, None)
        store.record(T, [uploaded("b", expires_at=1.5e9)], store.begin_run(T))
        assert store.lookup(T, ["b"])["b"].expires_at == 1.5e9
    with StateStore.open(path, readonly=True) as reader:
        assert [r.rel for r in reader.rows(T)] == ["a.pdf", "b"]


def test_an_upload_in_progress_is_kept_to_the_part_until_its_file_is_stored(
    store: StateStore,
) -> None:
    parts = (PartPlan(6 << 20, "s1", "m1"), PartPlan(1, "s2", "m2"))
    transfer = TransferRow("up-1", (6 << 20) + 1, 5, parts, "sha", "md5", 1.8e9)
    store.begin_transfer(T, "big\udcff.bin", transfer)
    store.part_stored(T, "big\udcff.bin", "up-1", 1, "etag-2")
    found = store.transfers(T, ["big\udcff.bin", "other"])
    assert list(found) == ["big\udcff.bin"]
    again = found["big\udcff.bin"]
    assert (again.upload_id, again.parts, again.etags) == ("up-1", parts, {1: "etag-2"})
    # A new upload of the same file replaces the old one and its parts.
    store.begin_transfer(T, "big\udcff.bin", replace(transfer, upload_id="up-2"))
    assert store.transfers(T, ["big\udcff.bin"])["big\udcff.bin"].etags == {}
    run = store.begin_run(T)
    failed = FileResult(
        rel="big\udcff.bin",
        size=1,
        mtime_ns=5,
        status=Status.FAILED,
        disposition=Disposition.FAILED,
    )
    store.record(T, [failed], run)  # a failure keeps it: the next run resumes it
    assert list(store.transfers(T, ["big\udcff.bin"])) == ["big\udcff.bin"]
    store.record(T, [uploaded("big\udcff.bin", disposition=Disposition.SENT)], run)
    assert store.transfers(T, ["big\udcff.bin"]) == {}  # stored: nothing left to resume
