"""A file in parts: how it is cut, hashed in one pass before its upload is created, and how
one part goes to storage. Shared by v1.1 segments and v2.1 unified parts.

Procore asks, at creation, for every part's size and SHA-256; MD5s (each part's, which storage
then checks too, and the whole file's) and the whole file's SHA-256 are optional. One read of
the file computes what is asked, chunk by chunk, before the first byte can go. A file known by
its parts' SHA-256s alone (`bulkupload.digests`) is hashed part by part, side by side. A part
then goes as its own `FileRange` whose last chunk is held back unless it hashes as promised.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import hashlib
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from bulkupload.config import MAX_PART, MIN_PART
from bulkupload.digests import parts_digest, parts_size
from bulkupload.errors import FileChanged, StorageError, UnsupportedFileSize
from bulkupload.models import FileEntry
from bulkupload.state import PartPlan

from .base import Meter, Transport
from .body import OCTETS, FileRange, PlannedDigests
from .files import CHUNK, check_unchanged, file_md5, read_errors
from .storage import send_body

__all__ = [
    "MAX_PARTS",
    "MAX_SIZE",
    "content_digest",
    "hash_parts",
    "part_headers",
    "part_size_for",
    "plan_parts",
    "put_part",
    "release_part",
]

MAX_PARTS = 10_000
MAX_SIZE = MAX_PARTS * MAX_PART  # the largest file v2.1 takes: 10,000 parts of 100 MiB
_MIB = 1 << 20


def part_size_for(size: int, wanted: int) -> int:
    """The part size for a file of `size` bytes: one part up to 100 MiB, else `wanted` grown
    (in whole MiB) until 10,000 parts are enough. UnsupportedFileSize when nothing fits."""
    if size < 1 or size > MAX_SIZE:
        raise UnsupportedFileSize(
            f"v2.1 unified uploads take 1 byte to {MAX_SIZE:,} bytes, not {size:,}"
        )
    if size <= MAX_PART:
        return size
    least = -(-size // MAX_PARTS)
    part = max(wanted, -(-least // _MIB) * _MIB)
    if not MIN_PART < part <= MAX_PART:  # wanted is checked by Settings; this is the grown one
        raise UnsupportedFileSize(f"{size:,} bytes do not fit in {MAX_PARTS:,} parts of 100 MiB")
    return part


def plan_parts(
    entry: FileEntry,
    part_size: int,
    *,
    chunk_size: int = CHUNK,
    stop: threading.Event | None = None,
    whole_sha256: bool = True,
    md5: bool = True,
) -> tuple[list[PartPlan], str, str]:
    """Each part's size, SHA-256 and MD5, then the whole file's SHA-256 and MD5, in one pass;
    "" for a digest not asked for.

    A file of one part has the part's digests as its own (hashed once): its SHA-256 always,
    its MD5 if `md5`. A bigger one has its parts' SHA-256s, the whole file's SHA-256 if
    `whole_sha256`, and all the MD5s (each part's and the whole file's) if `md5`: each digest
    is a chain of its own, in a helper thread (hashlib lets go of the GIL) beside this one,
    which reads and feeds the first. With the parts' SHA-256s alone, parts are hashed side by
    side instead. On 2 cores, 4 GiB: 535 MiB/s with everything, 1.7 GiB/s without the MD5s,
    3.3 GiB/s with the parts' SHA-256s only (SHA-256 has CPU instructions of its own, MD5 none;
    per 4 MiB on one core: 1.9 ms of SHA-256, 4.6 ms of MD5).

    Blocking: run it in a worker thread; it gives up at the next chunk once `stop` is set.
    FileChanged if the file is not as the walk listed it, or changes while it is read.
    """
    if part_size < 1:
        raise ValueError("part_size must be positive")
    if entry.size < 1:
        raise ValueError("a file in parts is not empty")
    with read_errors(entry), open(entry.path, "rb", buffering=0) as f:
        check_unchanged(entry, os.fstat(f.fileno()), "since it was listed")
        if entry.size <= part_size:
            plan = _one_part(f, entry, chunk_size, stop, md5=md5)
            whole = (plan.sha256, plan.md5)
            parts = [plan]
        elif not (whole_sha256 or md5):
            parts, whole = _parts_apart(entry, part_size, chunk_size, stop), ("", "")
            f.seek(entry.size)
        else:
            chains = _chains(whole_sha256=whole_sha256, md5=md5)
            parts, whole = _many_parts(f, entry, part_size, chunk_size, stop, chains)
        if f.read(1):
            raise FileChanged(f"{entry.display_rel}: grew while being hashed")
        check_unchanged(entry, os.fstat(f.fileno()), "while being hashed")
    return parts, whole[0], whole[1]


def content_digest(entry: FileEntry, like: str | None, chunk_size: int = CHUNK) -> str:
    """The file's content digest of the kind `like` is (the state's, `bulkupload.digests`): its
    parts digest, cut as `like` was (the pass before Create, parts' SHA-256s only), or else its
    MD5. Blocking. FileChanged as `plan_parts`."""
    part_size = parts_size(like)
    if part_size is None or entry.size < 1:
        return file_md5(entry, chunk_size)
    parts, _, _ = plan_parts(entry, part_size, chunk_size=chunk_size, whole_sha256=False, md5=False)
    return parts_digest(part_size, [p.sha256 for p in parts])


def _chunks(
    f: BinaryIO, entry: FileEntry, length: int, chunk_size: int, stop: threading.Event | None
) -> Iterator[bytes]:
    """`length` bytes of `f` in chunks; FileChanged when the file ends first."""
    todo = length
    while todo > 0:
        if stop is not None and stop.is_set():
            raise concurrent.futures.CancelledError
        data = f.read(min(chunk_size, todo))
        if not data:
            raise FileChanged(f"{entry.display_rel}: shrank while being hashed")
        todo -= len(data)
        yield data


def _one_part(
    f: BinaryIO, entry: FileEntry, chunk_size: int, stop: threading.Event | None, *, md5: bool
) -> PartPlan:
    digests = [hashlib.sha256(), *([_new("md5")] if md5 else [])]
    for data in _chunks(f, entry, entry.size, chunk_size, stop):
        for digest in digests:
            digest.update(data)
    md5_hex = digests[1].hexdigest() if md5 else ""
    return PartPlan(size=entry.size, sha256=digests[0].hexdigest(), md5=md5_hex)


def _parts_apart(
    entry: FileEntry, part_size: int, chunk_size: int, stop: threading.Event | None
) -> list[PartPlan]:
    """The parts' SHA-256s alone: no digest runs through the whole file, so the parts are
    hashed side by side, one per core, each from a file handle of its own.

    A file bigger than a quarter of RAM leaves each part's pages out of the page cache once
    hashed (`_crowds_cache`): read whole, it would push out everything else cached, its own
    first parts included before they are sent, and growing the cache by that much costs the
    kernel more than reading the part again (20 GiB, sparse: this pass took 21-27 s, 30 s of
    it system CPU, and takes 7 s so).
    """
    offsets = range(0, entry.size, part_size)
    forget = _crowds_cache(entry.size)

    def one(offset: int) -> PartPlan:
        length = min(part_size, entry.size - offset)
        sha = hashlib.sha256()
        with open(entry.path, "rb", buffering=0) as f:
            f.seek(offset)
            for data in _chunks(f, entry, length, chunk_size, stop):
                sha.update(data)
            if forget:
                _forget(f.fileno(), offset, length)
        return PartPlan(size=length, sha256=sha.hexdigest(), md5="")

    workers = min(len(offsets), os.cpu_count() or 1, 4)
    with concurrent.futures.ThreadPoolExecutor(workers, "bulkupload-hash") as pool:
        return list(pool.map(one, offsets))


def _new(name: str) -> Any:
    return hashlib.new(name, usedforsecurity=False)


class _Chain:
    """One digest fed every chunk in order: a fresh one per part (`per_part`), or one for the
    whole file."""

    def __init__(self, name: str, *, per_part: bool) -> None:
        self.name, self.per_part = name, per_part
        self.digest = _new(name)
        self.parts: list[str] = []

    def feed(self, data: bytes) -> None:
        self.digest.update(data)

    def end_part(self) -> None:
        if self.per_part:
            self.parts.append(self.digest.hexdigest())
            self.digest = _new(self.name)


def _chains(*, whole_sha256: bool, md5: bool) -> dict[str, _Chain]:
    """The digests of a file in parts, the first fed by the reading thread itself: with MD5s
    that is the part's MD5 (the slowest), the others each in a helper."""
    chains: dict[str, _Chain] = {}
    if md5:
        chains["part_md5"] = _Chain("md5", per_part=True)
    chains["part_sha256"] = _Chain("sha256", per_part=True)
    if whole_sha256:
        chains["sha256"] = _Chain("sha256", per_part=False)
    if md5:
        chains["md5"] = _Chain("md5", per_part=False)
    return chains


def _many_parts(
    f: BinaryIO,
    entry: FileEntry,
    part_size: int,
    chunk_size: int,
    stop: threading.Event | None,
    chains: dict[str, _Chain],
) -> tuple[list[PartPlan], tuple[str, str]]:
    inline, *helped = chains.values()
    sizes: list[int] = []
    with contextlib.ExitStack() as stack:
        helpers = [
            (stack.enter_context(concurrent.futures.ThreadPoolExecutor(1, "bulkupload-hash")), c)
            for c in helped
        ]
        pending: list[concurrent.futures.Future[None]] = []
        left = entry.size
        while left > 0:
            length = min(part_size, left)
            left -= length
            for data in _chunks(f, entry, length, chunk_size, stop):
                for done in pending:
                    done.result()  # at most one chunk waits for the helpers
                pending = [pool.submit(c.feed, data) for pool, c in helpers]
                inline.feed(data)
            for done in pending:
                done.result()
            pending = []
            sizes.append(length)
            for chain in chains.values():
                chain.end_part()
    shas = chains["part_sha256"].parts
    md5s = chains["part_md5"].parts if "part_md5" in chains else [""] * len(sizes)
    parts = [PartPlan(size=n, sha256=s, md5=m) for n, s, m in zip(sizes, shas, md5s, strict=True)]
    whole = tuple(chains[k].digest.hexdigest() if k in chains else "" for k in ("sha256", "md5"))
    return parts, (whole[0], whole[1])


async def hash_parts(
    transport: Transport,
    entry: FileEntry,
    part_size: int,
    *,
    whole_sha256: bool = True,
    md5: bool = True,
) -> tuple[list[PartPlan], str, str]:
    """`plan_parts` in the run's reader pool; cancelled, the worker stops at its next chunk."""
    stop = threading.Event()
    loop = asyncio.get_running_loop()
    plan = functools.partial(
        plan_parts,
        entry,
        part_size,
        chunk_size=transport.chunk_size,
        stop=stop,
        whole_sha256=whole_sha256,
        md5=md5,
    )
    try:
        return await loop.run_in_executor(transport.reader, plan)
    except BaseException:
        stop.set()
        raise


def part_headers(signed: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers of one part PUT: the signed ones exactly as Procore returned them, plus
    `Content-Type: application/octet-stream` (as Procore's tutorial sends) unless they name one.

    Never an Authorization header: storage gets no credentials, whatever an answer says.
    """
    headers = [(name, value) for name, value in signed if name.lower() != "authorization"]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", OCTETS))
    return headers


async def put_part(
    transport: Transport,
    entry: FileEntry,
    meter: Meter,
    *,
    offset: int,
    plan: PartPlan,
    url: str,
    headers: Sequence[tuple[str, str]],
    slot: bool = True,
) -> str:
    """One attempt at one part: its bytes to `url` with exactly `headers`; its ETag back.
    `slot=False`: not taking one of the run's storage slots (its caller holds one, or the
    URL is about to expire)."""
    body = FileRange(
        entry,
        meter,
        offset=offset,
        length=plan.size,
        planned=PlannedDigests(sha256=plan.sha256, md5=plan.md5),
        reader=transport.reader,
        chunk_size=transport.chunk_size,
        throttle=transport.bandwidth,
        cached=transport.cached_reads,
    )
    receipt = await send_body(
        transport.storage,
        "PUT",
        url,
        body,
        headers=part_headers(headers),
        allow_http=transport.allow_http,
        slots=transport.storage_slots if slot else None,
    )
    if receipt.etag is None:
        body.rewind()
        raise StorageError(receipt.status, "MissingETag", "a part stored without ETag")
    return receipt.etag


def release_part(entry: FileEntry, part_size: int, index: int) -> None:
    """Part `index` of a file cut in parts of `part_size` is stored: its pages leave the page
    cache. A file in parts is read twice (the pass before Create, then each part as it goes),
    and a part sent is not read again; leaving its pages to the kernel's guess would evict those
    of parts not sent yet first (read once, they look colder) when the file is near the size of
    RAM. Best effort: nothing happens without posix_fadvise or when the file cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(entry.path, os.O_RDONLY)
        try:
            _forget(fd, index * part_size, part_size)
        finally:
            os.close(fd)


def _forget(fd: int, offset: int, length: int) -> None:
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


def _crowds_cache(size: int) -> bool:
    """Whether a file this big, read whole, would crowd the page cache: over a quarter of RAM."""
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return False
    return size > memory // 4
