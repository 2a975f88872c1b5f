"""The walk: what a user sees for each kind of thing found under a SOURCE."""

from __future__ import annotations

import functools
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import anyio
import anyio.to_thread
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulkupload.config import Credentials, Settings, Target
from bulkupload.models import FileEntry, SkippedEntry, WalkItem
from bulkupload.pipeline.walking import walk_in_batches
from bulkupload.walk import PathFilter, walk


def make(root: Path, *rels: str, data: bytes = b"x") -> None:
    for rel in rels:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def files(items: list[WalkItem]) -> list[str]:
    return [item.rel for item in items if isinstance(item, FileEntry)]


def skipped(items: list[WalkItem]) -> dict[str, SkippedEntry]:
    return {item.rel: item for item in items if isinstance(item, SkippedEntry)}


def test_tree_is_walked_depth_first_in_name_order(tmp_path: Path) -> None:
    make(tmp_path, "b.txt", "a/z.txt", "a/c/d.txt", "a/b.txt", "c.txt")
    items = list(walk([str(tmp_path)]))
    assert files(items) == ["a/b.txt", "a/c/d.txt", "a/z.txt", "b.txt", "c.txt"]
    first = items[0]
    assert isinstance(first, FileEntry)
    assert first.path == str(tmp_path / "a" / "b.txt")
    assert first.size == 1
    assert first.mtime_ns == (tmp_path / "a" / "b.txt").stat().st_mtime_ns


def test_file_source_uses_its_name_and_sources_keep_their_order(tmp_path: Path) -> None:
    make(tmp_path, "one/x.pdf", "single.dwg")
    items = list(walk([str(tmp_path / "single.dwg"), str(tmp_path / "one")]))
    assert files(items) == ["single.dwg", "x.pdf"]


def test_missing_source_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    make(tmp_path, "ok.txt")
    items = list(walk([str(tmp_path / "nope"), str(tmp_path)]))
    assert files(items) == ["ok.txt"]
    (miss,) = skipped(items).values()
    assert miss.failed
    assert "source not found" in miss.reason


def test_exclude_prunes_a_directory_as_one_item(tmp_path: Path) -> None:
    make(tmp_path, "keep.txt", "build/a.o", "build/deep/b.o", "x.log")
    items = list(walk([str(tmp_path)], exclude=["build/", "*.log"]))
    assert files(items) == ["keep.txt"]
    skips = skipped(items)
    assert set(skips) == {"build/", "x.log"}
    assert skips["build/"].reason == "excluded by --exclude 'build/'"
    assert skips["x.log"].reason == "excluded by --exclude '*.log'"
    assert not any(s.failed for s in skips.values())


def test_exclude_negation_reincludes_a_file(tmp_path: Path) -> None:
    make(tmp_path, "a.log", "keep.log", "sub/keep.log")
    items = list(walk([str(tmp_path)], exclude=["*.log", "!keep.log"]))
    assert files(items) == ["keep.log", "sub/keep.log"]


def test_include_keeps_only_matching_files_and_accounts_for_the_rest(tmp_path: Path) -> None:
    make(tmp_path, "plans/a.pdf", "plans/a.dwg", "b.PDF", "notes.txt")
    items = list(walk([str(tmp_path)], include=["*.pdf", "*.PDF"]))
    assert files(items) == ["b.PDF", "plans/a.pdf"]
    skips = skipped(items)
    assert set(skips) == {"notes.txt", "plans/a.dwg"}
    assert all(s.reason == "not matched by --include" for s in skips.values())


def test_exclude_wins_over_include() -> None:
    path_filter = PathFilter(include=["*.pdf"], exclude=["drafts/"])
    assert path_filter.excluded("drafts", is_dir=True) == "excluded by --exclude 'drafts/'"
    assert path_filter.excluded("final/a.pdf") is None
    assert path_filter.excluded("drafts", is_dir=False) == "not matched by --include"


def test_special_files_are_skipped_with_their_kind(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    sock_path = tmp_path / "s.sock"
    if len(os.fsencode(sock_path)) > 100:  # AF_UNIX path limit
        pytest.skip("tmp path too long for a unix socket")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        items = list(walk([str(tmp_path)]))
    skips = skipped(items)
    assert skips["pipe"].reason == "skipped: FIFO (named pipe)"
    assert skips["s.sock"].reason == "skipped: socket"
    assert not skips["pipe"].failed


def test_device_file_is_skipped() -> None:
    if not Path("/dev/null").exists():
        pytest.skip("no /dev/null")
    (item,) = list(walk(["/dev/null"]))
    assert isinstance(item, SkippedEntry)
    assert item.reason == "skipped: character device"


def test_symlinks_are_not_followed_by_default(tmp_path: Path) -> None:
    make(tmp_path, "real/f.txt")
    (tmp_path / "link_dir").symlink_to(tmp_path / "real")
    (tmp_path / "link_file").symlink_to(tmp_path / "real" / "f.txt")
    items = list(walk([str(tmp_path)]))
    assert files(items) == ["real/f.txt"]
    skips = skipped(items)
    assert set(skips) == {"link_dir", "link_file"}
    assert all(s.reason == "symlink not followed (use --follow-symlinks)" for s in skips.values())
    assert not any(s.failed for s in skips.values())


def test_follow_symlinks_walks_targets_and_reports_loops(tmp_path: Path) -> None:
    make(tmp_path, "real/f.txt")
    (tmp_path / "real" / "up").symlink_to(tmp_path)  # points to an ancestor
    (tmp_path / "link_dir").symlink_to(tmp_path / "real")
    (tmp_path / "broken").symlink_to(tmp_path / "missing")
    (tmp_path / "self").symlink_to(tmp_path / "self")
    items = list(walk([str(tmp_path)], follow_symlinks=True))
    assert files(items) == ["link_dir/f.txt", "real/f.txt"]
    skips = skipped(items)
    assert set(skips) == {"link_dir/up", "real/up", "broken", "self"}
    assert all(s.failed for s in skips.values())
    assert skips["real/up"].reason == "symlink loop: real/up points to an ancestor directory"
    assert skips["broken"].reason.startswith("broken symlink")
    assert skips["self"].reason.startswith("symlink loop")


def test_unreadable_directory_is_a_failure_and_the_walk_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, which reads mode-000 directories; refuse the listing instead.
    make(tmp_path, "locked/secret.txt", "open/ok.txt")
    real_scandir = os.scandir
    locked = str(tmp_path / "locked")

    def scandir(path: str) -> Iterator[os.DirEntry[str]]:
        if path == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    items = list(walk([str(tmp_path)]))
    assert files(items) == ["open/ok.txt"]
    (locked_item,) = skipped(items).values()
    assert locked_item.rel == "locked/"
    assert locked_item.failed
    assert locked_item.reason == "cannot read directory locked/: permission denied"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read mode-000 directories")
def test_mode_000_directory_is_reported(tmp_path: Path) -> None:
    make(tmp_path, "locked/secret.txt")
    (tmp_path / "locked").chmod(0)
    try:
        items = list(walk([str(tmp_path)]))
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert skipped(items)["locked/"].failed


def test_entries_deleted_during_the_walk_are_reported_as_vanished(tmp_path: Path) -> None:
    make(tmp_path, "a.txt", "b.txt", "c/d.txt")
    gen = walk([str(tmp_path)])
    first = next(gen)
    assert first.rel == "a.txt"
    # The root listing is already taken: these two disappear between scandir and stat.
    (tmp_path / "b.txt").unlink()
    (tmp_path / "c" / "d.txt").unlink()
    (tmp_path / "c").rmdir()
    rest = list(gen)
    assert [(s.rel, s.reason, s.failed) for s in rest if isinstance(s, SkippedEntry)] == [
        ("b.txt", "vanished during walk", False),
        ("c", "vanished during walk", False),
    ]


def test_walk_is_lazy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for d in range(5):
        make(tmp_path, *(f"d{d}/f{i}" for i in range(3)))
    listed: list[str] = []
    real_scandir = os.scandir

    def scandir(path: str) -> Iterator[os.DirEntry[str]]:
        listed.append(path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    gen = walk([str(tmp_path)])
    assert next(gen).rel == "d0/f0"
    assert listed == [str(tmp_path), str(tmp_path / "d0")]


def test_deep_tree_does_not_hit_the_recursion_limit(tmp_path: Path) -> None:
    deep = str(tmp_path)
    for _ in range(1200):  # mkdir(parents=True) itself recurses, so build it level by level
        deep += "/d"
        Path(deep).mkdir()
    Path(deep, "f").write_bytes(b"")
    try:
        (item,) = list(walk([str(tmp_path)]))
        assert item.rel == "/".join(["d"] * 1200 + ["f"])
    finally:
        # pytest's recursive tmp cleanup would hit the recursion limit: unwind it here.
        Path(deep, "f").unlink()
        while deep != str(tmp_path):
            Path(deep).rmdir()
            deep = deep[: -len("/d")]


def test_odd_names_and_bytes_source(tmp_path: Path) -> None:
    names = ["with space.txt", "quote'\".txt", "new\nline.txt", "emoji 🏗.pdf", "ü.txt"]
    make(tmp_path, *names)
    raw = os.fsencode(tmp_path) + b"/caf\xe9.txt"
    with open(raw, "wb") as fh:
        fh.write(b"abc")
    items = list(walk([str(tmp_path)]))
    rels = files(items)
    assert sorted(rels) == sorted([*names, "caf\udce9.txt"])
    bad = next(i for i in items if isinstance(i, FileEntry) and i.rel == "caf\udce9.txt")
    assert bad.display_rel == "caf\\xe9.txt"
    with open(bad.path, "rb") as fh:
        assert fh.read() == b"abc"


_name_bytes = st.binary(min_size=1, max_size=40).filter(
    lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b"..")
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(_name_bytes, min_size=1, max_size=8, unique=True),
    subdir=st.sampled_from([b"", b"sub/", b"\xff\xfe dir/"]),
)
def test_every_file_appears_once_with_its_exact_name(names: list[bytes], subdir: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = os.fsencode(tmp)
        if subdir:
            Path(os.fsdecode(root + b"/" + subdir)).mkdir()
        for name in names:
            with open(root + b"/" + subdir + name, "wb") as fh:
                fh.write(name)
        items = list(walk([tmp]))
        assert all(isinstance(i, FileEntry) for i in items)
        expected = sorted(os.fsdecode(subdir + n) for n in names)
        assert sorted(files(items)) == expected
        for item in items:
            assert isinstance(item, FileEntry)
            with open(item.path, "rb") as fh:
                assert fh.read() == os.fsencode(item.rel).rsplit(b"/", 1)[-1]
            item.display_rel.encode("utf-8")  # always printable as UTF-8


def test_symlinked_sources_are_followed_and_broken_ones_reported(tmp_path: Path) -> None:
    make(tmp_path, "real/f.txt")
    (tmp_path / "via").symlink_to(tmp_path / "real")
    (tmp_path / "dangling").symlink_to(tmp_path / "missing")
    items = list(walk([str(tmp_path / "via"), str(tmp_path / "dangling")]))
    assert files(items) == ["f.txt"]
    (broken,) = skipped(items).values()
    assert broken.failed
    assert broken.reason.startswith("broken symlink")


def test_io_error_on_a_directory_names_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def scandir(path: str) -> Iterator[os.DirEntry[str]]:
        raise OSError(5, "Input/output error", path)

    monkeypatch.setattr(os, "scandir", scandir)
    (item,) = list(walk([str(tmp_path)]))
    assert isinstance(item, SkippedEntry)
    assert item.failed
    assert item.reason == f"cannot read directory {tmp_path}: Input/output error"


async def test_the_first_walk_batch_is_small_so_uploads_start_early(tmp_path: Path) -> None:
    for i in range(50):
        (tmp_path / f"f{i:02d}").write_bytes(b"x")
    settings = Settings(
        sources=(str(tmp_path),),
        target=Target("project", 42),
        company_id=1,
        credentials=Credentials(access_token="t"),
    )
    stage = SimpleNamespace(settings=settings, control=SimpleNamespace(stopping=False))
    sizes: list[int] = []

    async def deliver(batch: list[WalkItem]) -> None:
        sizes.append(len(batch))

    walk_all = functools.partial(walk_in_batches, first=16)
    assert await anyio.to_thread.run_sync(walk_all, stage, 20, deliver)
    assert sizes == [16, 20, 14]
