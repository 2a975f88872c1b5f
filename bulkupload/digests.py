"""The content digest the state and the manifest keep of a file: its MD5, or for a v2.1 upload,
a digest of its parts' SHA-256s (a file of one part, up to 100 MiB, as if cut in parts of
100 MiB: one part, its SHA-256).

The parts' SHA-256s are what Procore's v2.1 Create requires and what storage checks on every
part, so they are computed before the first byte anyway, side by side on every core. A whole-
file MD5 on top runs through the file in one line (about 0.9 GiB/s on one core, no CPU
instruction for it): at 20 GiB it was the end of the run. So such a file is known by
`sha256-parts:<part size>:<SHA-256 of the parts' binary SHA-256s>-<parts>`, as S3's composite
checksums are; the part size is in it because the same bytes cut otherwise give another one.
A later run that must compare contents (`--checksum`, a touched file) cuts the file the same way.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from bulkupload.config import MAX_PART, MIN_PART

__all__ = ["PARTS_SCHEME", "manifest_digest", "parts_digest", "parts_size", "split_digest"]

PARTS_SCHEME = "sha256-parts"

_PARTS = re.compile(rf"{PARTS_SCHEME}:([1-9][0-9]*):[0-9a-f]{{64}}-[1-9][0-9]*")


def parts_digest(part_size: int, sha256s: Sequence[str]) -> str:
    """The digest of a file cut in parts of `part_size` (the last may be shorter) whose
    SHA-256s, hex, in order, are `sha256s`."""
    if part_size < 1 or not sha256s:
        raise ValueError("a parts digest needs a part size and at least one part")
    combined = hashlib.sha256(b"".join(bytes.fromhex(s) for s in sha256s)).hexdigest()
    return f"{PARTS_SCHEME}:{part_size}:{combined}-{len(sha256s)}"


def parts_size(digest: str | None) -> int | None:
    """The part size of a parts digest; None for an MD5, nothing, or anything else (a part size
    v2.1 never cuts, over 5 MiB and at most 100 MiB, included: a digest read back from an edited
    manifest must not make a later run hash a file a byte at a time)."""
    found = _PARTS.fullmatch(digest or "")
    size = int(found.group(1)) if found else 0
    return size if MIN_PART < size <= MAX_PART else None


def split_digest(digest: str | None) -> tuple[str | None, str | None]:
    """(md5, parts_sha256) as the manifest and the report show a digest: the one it is, the
    other None."""
    if parts_size(digest) is not None:
        return None, digest
    return digest, None


def manifest_digest(record: Mapping[str, Any]) -> str | None:
    """The digest a manifest line keeps, whichever field holds it (`split_digest` undone)."""
    for key in ("md5", "parts_sha256"):
        value = record.get(key)
        if isinstance(value, str) and value:
            return value
    return None
