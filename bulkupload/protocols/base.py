"""What every upload protocol offers the pipeline, and how one is chosen for a file.

A protocol turns a planned file into stored bytes in two steps: `prepare` asks Procore for
just-in-time instructions (a `Ticket`), `send` moves the bytes and retries its own transport
unit (a whole POST, or one part) under its named policy. The layers above it are written once,
in the pipeline, for every protocol: fresh instructions when a ticket is `stale` or storage says
it expired, and one more try when the file changed while it was read.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import anyio

from bulkupload.errors import UnsupportedFileSize
from bulkupload.events import BytesMoved, EventBus
from bulkupload.messages import Planned, Stored, Ticket
from bulkupload.procore.client import ApiClient
from bulkupload.protocols.cached import CachedReads
from bulkupload.protocols.throttle import Bandwidth
from bulkupload.retry import Policies
from bulkupload.state import TransferRow

__all__ = ["Meter", "TransferJournal", "Transport", "UploadProtocol", "select"]


@dataclass(frozen=True)
class Transport:
    """What every protocol sends through: the API, a storage session that never carries
    credentials, the run's retry policies and event stream, and the connection rule."""

    api: ApiClient
    storage: aiohttp.ClientSession
    policies: Policies
    events: EventBus
    allow_http: bool = False
    chunk_size: int = 1 << 20
    # Storage requests in flight across the run (POSTs, segment and part PUTs): the global
    # `--concurrency` budget, so one big file's parts use what small files leave free.
    storage_slots: anyio.CapacityLimiter | None = None
    # Where an upload made in parts records its progress, so a later run can resume it.
    journal: TransferJournal | None = None
    # The pool that runs every blocking file call of a transfer (open, stat, read + hash): one
    # job per chunk, so it needs a thread per body being written at once (concurrency × parts
    # in flight per file) or reads queue behind each other. None is the event loop's default
    # executor, min(32, cpu + 4) threads, fewer than the bodies in flight at a high concurrency.
    reader: concurrent.futures.Executor | None = None
    # `--bwlimit`: the bytes per second all storage bodies share.
    bandwidth: Bandwidth | None = None
    # Small local files whose bytes are cached are read on the loop, with no hop to `reader`.
    cached_reads: CachedReads | None = None


class TransferJournal(Protocol):
    """The state store's record of uploads in progress (`state.TransferRow`), written as they
    go: a run killed mid-file leaves what the next one needs to send only the missing parts."""

    async def began(self, rel: str, transfer: TransferRow) -> None:
        """A new upload for `rel` (it replaces an earlier one)."""
        ...

    async def part_stored(self, rel: str, upload_id: str, number: int, etag: str) -> None:
        """Part `number` (0-based) of `upload_id` is stored with `etag`."""
        ...


class Meter:
    """One file's transmission as its protocol reports it: storage attempts, and file bytes on
    the wire, forward as they go and back when an attempt fails (never counted twice)."""

    __slots__ = ("attempts", "events", "net")

    def __init__(self, events: EventBus) -> None:
        self.events = events
        self.attempts = 0
        self.net = 0

    def attempt(self) -> None:
        self.attempts += 1

    def moved(self, size: int) -> None:
        if size:
            self.net += size
            self.events.emit(BytesMoved(size))

    def settle(self) -> None:
        """The transfer is over (stored or failed): its bytes are no longer in flight."""
        self.moved(-self.net)


class UploadProtocol(Protocol):
    """How bytes travel: chosen per file by asking each protocol whether it `accepts` the size."""

    @property
    def name(self) -> str: ...

    @property
    def api_calls(self) -> float:
        """API calls sending one file costs (for the plan's estimate)."""
        ...

    def accepts(self, size: int) -> bool:
        """Whether this protocol can send a file of `size` bytes."""
        ...

    async def prepare(self, item: Planned) -> Ticket:
        """Instructions for sending `item`, made just in time (API calls, hashing if needed)."""
        ...

    def stale(self, ticket: Ticket, now: float) -> bool:
        """Whether `ticket`'s instructions are too old to start sending at `now` (monotonic)."""
        ...

    async def send(self, ticket: Ticket, meter: Meter) -> Stored:
        """Send the file's bytes as `ticket` says, retrying the protocol's own transport unit.

        Raises PolicyExpired (fresh instructions are needed), FileChanged (read it again),
        another FileProblem, StorageError, NetworkError or an ApiError for this file.
        """
        ...


def select(protocols: Sequence[UploadProtocol], size: int) -> UploadProtocol:
    """The first protocol that accepts a file of `size` bytes (s3transfer's resolver chain)."""
    for protocol in protocols:
        if protocol.accepts(size):
            return protocol
    names = ", ".join(p.name for p in protocols)
    raise UnsupportedFileSize(f"no upload protocol takes a file of {size:,} bytes ({names})")
