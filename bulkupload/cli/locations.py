"""Where a command keeps its state and manifests when not told: per destination, in the user's
state directory, so the same command finds the same state from any working directory.

    $XDG_STATE_HOME (or ~/.local/state; ~/Library/Application Support on macOS;
    %LOCALAPPDATA% on Windows) / bulkupload / project-42-documents-Drawings-1a2b3c4d /
        state.sqlite
        manifests/2026-12-01T021500.jsonl          one per run, the last KEEP_RUNS kept
        manifests/2026-12-01T013000-dry-run.jsonl  a dry run's, never a real run's name
        manifests/latest.txt                       the name of the last real run's manifest

`latest.txt` is a plain text pointer (no symbolic link, so it works the same on Windows):
`bulkupload attach` reads it to find the manifest of the upload it follows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError
from ..models import Target

__all__ = [
    "LEGACY_MANIFEST",
    "LEGACY_STATE",
    "Destination",
    "known_states",
    "manifest_for_run",
    "newest_matching",
    "state_home",
]

APP = "bulkupload"
MANIFESTS = "manifests"
LATEST = "latest.txt"
KEEP_RUNS = 30  # manifests of real runs kept in a destination's folder (and as many dry runs)
# The defaults of earlier versions, relative to the working directory: still used when found.
LEGACY_STATE = Path(".bulkupload") / "state.sqlite"
LEGACY_MANIFEST = Path("bulkupload-manifest.jsonl")
PLACEHOLDERS = ("{date}", "{time}")
_RUN_NAME = re.compile(r"\d{4}-\d\d-\d\dT\d{6}(-\d+)?(-dry-run)?\.jsonl")


def state_home(env: Mapping[str, str]) -> Path:
    """The user's state directory: `XDG_STATE_HOME` when set (on any platform), else the
    platform's place for data that is not configuration and not a cache."""
    if xdg := env.get("XDG_STATE_HOME"):
        return Path(xdg)
    if sys.platform == "win32":
        local = env.get("LOCALAPPDATA")
        return Path(local) if local else Path.home() / "AppData" / "Local"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Application Support"
    return home / ".local" / "state"


class Destination:
    """Where files land (target, folder, destination kind): the key of the default state."""

    def __init__(self, target: Target, folder: str, to: str, env: Mapping[str, str]) -> None:
        self.target, self.folder, self.to = target, folder.strip("/"), to
        self.home = state_home(env)

    @property
    def name(self) -> str:
        """`project-42-documents`, plus a readable form and a digest of the folder."""
        name = f"{self.target.kind}-{self.target.id}-{self.to}"
        if self.folder:
            readable = re.sub(r"[^A-Za-z0-9._-]+", "_", self.folder)[:40].strip("_.")
            digest = hashlib.sha256(self.folder.encode("utf-8", "surrogateescape")).hexdigest()
            name += f"-{readable}-{digest[:8]}" if readable else f"-{digest[:8]}"
        return name

    @property
    def directory(self) -> Path:
        return self.home / APP / self.name

    @property
    def state(self) -> Path:
        return self.directory / "state.sqlite"

    @property
    def manifests(self) -> Path:
        return self.directory / MANIFESTS

    def latest_manifest(self) -> Path | None:
        """The last real run's manifest, as `latest.txt` names it (None: no run yet)."""
        try:
            name = (self.manifests / LATEST).read_text(encoding="utf-8").strip()
        except OSError:
            return None
        path = self.manifests / name
        return path if name and path.is_file() else None

    def remember(self, manifest: Path) -> None:
        """Point `latest.txt` at `manifest` (written whole, then renamed: never half a name),
        and keep only the last KEEP_RUNS manifests of each kind."""
        pointer = self.manifests / LATEST
        tmp = pointer.with_name(LATEST + ".tmp")
        tmp.write_text(manifest.name + "\n", encoding="utf-8")
        tmp.replace(pointer)
        prune(self.manifests)


def prune(folder: Path, keep: int = KEEP_RUNS) -> None:
    """Delete the oldest run manifests beyond `keep` real and `keep` dry runs (only the names
    this module gives; whatever else a user put there stays)."""
    names = sorted(p.name for p in folder.iterdir() if _RUN_NAME.fullmatch(p.name))
    for dry in (False, True):
        mine = [name for name in names if name.endswith("-dry-run.jsonl") == dry]
        for name in mine[:-keep]:
            (folder / name).unlink(missing_ok=True)


def run_manifest_name(now: dt.datetime, *, dry_run: bool) -> str:
    return now.strftime("%Y-%m-%dT%H%M%S") + ("-dry-run" if dry_run else "") + ".jsonl"


def expand(path: Path, now: dt.datetime) -> Path:
    """`{date}` → 2026-12-01 and `{time}` → 021500 (the run's start, local time)."""
    text = str(path).replace("{date}", now.strftime("%Y-%m-%d"))
    return Path(text.replace("{time}", now.strftime("%H%M%S")))


def dry_run_name(path: Path) -> Path:
    """`m.jsonl` → `m-dry-run.jsonl`: a dry run never writes over a real run's manifest."""
    return path.with_name(f"{path.stem}-dry-run{path.suffix}")


def manifest_for_run(
    explicit: Path | None, destination: Destination, *, dry_run: bool, now: dt.datetime
) -> Path:
    """This run's manifest: `--manifest` with its placeholders filled in, or a new file in the
    destination's manifests folder; a dry run's has a name of its own."""
    if explicit is not None:
        path = expand(explicit, now)
        return dry_run_name(path) if dry_run else path
    folder = destination.manifests
    path = folder / run_manifest_name(now, dry_run=dry_run)
    n = 1
    while path.exists():  # two runs in one second: both kept
        n += 1
        stem = now.strftime("%Y-%m-%dT%H%M%S") + f"-{n}" + ("-dry-run" if dry_run else "")
        path = folder / f"{stem}.jsonl"
    return path


def newest_matching(pattern: Path) -> Path:
    """The newest real run's manifest that `pattern` (with `{date}`/`{time}`) names."""
    text = str(pattern)
    for placeholder in PLACEHOLDERS:
        text = text.replace(placeholder, "*")
    folder, glob = Path(text).parent, Path(text).name
    found = sorted(
        (p for p in folder.glob(glob) if p.is_file() and not p.stem.endswith("-dry-run")),
        key=lambda p: (p.stat().st_mtime, p.name),
    )
    if not found:
        raise ConfigError(f"no manifest matches {pattern} (from --manifest)")
    return found[-1]


def known_states(env: Mapping[str, str]) -> list[Path]:
    """Every default state in the user's state directory, by destination name."""
    root = state_home(env) / APP
    if not root.is_dir():
        return []
    return sorted(p / "state.sqlite" for p in root.iterdir() if (p / "state.sqlite").is_file())


def has_placeholder(path: Path) -> bool:
    return any(placeholder in os.fspath(path) for placeholder in PLACEHOLDERS)
