"""What a run walks: every SOURCE, named as the user would expect, minus bulkupload's own files.

One SOURCE directory uploads its contents (paths relative to it). Several SOURCEs each keep their
own name as a top folder, as `cp -r a b dest/` or `s5cmd cp a b s3://…` do, so two trees cannot
collide. The manifest, state, report and log files of this run are never uploaded, even when they
live inside SOURCE (the default manifest does, with `bulkupload .`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

from .config import Settings
from .errors import ConfigError
from .models import SkippedEntry, WalkItem
from .walk import walk

OWN_FILE = "skipped: bulkupload's own manifest, state, report or log file"


def source_prefixes(sources: tuple[str, ...]) -> list[str]:
    """The top folder each SOURCE gets ("" for a single SOURCE or a file SOURCE)."""
    if len(sources) == 1:
        return [""]
    prefixes = []
    for source in sources:
        name = os.path.basename(os.path.normpath(source))
        prefixes.append(name if os.path.isdir(source) else "")
    names = [os.path.basename(os.path.normpath(s)) for s in sources]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ConfigError(
            f"several SOURCEs are called {', '.join(clashes)!s}: their files would land in the "
            "same Documents folder; upload them in separate runs or rename one"
        )
    return prefixes


def own_files(settings: Settings) -> frozenset[str]:
    paths: list[object] = [settings.manifest, settings.report, settings.log_file]
    state = str(settings.state)
    paths += [state, f"{state}-wal", f"{state}-shm", f"{state}-journal", f"{state}.lock"]
    return frozenset(os.path.abspath(str(p)) for p in paths if p is not None)


def walk_sources(settings: Settings) -> Iterator[WalkItem]:
    """Every item of every SOURCE, in order, with rels as they will appear in Procore."""
    own = own_files(settings)
    for source, prefix in zip(settings.sources, source_prefixes(settings.sources), strict=True):
        for item in walk(
            [source],
            include=settings.include,
            exclude=settings.exclude,
            follow_symlinks=settings.follow_symlinks,
        ):
            if prefix:
                item = replace(item, rel=f"{prefix}/{item.rel}")
            if not isinstance(item, SkippedEntry) and os.path.abspath(item.path) in own:
                item = SkippedEntry(path=item.path, rel=item.rel, reason=OWN_FILE)
            yield item
