"""A file in parts hashed before Create: each way of hashing gives the digests asked for, the
same whichever way, and "" for those left out; the whole-file MD5 read again beside the parts."""

from __future__ import annotations

import concurrent.futures
import hashlib
import threading
from pathlib import Path

import pytest

from bulkupload.errors import FileChanged
from bulkupload.models import FileEntry
from bulkupload.protocols.parts import CacheRelease, plan_parts, whole_md5
from tests.protocols.conftest import write_file

MIB = 1 << 20
PART = 6 * MIB


def slices(path: Path, size: int) -> list[bytes]:
    data = path.read_bytes()
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize(
    ("whole_sha256", "md5"), [(True, True), (False, True), (True, False), (False, False)]
)
def test_every_way_of_hashing_gives_the_parts_and_what_was_asked(
    tmp_path: Path, whole_sha256: bool, md5: bool
) -> None:
    path = tmp_path / "model.ifc"
    entry = write_file(path, 3 * PART + 12345)
    parts, sha256, whole = plan_parts(
        entry, PART, chunk_size=MIB, whole_sha256=whole_sha256, md5=md5
    )
    pieces = slices(path, PART)
    assert [p.size for p in parts] == [len(b) for b in pieces] == [PART] * 3 + [12345]
    assert [p.sha256 for p in parts] == [hashlib.sha256(b).hexdigest() for b in pieces]
    data = path.read_bytes()
    if md5:
        assert [p.md5 for p in parts] == [hashlib.md5(b).hexdigest() for b in pieces]
        assert whole == hashlib.md5(data).hexdigest()
    else:
        assert {p.md5 for p in parts} == {""} and whole == ""
    assert sha256 == (hashlib.sha256(data).hexdigest() if whole_sha256 else "")


def test_a_file_of_one_part_always_has_both_digests(tmp_path: Path) -> None:
    path = tmp_path / "small.pdf"
    entry = write_file(path, PART - 1)
    [part], sha256, md5 = plan_parts(entry, PART, whole_sha256=False, md5=False)
    assert part.md5 == md5 == hashlib.md5(path.read_bytes()).hexdigest()
    assert part.sha256 == sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_parts_hashed_side_by_side_notice_a_file_that_shrank(tmp_path: Path) -> None:
    path = tmp_path / "model.ifc"
    entry = write_file(path, 3 * PART)
    listed = FileEntry(entry.path, entry.rel, entry.size + PART, entry.mtime_ns)
    with pytest.raises(FileChanged):
        plan_parts(listed, PART, whole_sha256=False, md5=False)


def test_the_whole_md5_read_beside_the_parts(tmp_path: Path) -> None:
    path = tmp_path / "model.ifc"
    entry = write_file(path, 2 * PART + 7)
    stop = threading.Event()
    assert whole_md5(entry, stop=stop) == hashlib.md5(path.read_bytes()).hexdigest()
    with path.open("ab") as f:
        f.write(b"more")
    with pytest.raises(FileChanged, match="during upload"):
        whole_md5(entry, stop=stop)
    stop.set()
    with pytest.raises(concurrent.futures.CancelledError):
        whole_md5(write_file(tmp_path / "other.bin", MIB), stop=stop)


def test_a_parts_pages_are_dropped_once_sent_and_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped: list[tuple[int, int]] = []
    monkeypatch.setattr(
        "os.posix_fadvise", lambda fd, offset, length, advice: dropped.append((offset, length))
    )
    entry = write_file(tmp_path / "model.ifc", 3 * PART + 5)
    release = CacheRelease(entry, [PART, PART, PART, 5])
    release.sent(1)  # the MD5 has not read it yet
    release.hashed(PART + 10)  # part 0 hashed, not sent; part 1 hashed only in part
    assert dropped == []
    release.sent(0)
    assert dropped == [(0, PART)]
    release.hashed(3 * PART + 5)  # part 1 done by both; parts 2 and 3 not sent
    assert dropped == [(0, PART), (PART, PART)]
    release.sent(3)
    release.sent(2)
    assert dropped == [(0, PART), (PART, PART), (3 * PART, 5), (2 * PART, PART)]
