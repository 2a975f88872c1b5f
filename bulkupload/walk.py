"""SOURCE → FileEntry: a lazy, sorted, depth-first walk with gitignore-style filters.

Every entry the walk meets is accounted for: regular files become `FileEntry`, everything
else (filtered out, special files, symlinks, unreadable directories) a `SkippedEntry` with a
one-line reason, so the manifest can explain each file that was not uploaded.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bulkupload.models import FileEntry, SkippedEntry, WalkItem, printable

if TYPE_CHECKING:
    import pathspec

__all__ = ["PathFilter", "walk"]

SYMLINK_NOT_FOLLOWED = "symlink not followed (use --follow-symlinks)"
VANISHED = "vanished during walk"
NOT_INCLUDED = "not matched by --include"

_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "FIFO (named pipe)"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISCHR, "character device"),
)


class PathFilter:
    """The `--include` / `--exclude` patterns, gitignore syntax, matched on `/`-separated rels.

    Directories are checked with a trailing `/`, so a pattern like `build/` prunes only
    directories, and `*.tmp` can prune a directory named `x.tmp` as git would.
    """

    def __init__(self, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> None:
        self._exclude_patterns = list(exclude)
        # Compiled once: compiling per entry would dominate the walk of a million files.
        self._include = _spec(include)
        self._exclude = _spec(exclude)

    def excluded(self, rel: str, *, is_dir: bool = False) -> str | None:
        """Why `rel` is filtered out (one line), or None when it is kept."""
        key = rel + "/" if is_dir else rel
        if self._exclude is not None:
            result = self._exclude.check_file(key)
            if result.include and result.index is not None:
                return f"excluded by --exclude {self._exclude_patterns[result.index]!r}"
        # Directories are never dropped by --include: a pattern like `*.pdf` can match below them.
        if self._include is not None and not is_dir and not self._include.match_file(key):
            return NOT_INCLUDED
        return None


def _spec(patterns: Sequence[str]) -> pathspec.GitIgnoreSpec | None:
    if not patterns:
        return None
    import pathspec  # here: most runs filter nothing (start-up time)

    return pathspec.GitIgnoreSpec.from_lines(list(patterns))


def walk(
    sources: Sequence[str],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    follow_symlinks: bool = False,
) -> Iterator[WalkItem]:
    """Yield every file under each SOURCE, depth-first, entries sorted by name.

    A directory SOURCE gives rels relative to itself; a file SOURCE gives its own name.
    SOURCE arguments themselves are always followed if they are symlinks (like `find -H`).
    Only one directory listing is held at a time per level of the current descent path,
    so memory is bounded by depth × widest directory, never by the tree size.
    Per-entry problems become `SkippedEntry` items; this generator does not raise for them.
    """
    path_filter = PathFilter(include=include, exclude=exclude)
    for source in sources:
        yield from _walk_source(os.fsdecode(source), path_filter, follow_symlinks)


def _walk_source(source: str, path_filter: PathFilter, follow: bool) -> Iterator[WalkItem]:
    try:
        st = Path(source).stat()
    except FileNotFoundError:
        reason = (
            f"broken symlink: {printable(source)} points to a missing target"
            if Path(source).is_symlink()
            else f"source not found: {printable(source)}"
        )
        yield SkippedEntry(path=source, rel=source, reason=reason, failed=True)
        return
    except OSError as exc:
        reason = f"cannot read source {printable(source)}: {exc.strerror or exc}"
        yield SkippedEntry(path=source, rel=source, reason=reason, failed=True)
        return

    if stat.S_ISDIR(st.st_mode):
        yield from _walk_tree(source, st, path_filter, follow)
        return
    name = Path(source).name or source
    yield from _classify(source, name, st, path_filter)


def _classify(
    path: str, rel: str, st: os.stat_result, path_filter: PathFilter
) -> Iterator[WalkItem]:
    """A non-directory entry with its stat: a FileEntry, or a SkippedEntry saying why not."""
    reason = path_filter.excluded(rel)
    if reason is not None:
        yield SkippedEntry(path=path, rel=rel, reason=reason)
    elif stat.S_ISREG(st.st_mode):
        yield FileEntry(
            path=path, rel=rel, size=st.st_size, mtime_ns=st.st_mtime_ns, dev=st.st_dev,
            readable=_may_read(path, st),
        )  # fmt: skip
    else:
        kind = next((label for test, label in _SPECIAL_KINDS if test(st.st_mode)), "unknown type")
        yield SkippedEntry(path=path, rel=rel, reason=f"skipped: {kind}")


def _may_read(path: str, st: os.stat_result) -> bool:
    """Whether this process may read the file. Its mode bits granting us read settle it with
    no system call; only a file they do not (rare) is asked about with access(), which knows
    capabilities (root) and ACLs: an unchanged tree on a network share pays nothing more."""
    ids = _our_ids()
    if ids is None:  # no POSIX ids (Windows): reading will tell
        return True
    uid, gids = ids
    mode = st.st_mode
    if mode & stat.S_IROTH or (st.st_uid == uid and mode & stat.S_IRUSR):
        return True
    if st.st_gid in gids and mode & stat.S_IRGRP:
        return True
    if os.access in os.supports_effective_ids:
        return os.access(path, os.R_OK, effective_ids=True)
    return os.access(path, os.R_OK)


@functools.cache
def _our_ids() -> tuple[int, frozenset[int]] | None:
    if not hasattr(os, "geteuid"):
        return None
    return os.geteuid(), frozenset((os.getegid(), *os.getgroups()))


@dataclass
class _Level:
    """One directory on the descent path: its sorted listing and where we are in it."""

    rel_prefix: str
    entries: Iterator[os.DirEntry[str]]
    dir_id: tuple[int, int]


def _walk_tree(
    root: str, root_st: os.stat_result, path_filter: PathFilter, follow: bool
) -> Iterator[WalkItem]:
    # An explicit stack instead of recursion: deep trees must not hit the recursion limit.
    listing = yield from _list_dir(root, "")
    stack = [_Level("", iter(listing), (root_st.st_dev, root_st.st_ino))]
    while stack:
        level = stack[-1]
        entry = next(level.entries, None)
        if entry is None:
            stack.pop()
            continue
        rel = level.rel_prefix + entry.name
        is_link = entry.is_symlink()
        if is_link and not follow:
            why = path_filter.excluded(rel) or SYMLINK_NOT_FOLLOWED
            yield SkippedEntry(path=entry.path, rel=rel, reason=why)
            continue
        try:
            # For plain entries this is the lstat scandir already paid for; for followed
            # symlinks it is the one stat of the target.
            st = entry.stat(follow_symlinks=follow)
        except OSError as exc:
            yield _stat_failure(entry, rel, is_link, exc)
            continue
        if not stat.S_ISDIR(st.st_mode):
            yield from _classify(entry.path, rel, st, path_filter)
            continue
        reason = path_filter.excluded(rel, is_dir=True)
        if reason is not None:
            # One item per pruned directory, not per file inside: we never look inside it.
            yield SkippedEntry(path=entry.path, rel=rel + "/", reason=reason)
            continue
        dir_id = (st.st_dev, st.st_ino)
        if is_link and any(dir_id == above.dir_id for above in stack):
            reason = f"symlink loop: {printable(rel)} points to an ancestor directory"
            yield SkippedEntry(path=entry.path, rel=rel, reason=reason, failed=True)
            continue
        listing = yield from _list_dir(entry.path, rel)
        stack.append(_Level(rel + "/", iter(listing), dir_id))


def _list_dir(path: str, rel: str) -> Generator[WalkItem, None, list[os.DirEntry[str]]]:
    """One directory's entries sorted by name (returned); yields a SkippedEntry if unreadable."""
    shown = rel + "/" if rel else path  # the SOURCE itself is shown as given
    try:
        with os.scandir(path) as it:
            return sorted(it, key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        yield SkippedEntry(path=path, rel=shown, reason=VANISHED)
    except PermissionError:
        reason = f"cannot read directory {printable(shown)}: permission denied"
        yield SkippedEntry(path=path, rel=shown, reason=reason, failed=True)
    except OSError as exc:
        reason = f"cannot read directory {printable(shown)}: {exc.strerror or exc}"
        yield SkippedEntry(path=path, rel=shown, reason=reason, failed=True)
    return []


def _stat_failure(entry: os.DirEntry[str], rel: str, is_link: bool, exc: OSError) -> SkippedEntry:
    if is_link and exc.errno == errno.ELOOP:
        reason = f"symlink loop: {printable(rel)} cannot be resolved (too many levels)"
        return SkippedEntry(path=entry.path, rel=rel, reason=reason, failed=True)
    if isinstance(exc, FileNotFoundError):
        if is_link and os.path.lexists(entry.path):
            try:
                target = printable(str(Path(entry.path).readlink()))
            except OSError:
                target = "?"
            reason = f"broken symlink: target {target!r} does not exist"
            return SkippedEntry(path=entry.path, rel=rel, reason=reason, failed=True)
        return SkippedEntry(path=entry.path, rel=rel, reason=VANISHED)
    reason = f"cannot stat {printable(rel)}: {exc.strerror or exc}"
    return SkippedEntry(path=entry.path, rel=rel, reason=reason, failed=True)
