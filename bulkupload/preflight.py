"""Checks before any API call for what Procore refuses or rewrites, so a file it would turn away
gets its manifest line at plan time (dry runs too), never as a failure discovered mid-run.

Sources (Procore support, "Upload Files into a Folder in Procore Drive", procore-drive/documents
tutorials): with "Strict File Upload" on, uploads of these file types fail (STRICT_EXTENSIONS);
names with characters Windows does not support are shown with "-" in their place; an upload is
at most 50 GB. Windows (and so Procore Drive and Procore's extracts, which rename such files:
support FAQ "What is the File Rename Information file...") refuses `< > : " / \\ | ? *` and
control characters in names and paths over 260 characters. The sizes each protocol takes (0
bytes for v2.1, 5 GiB for one POST) are the protocols' own check (`protocols.base.select`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import FileProblem
from .models import FileEntry

__all__ = ["STRICT_EXTENSIONS", "BlockedType", "blocked_extensions", "name_notes", "refusal"]

# Procore's list for accounts with "Strict File Upload" enabled.
_STRICT = """
    apk app bat bin cmd com command cpl csh exe gadget inf1 ins inx ipa isu job jse ksh lnk msc
    msi msp mst osx out paf pif prg ps1 reg rgs run sct shb shs u3p vb vbe vbs vbscript workflow
    ws wsf
"""
STRICT_EXTENSIONS = frozenset(_STRICT.split())

_WINDOWS_REFUSES = re.compile(r'[<>:"\\|?*\x00-\x1f]')
MAX_NAME = 255  # characters in one name (Windows, and so Procore Drive)
MAX_PATH = 260  # characters in a whole path on Windows


class BlockedType(FileProblem):
    """The file's type is one the account refuses ("Strict File Upload")."""


def blocked_extensions(given: Iterable[str], *, strict: bool) -> frozenset[str]:
    """The extensions to refuse: Procore's strict list when `strict`, plus any `given` (with
    or without their dot, any case)."""
    own = {e.strip().lower().lstrip(".") for e in given if e.strip()}
    return frozenset(own | (STRICT_EXTENSIONS if strict else set()))


def refusal(entry: FileEntry, blocked: frozenset[str]) -> BlockedType | None:
    """Why Procore would refuse this file outright, or None."""
    if not blocked:
        return None
    _, dot, ext = entry.name.rpartition(".")
    if dot and ext.lower() in blocked:
        return BlockedType(
            f"Procore refuses .{ext.lower()} files with Strict File Upload on: not sent"
        )
    return None


def name_notes(entry: FileEntry, remote_path: str) -> list[str]:
    """What Procore Drive and extracts will show differently (they rename on Windows): the
    file is still sent; these are notes for the summary. `remote_path` is the path the file
    gets in Procore (its folder included)."""
    notes = []
    bad = sorted(set(_WINDOWS_REFUSES.findall(entry.name)))
    if bad:
        shown = " ".join(repr(c)[1:-1] for c in bad)
        notes.append(f"characters Windows refuses ({shown}): Procore Drive shows them as '-'")
    if entry.name != entry.name.rstrip(" ."):
        notes.append("ends in a space or a dot, which Windows drops")
    if len(entry.name) > MAX_NAME:
        notes.append(f"a name of {len(entry.name)} characters (Windows takes {MAX_NAME})")
    if len(remote_path) > MAX_PATH:
        notes.append(
            f"a path of {len(remote_path)} characters in Procore (Windows takes {MAX_PATH}): "
            "Procore Drive and extracts rename it"
        )
    return notes
