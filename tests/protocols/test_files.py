"""Reading local files: every OS error becomes this file's problem, with a line a user can read."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from bulkupload.errors import FileChanged, FileUnreadable, FileVanished
from bulkupload.protocols.files import file_md5, read_errors, restat, verify_unchanged
from tests.protocols.conftest import entry_for, write_file


def test_md5_of_a_whole_file(tmp_path: Path) -> None:
    entry = write_file(tmp_path / "f.bin", 3 * (1 << 20) + 5)
    assert file_md5(entry) == hashlib.md5((tmp_path / "f.bin").read_bytes()).hexdigest()
    small = write_file(tmp_path / "small.bin", 1000)
    assert (
        file_md5(small, chunk_size=7)
        == hashlib.md5((tmp_path / "small.bin").read_bytes()).hexdigest()
    )


def test_vanished_file_for_checksum_is_this_files_problem(tmp_path: Path) -> None:
    entry = write_file(tmp_path / "gone.txt", 10)
    (tmp_path / "gone.txt").unlink()
    with pytest.raises(FileVanished, match=r"^gone.txt: no longer exists$"):
        file_md5(entry)


def test_directory_for_checksum_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(FileUnreadable, match=r"^d: Is a directory$"):
        file_md5(entry_for(tmp_path / "d"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_by_permission_for_checksum(tmp_path: Path) -> None:
    entry = write_file(tmp_path / "secret", 10)
    (tmp_path / "secret").chmod(0)
    with pytest.raises(FileUnreadable, match=r"^secret: Permission denied$"):
        file_md5(entry)


def test_read_errors_names_the_file_and_keeps_the_cause(tmp_path: Path) -> None:
    entry = write_file(tmp_path / "f", 1)
    with pytest.raises(FileUnreadable) as info, read_errors(entry):
        raise OSError(5, "Input/output error")
    assert str(info.value) == "f: Input/output error"
    assert isinstance(info.value.__cause__, OSError)
    with read_errors(entry):  # anything else passes through untouched
        pass
    with pytest.raises(ValueError, match="not ours"), read_errors(entry):
        raise ValueError("not ours")


def test_changes_since_listing_are_seen(tmp_path: Path) -> None:
    path = tmp_path / "f"
    entry = write_file(path, 10)
    verify_unchanged(entry, "during upload")
    path.write_bytes(b"x" * 11)
    with pytest.raises(FileChanged, match=r"^f: changed during upload \(size 10 -> 11\)$"):
        verify_unchanged(entry, "during upload")
    path.unlink()
    with pytest.raises(FileVanished):
        verify_unchanged(entry, "during upload")


def test_restat_gives_the_file_as_it_is_now(tmp_path: Path) -> None:
    path = tmp_path / "f"
    entry = write_file(path, 10)
    path.write_bytes(b"x" * 12)
    fresh = restat(entry)
    assert (fresh.path, fresh.rel, fresh.size) == (entry.path, entry.rel, 12)
    assert fresh.mtime_ns == path.stat().st_mtime_ns
    path.unlink()
    with pytest.raises(FileChanged, match="changed during upload and now unreadable"):
        restat(entry)
