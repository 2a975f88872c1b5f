"""Builds local trees for end-to-end tests and reads back what the emulator stored."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

ODD_NAMES = [
    "with space.txt",
    'quote\'s "double".txt',
    "accents éàü ñ.pdf",
    "emoji 🏗️📐.dwg",
    "semi;colon & amp=eq.txt",
    "UPPER lower.TXT",
    "tab\tin name.txt",
]


def write(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.md5(data).hexdigest()


def make_tree(root: Path, files: int, *, seed: int = 7, big: int = 0) -> dict[str, str]:
    """A nested tree of `files` small files (some empty, some oddly named); rel → MD5.

    `big` adds one file of that many bytes at `big/model.ifc`. A non-UTF-8 name is included
    (its rel uses surrogate escapes, like bulkupload's own).
    """
    rng = __import__("random").Random(seed)
    expected: dict[str, str] = {}
    for i in range(files):
        depth = i % 4
        parts = [f"level{d}-{(i // (d + 2)) % 3}" for d in range(depth)]
        name = ODD_NAMES[i % len(ODD_NAMES)] if i % 25 == 0 else f"file {i:05d}.bin"
        if i % 25 == 0:
            name = f"{i}-{name}"
        rel = "/".join([*parts, name])
        size = 0 if i % 50 == 1 else rng.randint(1, 20_000)
        expected[rel] = write(root / rel, rng.randbytes(size))
    raw = os.fsencode(root) + b"/caf\xe9-latin1.txt"
    with open(raw, "wb") as fh:
        fh.write(b"latin-1 named file")
    expected[os.fsdecode(b"caf\xe9-latin1.txt")] = hashlib.md5(b"latin-1 named file").hexdigest()
    if big:
        digest = hashlib.md5()
        path = root / "big" / "model.ifc"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            block = rng.randbytes(1 << 20)
            left = big
            while left:
                chunk = block[: min(left, len(block))]
                fh.write(chunk)
                digest.update(chunk)
                left -= len(chunk)
        expected["big/model.ifc"] = digest.hexdigest()
    return expected


def read_manifest(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def manifest_rel(record: dict[str, Any]) -> str:
    """The rel of a manifest record, exact bytes restored when the name was not UTF-8."""
    if "path_bytes_b64" in record:
        import base64

        return os.fsdecode(base64.b64decode(record["path_bytes_b64"]))
    return str(record["path"])


def stored_md5_by_uuid(emulator: Any) -> dict[str, str]:
    """upload uuid → MD5 of the bytes the emulator's storage holds for it."""
    by_key = {(o["bucket"], o["key"]): o["md5"] for o in emulator.objects()}
    by_key_only = {o["key"]: o["md5"] for o in emulator.objects()}
    found: dict[str, str] = {}
    for upload in emulator.uploads():
        md5 = by_key.get((upload.get("bucket"), upload["key"])) or by_key_only.get(upload["key"])
        if md5 is not None:
            found[upload["uuid"]] = md5
    return found
