"""Shared records of the emulator: the virtual clock, identities, uploads and stored objects.

Every part of the emulator (API, storage, Documents, admin) reads time from one `Clock`, so tests
can advance it (`/_emulator/clock`) to expire policies, tokens and week-old unattached uploads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a type only: the unified package imports this module
    from .unified.remote import RemoteObject


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


@dataclass(frozen=True, slots=True)
class PartSpec:
    """What Create Upload was told about one part of a segmented upload (hex, lower case)."""

    size: int
    sha256: str
    md5: str | None


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
    remote: RemoteObject | None = None  # where a real S3 keeps the segments, when one does

    @property
    def used(self) -> bool:
        return self.stored is not None

    def deleted_at(self, now: float) -> bool:
        """Whether Procore has deleted this upload by `now`: left unattached for a week."""
        return self.attached_to is None and now - self.created > UNATTACHED_LIFETIME


UNATTACHED_LIFETIME = 7 * 24 * 3600.0  # Procore deletes unattached uploads after one week
