"""The plan: one decision per file from what the state knows, without I/O."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from bulkupload.models import FileEntry
from bulkupload.plan import Send, Skip, decide, needs_md5, touched, unchanged
from bulkupload.state import StateRow

ENTRY = FileEntry("/src/a.pdf", "a.pdf", size=3, mtime_ns=5)
NOW = 1_800_000_000.0


def row(status: str = "uploaded", *, size: int = 3, mtime_ns: int = 5, md5: str = "m") -> StateRow:
    return StateRow(
        "project:42", "a.pdf", size, mtime_ns, md5, "u-1", 7, 3, 1, status, 1, None, "t", "t", 1
    )


def test_a_new_file_is_sent() -> None:
    assert decide(ENTRY, None, md5=None, places=True, now=NOW) == Send()


def test_uploaded_and_unchanged_is_skipped_without_reading_it() -> None:
    assert not needs_md5(ENTRY, row(), checksum=False)
    assert decide(ENTRY, row(), md5=None, places=True, now=NOW) == Skip(
        "unchanged since last upload"
    )


def test_a_changed_size_is_sent_again_unread() -> None:
    assert not needs_md5(ENTRY, row(size=4), checksum=False)
    assert decide(ENTRY, row(size=4), md5=None, places=True, now=NOW) == Send()


def test_only_a_new_mtime_is_read_and_same_bytes_are_not_sent_again() -> None:
    touched_row = row(mtime_ns=6)
    assert needs_md5(ENTRY, touched_row, checksum=False)  # a touch: read the content
    assert decide(ENTRY, touched_row, md5="m", places=True, now=NOW) == Skip(
        "unchanged since last upload (same MD5)"
    )
    assert touched(ENTRY, touched_row, "m")  # the state takes the new mtime
    assert decide(ENTRY, touched_row, md5="new", places=True, now=NOW) == Send()
    assert not touched(ENTRY, touched_row, "new")
    assert decide(ENTRY, touched_row, md5=None, places=True, now=NOW) == Send()


def test_with_checksum_the_content_decides_not_the_mtime() -> None:
    touched = row(mtime_ns=99)
    assert needs_md5(ENTRY, touched, checksum=True)
    assert not needs_md5(ENTRY, row(size=4), checksum=True)  # another size: changed, unread
    assert decide(ENTRY, touched, md5="m", places=True, now=NOW) == Skip(
        "unchanged since last upload (same MD5)"
    )
    assert decide(ENTRY, row(), md5="other", places=True, now=NOW) == Send()


def test_stored_but_unplaced_bytes_are_resumed_when_placing_and_done_otherwise() -> None:
    sent = row("sent")
    assert decide(ENTRY, sent, md5=None, places=True, now=NOW) == Send(resume="u-1")
    assert decide(ENTRY, sent, md5=None, places=False, now=NOW) == Skip(
        "unchanged since last upload (not attached)"
    )
    assert decide(ENTRY, replace(sent, mtime_ns=6), md5=None, places=True, now=NOW) == Send()


def test_stored_bytes_procore_has_deleted_are_sent_again() -> None:
    expired = replace(row("sent"), expires_at=NOW - 1)
    assert decide(ENTRY, expired, md5=None, places=True, now=NOW) == Send()
    assert decide(ENTRY, expired, md5=None, places=False, now=NOW) == Send()
    alive = replace(row("sent"), expires_at=NOW + 3600)
    assert decide(ENTRY, alive, md5=None, places=False, now=NOW) == Skip(
        "unchanged since last upload (not attached)"
    )


def test_failed_or_skipped_before_is_tried_again() -> None:
    assert decide(ENTRY, row("failed"), md5=None, places=True, now=NOW) == Send()
    assert decide(ENTRY, row("skipped"), md5=None, places=True, now=NOW) == Send()


@given(size=st.integers(0, 10), mtime=st.integers(0, 10), md5=st.sampled_from([None, "m", "x"]))
def test_unchanged_is_the_one_rule(size: int, mtime: int, md5: str | None) -> None:
    entry = FileEntry("/p", "a.pdf", size, mtime)
    same = unchanged(entry, row(), md5)
    assert same == (size == 3 and (md5 == "m" if md5 is not None else mtime == 5))
    skipped = isinstance(decide(entry, row(), md5=md5, places=True, now=NOW), Skip)
    assert skipped == same
