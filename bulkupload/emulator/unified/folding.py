"""The whole file's digests that Create gave for a v2.1 upload (MD5, SHA-256, both optional),
computed while its parts arrive, to be checked at completion. An upload given neither is not
read again: its parts were each checked as they came.

Parts come in any order; each one stored lets the upload's running digests take in (fold) the
parts that now follow the folded ones without a gap, read back from their files by one background
executor job per upload at a time (digests need the bytes in order, so jobs never overlap). The
completing PATCH then hashes only what is not folded yet, usually the last few parts, instead of
the whole file after the last byte arrived: real storage does not make a client wait for that.
An upload of one part needs no folding at all: its PUT computed both digests of the whole.

A part PUT again after it was claimed for folding makes the running digests stale (they took in
bytes the upload no longer holds); completion then hashes every part from the start. Parts must
match the SHA-256 Create gave, so the bytes cannot really differ; the emulator does not bet on it.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from pathlib import Path

from aiohttp import web

from bulkupload.emulator.part_bodies import hash_files
from bulkupload.emulator.state import STATE_KEY

from .model import UnifiedStore, UnifiedUpload

# What one fold job reads at most (a fraction of a second): a stale mark or a shutdown waits
# no longer than that for the job in flight.
JOB_BYTES = 256 * 1024 * 1024


def part_stored(store: UnifiedStore, upload: UnifiedUpload, index: int, *, replaced: bool) -> None:
    """Part `index` has new bytes on disk (`replaced`: other bytes had been stored for it)."""
    folding = upload.folding
    if replaced and index < folding.claimed:
        folding.stale = True
    _start(store, upload)


async def whole_digests(store: UnifiedStore, upload: UnifiedUpload) -> dict[str, str]:
    """The object's digests (hex) by name, those Create gave at least, once every part is
    stored and none may change."""
    parts = upload.parts
    if len(parts) == 1 and parts[0].etag is not None:
        # Its PUT checked both: the ETag is the MD5 of the bytes, whose SHA-256 is the one given.
        return {"md5": parts[0].etag, "sha256": parts[0].spec.sha256}
    names = wanted(upload)
    if not names:
        return {}
    if store.remote is not None and upload.remote is not None:
        return await store.remote.digests(upload.remote, names)  # S3 has the bytes: read back
    folding = upload.folding
    _start(store, upload)  # every part is there: the job takes in all that is left
    if folding.task is not None:
        # Shielded: cancelling this PATCH must not cancel the job, whose thread would go on
        # feeding the digests while a new job fed them too.
        folding.waiting += 1
        try:
            await asyncio.shield(folding.task)
        finally:
            folding.waiting -= 1
    if folding.stale or folding.folded < len(parts):
        paths = [Path(str(part.path)) for part in parts]
        return await digests_of(paths, names)
    return {name: getattr(folding, name).digest().hex() for name in names}


async def digests_of(paths: list[Path], names: tuple[str, ...]) -> dict[str, str]:
    """The named digests of the files' bytes in order, read in an executor."""
    digests = [hashlib.new(name) for name in names]
    await asyncio.get_running_loop().run_in_executor(None, hash_files, paths, digests)
    return {name: digest.hexdigest() for name, digest in zip(names, digests, strict=True)}


async def fill_digests(store: UnifiedStore) -> None:
    """Both digests of every completed object, for the admin listings: completion computed only
    those Create gave; the rest are computed once, here."""
    for upload in list(store.uploads.values()):
        stored = upload.stored
        if stored is None or (stored.md5 is not None and stored.sha256 is not None):
            continue
        try:
            if store.remote is not None and upload.remote is not None:
                found = await store.remote.digests(upload.remote, ("md5", "sha256"))
            else:
                found = await digests_of([Path(p) for p in stored.pieces], ("md5", "sha256"))
        except (OSError, web.HTTPException):  # deleted meanwhile (a failed scan, the deadline)
            continue
        stored.md5, stored.sha256 = found["md5"], found["sha256"]


def wanted(upload: UnifiedUpload) -> tuple[str, ...]:
    """The whole-file digests Create gave, MD5 first (the slowest: `hash_files` gives it a
    thread of its own)."""
    return tuple(name for name in ("md5", "sha256") if getattr(upload, name) is not None)


async def stop_folding(app: web.Application) -> None:
    """On shutdown: let each job in flight end after its files, before the data dir goes."""
    store = app[STATE_KEY].unified
    for upload in store.uploads.values():
        upload.folding.stale = True
    await asyncio.gather(*store.folds, return_exceptions=True)


def _start(store: UnifiedStore, upload: UnifiedUpload) -> None:
    """Start the upload's fold job unless one runs (it looks for more parts before it ends)."""
    folding = upload.folding
    # A single part needs no folding: its PUT computed both digests of the whole.
    if folding.task is None and len(upload.parts) > 1 and wanted(upload) and _ready(upload):
        task = asyncio.get_running_loop().create_task(_fold(upload))
        folding.task = task
        store.folds.add(task)
        task.add_done_callback(store.folds.discard)


def _ready(upload: UnifiedUpload) -> list[Path]:
    """The files of the stored parts that follow the claimed ones without a gap, up to about
    JOB_BYTES (one part at least)."""
    folding, parts = upload.folding, upload.parts
    paths: list[Path] = []
    if folding.stale:
        return paths
    size = 0
    for part in itertools.islice(parts, folding.claimed, None):
        if part.path is None or size >= JOB_BYTES:
            break
        paths.append(Path(part.path))
        size += part.spec.size
    return paths


async def _fold(upload: UnifiedUpload) -> None:
    """Take parts into the running digests while there are some to take, then end."""
    folding = upload.folding
    loop = asyncio.get_running_loop()
    digests = [getattr(folding, name) for name in wanted(upload)]
    try:
        while paths := _ready(upload):
            folding.claimed += len(paths)
            try:
                await loop.run_in_executor(None, hash_files, paths, digests)
            except OSError:
                # A part replaced (its old file removed) or the upload deleted mid-read: the
                # digests took in part of a file, so they are of no use any more.
                folding.stale = True
                return
            folding.folded = folding.claimed
    finally:
        folding.task = None
