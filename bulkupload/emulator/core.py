"""Shared records of the emulator: the virtual clock, identities, uploads and stored objects.

Every part of the emulator (API, storage, Documents, admin) reads time from one `Clock`, so tests
can advance it (`/_emulator/clock`) to expire policies, tokens and week-old unattached uploads.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .documents.store import DocumentsStore


class Clock:
    """Wall-clock time plus an offset that tests can advance."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated OAuth client: one identity owns the uploads it creates."""

    client_id: str


@dataclass(slots=True)
class StoredObject:
    """Bytes that arrived at storage (kept on disk, described here)."""

    bucket: str
    key: str
    size: int
    md5: str
    path: str


@dataclass(slots=True)
class UploadRecord:
    """One Create Upload answer and what became of it."""

    uuid: str
    owner: str  # Identity.client_id
    company_id: int
    project_id: int | None
    created: float  # Clock.now() at creation
    expires: float  # policy expiration (Clock time)
    bucket: str
    key: str
    response_filename: str | None
    size_hint: int | None = None
    stored: StoredObject | None = None  # set when the storage POST succeeded
    attached_to: int | None = None  # Documents file id, once attached
    segments: list[dict[str, object]] = field(default_factory=list)

    @property
    def used(self) -> bool:
        return self.stored is not None


UNATTACHED_LIFETIME = 7 * 24 * 3600.0  # Procore deletes unattached uploads after one week


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
        # Set when storage is external (SeaweedFS): refreshes `objects` and `UploadRecord.stored`.
        self.storage_sync: Callable[[], Awaitable[None]] | None = None
        # Imported here, not at the top: the Documents store builds on this module's records.
        from .documents.store import DocumentsStore

        self.documents: DocumentsStore = DocumentsStore(self)

    async def sync_storage(self) -> None:
        """Bring `objects` and each upload's `stored` up to date (a no-op for local storage)."""
        if self.storage_sync is not None:
            await self.storage_sync()

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
        }

    def reset(self) -> None:
        fresh = Counters()
        for spec in fields(self):
            setattr(self, spec.name, getattr(fresh, spec.name))


# The aiohttp AppKey under which the running app keeps its EmulatorState.

STATE_KEY: web.AppKey[EmulatorState] = web.AppKey("emulator_state", EmulatorState)
