"""A file in parts hashed before Create: each way of hashing gives the digests asked for, the
same whichever way, and "" for those left out; the content digest a later run compares; the
page cache left alone but by a file too big for it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from bulkupload.digests import parts_digest
from bulkupload.errors import FileChanged
from bulkupload.models import FileEntry
from bulkupload.protocols.parts import content_digest, plan_parts, release_part
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


def test_a_file_of_one_part_has_its_md5_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "small.pdf"
    entry = write_file(path, PART - 1)
    data = path.read_bytes()
    [part], sha256, md5 = plan_parts(entry, PART, whole_sha256=False, md5=False)
    assert part.sha256 == sha256 == hashlib.sha256(data).hexdigest()  # the part's is the file's
    assert part.md5 == md5 == ""
    [part], sha256, md5 = plan_parts(entry, PART)
    assert part.sha256 == sha256 == hashlib.sha256(data).hexdigest()
    assert part.md5 == md5 == hashlib.md5(data).hexdigest()


def test_parts_hashed_side_by_side_notice_a_file_that_shrank(tmp_path: Path) -> None:
    path = tmp_path / "model.ifc"
    entry = write_file(path, 3 * PART)
    listed = FileEntry(entry.path, entry.rel, entry.size + PART, entry.mtime_ns)
    with pytest.raises(FileChanged):
        plan_parts(listed, PART, whole_sha256=False, md5=False)


def test_a_content_digest_is_of_the_kind_the_state_keeps(tmp_path: Path) -> None:
    path = tmp_path / "model.ifc"
    entry = write_file(path, 2 * PART + 7)
    data = path.read_bytes()
    assert content_digest(entry, None) == hashlib.md5(data).hexdigest()
    assert content_digest(entry, "0" * 32) == hashlib.md5(data).hexdigest()
    # Cut as the state's digest was: the parts' SHA-256s, the binary digests hashed in order.
    cut = [data[:PART], data[PART : 2 * PART], data[2 * PART :]]
    composite = hashlib.sha256(b"".join(hashlib.sha256(b).digest() for b in cut)).hexdigest()
    like = parts_digest(PART, ["ab" * 32])
    assert content_digest(entry, like) == f"sha256-parts:{PART}:{composite}-3"
    # Another part size gives another digest for the same bytes.
    other = content_digest(entry, parts_digest(8 * MIB, ["ab" * 32]))
    assert other.startswith(f"sha256-parts:{8 * MIB}:") and other.endswith("-2")
    listed = FileEntry(entry.path, entry.rel, entry.size + PART, entry.mtime_ns)
    with pytest.raises(FileChanged):
        content_digest(listed, like)  # shorter than listed


def test_a_content_digest_notices_a_file_that_grew(tmp_path: Path) -> None:
    path = tmp_path / "model.ifc"
    entry = write_file(path, 2 * PART + 7)
    like = content_digest(entry, parts_digest(PART, ["ab" * 32]))
    with path.open("ab") as f:  # after the walk listed it, before the digest is compared
        f.write(b"appended")
    os.utime(path, ns=(entry.mtime_ns, entry.mtime_ns))  # even with the mtime put back
    with pytest.raises(FileChanged, match="changed since it was listed"):
        content_digest(entry, like)


SIZE = 3 * PART + 5


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise (macOS)")
@pytest.mark.parametrize(("ram", "forgotten"), [(4 * SIZE - 4096, 4), (4 * SIZE + 4096, 0)])
def test_a_file_bigger_than_a_quarter_of_ram_leaves_the_cache_as_it_is_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ram: int, forgotten: int
) -> None:
    dropped: list[tuple[int, int]] = []
    monkeypatch.setattr(
        "os.posix_fadvise", lambda fd, offset, length, advice: dropped.append((offset, length))
    )
    entry = write_file(tmp_path / "model.ifc", SIZE)
    pages = {"SC_PHYS_PAGES": ram // 4096, "SC_PAGE_SIZE": 4096}
    monkeypatch.setattr("os.sysconf", lambda name: pages[name])
    plan_parts(entry, PART, whole_sha256=False, md5=False)
    expected = [(0, PART), (PART, PART), (2 * PART, PART), (3 * PART, 5)][:forgotten]
    assert sorted(dropped) == expected
    dropped.clear()
    release_part(entry, PART, 2)  # a stored part always leaves the cache
    assert dropped == [(2 * PART, PART)]
