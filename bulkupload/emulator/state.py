"""Everything one running emulator knows (`EmulatorState` at `app[STATE_KEY]`) and what it counts.

The state is built from the shared records (`core`) and holds the Documents store and the v2.1
uploads store; they need only the clock (and v1 uploads), so they import nothing from here.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields

from aiohttp import web

from .core import Clock, StoredObject, UploadRecord
from .documents.store import DocumentsStore
from .unified.model import UnifiedStore
from .unified.remote import PartStore


class EmulatorState:
    """Everything the emulator knows; one per running emulator, stored at `app[STATE_KEY]`.

    The API middleware authenticates every `/rest/` and `/vapid/` request and sets
    `request["identity"]` (an `Identity`) and `request["company_id"]` (int, from the
    `Procore-Company-Id` header) before any route handler runs.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.uploads: dict[str, UploadRecord] = {}
        self.upload_keys: dict[tuple[str, str], str] = {}  # (bucket, key) -> uuid
        self.objects: dict[tuple[str, str], StoredObject] = {}
        self.counters = Counters()
        # Set when storage is external (SeaweedFS): `storage_sync` lists every object (for the
        # admin views), `storage_lookup` finds one (for an API call that names an upload).
        self.storage_sync: Callable[[], Awaitable[None]] | None = None
        self.storage_lookup: Callable[[str, str], Awaitable[StoredObject | None]] | None = None
        self._sync_lock: asyncio.Lock | None = None
        self._synced_from = float("-inf")  # when the last finished sync started (monotonic)
        self.documents = DocumentsStore(self.clock, self.uploads)
        self.unified = UnifiedStore(self.clock)  # v2.1 uploads: a store of their own

    @property
    def part_store(self) -> PartStore | None:
        """The real S3 that keeps v1.1 segments and v2.1 parts (`--storage seaweedfs`), by its
        own presigned UploadPart URLs; None when the emulator keeps them itself."""
        return self.unified.remote

    async def sync_storage(self) -> None:
        """Bring `objects` and each upload's `stored` up to date (a no-op for local storage):
        for the admin views, which show every object; an API call looks up only its upload.

        A listing costs the bucket's size, so concurrent callers share one: a caller whose
        request came before a finished listing began is served by it (what it stored before
        asking is in it) and lists nothing itself."""
        if self.storage_sync is None:
            return
        asked = time.monotonic()
        if self._sync_lock is None:
            self._sync_lock = asyncio.Lock()
        async with self._sync_lock:
            if self._synced_from >= asked:
                return
            started = time.monotonic()
            await self.storage_sync()
            self._synced_from = started

    async def look_up_stored(self, uuid: str | None) -> None:
        """Learn whether upload `uuid` reached external storage before a file version takes
        it: one lookup of its key, which costs the same however full the bucket is (a no-op
        for local storage, where the storage POST itself records what it stored)."""
        record = self.uploads.get(uuid) if uuid else None
        if record is None or record.stored is not None or self.storage_lookup is None:
            return
        stored = await self.storage_lookup(record.bucket, record.key)
        if stored is not None and record.stored is None:
            self.objects[(stored.bucket, stored.key)] = stored
            record.stored = stored

    def find_upload(self, uuid: str) -> UploadRecord | None:
        return self.uploads.get(uuid)

    def add_upload(self, record: UploadRecord) -> None:
        self.uploads[record.uuid] = record
        self.upload_keys[(record.bucket, record.key)] = record.uuid

    def find_upload_by_key(self, bucket: str, key: str) -> UploadRecord | None:
        uuid = self.upload_keys.get((bucket, key))
        return None if uuid is None else self.uploads.get(uuid)


@dataclass(slots=True)
class Counters:
    """What tests and benchmarks may count; served by `GET /_emulator/counters`."""

    api_calls: int = 0
    api_calls_by_route: Counter[str] = field(default_factory=Counter)
    oauth_calls: int = 0
    rate_limited: int = 0
    storage_requests: int = 0
    storage_authorization_headers: int = 0
    storage_success: int = 0
    # Storage requests being answered now, and the most at any one time (a concurrency bound).
    storage_in_flight: int = 0
    storage_peak_in_flight: int = 0
    storage_errors: Counter[str] = field(default_factory=Counter)  # by S3 error code
    faults_injected: Counter[str] = field(default_factory=Counter)
    v21_status_polls: int = 0  # v2.1 status GETs answered 200 (each one a poll of the scan)

    def as_json(self) -> dict[str, object]:
        return {
            "api_calls": self.api_calls,
            "api_calls_by_route": dict(self.api_calls_by_route),
            "oauth_calls": self.oauth_calls,
            "rate_limited": self.rate_limited,
            "storage_requests": self.storage_requests,
            "storage_authorization_headers": self.storage_authorization_headers,
            "storage_success": self.storage_success,
            "storage_in_flight": self.storage_in_flight,
            "storage_peak_in_flight": self.storage_peak_in_flight,
            "storage_errors": dict(self.storage_errors),
            "faults_injected": dict(self.faults_injected),
            "v21_status_polls": self.v21_status_polls,
        }

    def reset(self) -> None:
        fresh = Counters()
        for spec in fields(self):
            setattr(self, spec.name, getattr(fresh, spec.name))


# The aiohttp AppKey under which the running app keeps its EmulatorState.

STATE_KEY: web.AppKey[EmulatorState] = web.AppKey("emulator_state", EmulatorState)
