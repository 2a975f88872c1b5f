"""v2.1 uploads as the emulator keeps them: an upload and its parts, the statuses it goes through,
and the store that deletes an upload for good 24 h after creation unless something associated it."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bulkupload.emulator.checksums import Digest
from bulkupload.emulator.core import Clock, PartSpec

from .remote import PartStore, RemoteObject

# The reference's status words (the tutorial's `complete` is only a way of showing SCANNING).
READY, RECEIVING, SCANNING = "ready", "receiving", "scanning"
AVAILABLE, FAILED = "available", "failed"
OPEN = frozenset({READY, RECEIVING})  # parts may still arrive; a status GET renews their URLs
UNASSOCIATED_LIFETIME = 24 * 3600  # PDM: associate within 24 h of creation or it is deleted


@dataclass(slots=True)
class Part:
    """One segment of Create's body, and the bytes last PUT for it (a file of their own)."""

    spec: PartSpec
    etag: str | None = None  # MD5 hex of the last bytes stored, unquoted
    path: str | None = None


@dataclass(frozen=True, slots=True)
class UploadError:
    """The status answer's `error` once an upload failed."""

    type: str
    message: str
    retryable: bool  # whether a new upload of the same file may succeed

    def as_json(self) -> dict[str, object]:
        return {"type": self.type, "message": self.message, "retryable": self.retryable}


@dataclass(slots=True)
class AssembledObject:
    """The object a completed upload became: its parts' files, in order, with the digests of the
    whole (None until the admin listing asks, unless completion computed them). Nothing joins
    the files into one: that copy of every byte is no part of what S3 or Procore make a client
    wait for, and nothing here needs the object as one file."""

    pieces: tuple[str, ...]
    size: int
    md5: str | None
    sha256: str | None


@dataclass(slots=True)
class Folding:
    """The whole file's MD5 and SHA-256 fed with the parts in order as they arrive (see
    `folding`), so that completion hashes only what was not folded in yet."""

    md5: Digest = field(default_factory=hashlib.md5)
    sha256: Digest = field(default_factory=hashlib.sha256)
    folded: int = 0  # parts[:folded] are in the digests
    claimed: int = 0  # parts[:claimed] are in them or being read by the job in flight
    # A claimed part was PUT again or could not be read, or the upload is going: the digests
    # may not describe the upload's bytes, so nothing more is folded and completion (if any)
    # hashes from the start.
    stale: bool = False
    task: asyncio.Task[None] | None = None  # the upload's one fold job in flight
    waiting: int = 0  # completions (PATCH) waiting for that job to end


@dataclass(slots=True)
class UnifiedUpload:
    """One Create answer and what became of it."""

    upload_id: str
    owner: str  # Identity.client_id of the creator: the only one who may use it
    company_id: int
    project_id: int | None
    created: float  # Clock time
    expires_at: int  # Unix s (`upload_expires_at`): deleted then unless associated
    file_name: str
    file_size: int
    content_type: str
    uploader_tool_name: str | None
    custom_metadata: dict[str, object]
    sha256: str | None  # of the whole file, when Create gave one
    md5: str | None
    parts: list[Part]
    status: str = READY
    error: UploadError | None = None
    stored: AssembledObject | None = None  # set once the completing PATCH checked the parts
    folding: Folding = field(default_factory=Folding)
    scan_polls_left: int = 0  # status GETs still answered `scanning`
    scan_verdict: UploadError | None = None  # decided at completion, shown when the scan ends
    # Set by Document Management when it links this upload (a file_upload_id); nothing sets it
    # yet. An associated upload is never deleted.
    associated_to: str | None = None
    remote: RemoteObject | None = None  # where S3 keeps the parts, when a real S3 does
    completing: asyncio.Future[None] | None = None  # a PATCH completing it in S3 (`remote`)

    @property
    def parts_received(self) -> int:
        return sum(part.etag is not None for part in self.parts)


class UnifiedStore:
    """Every v2.1 upload of one emulator, and the secret its part URLs are signed with."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.uploads: dict[str, UnifiedUpload] = {}
        self.secret = os.urandom(32)
        # A real S3 that keeps the parts (`--storage seaweedfs`), else the emulator keeps them.
        self.remote: PartStore | None = None
        # Fold jobs in flight (asyncio keeps only weak references to tasks); awaited at shutdown.
        self.folds: set[asyncio.Task[None]] = set()
        # Creation order is deadline order (one lifetime, a clock that only moves on), so
        # deletion looks only at the oldest: no scan of every upload per request.
        self._deadlines: deque[tuple[int, str]] = deque()

    def add(self, upload: UnifiedUpload) -> None:
        self.uploads[upload.upload_id] = upload
        self._deadlines.append((upload.expires_at, upload.upload_id))

    def find(self, upload_id: str) -> UnifiedUpload | None:
        """The upload, unless it never existed or has been deleted."""
        self.sweep()
        return self.uploads.get(upload_id)

    def sweep(self) -> None:
        """Delete, with their bytes, the uploads left unassociated past their deadline."""
        now = self.clock.now()
        while self._deadlines and self._deadlines[0][0] <= now:
            _, upload_id = self._deadlines.popleft()
            upload = self.uploads.get(upload_id)
            if upload is not None and upload.associated_to is None:
                del self.uploads[upload_id]
                self.discard(upload)

    def discard(self, upload: UnifiedUpload) -> None:
        """Remove the upload's bytes: stored parts, or the object's pieces (or S3's object)."""
        if upload.remote is not None and self.remote is not None:
            self.remote.discard(upload.remote, completed=upload.stored is not None)
        discard_files(upload)


def discard_files(upload: UnifiedUpload) -> None:
    """Remove what the upload holds on disk: stored parts, or the object's pieces."""
    upload.folding.stale = True  # a fold job in flight stops after its files
    pieces = upload.stored.pieces if upload.stored else ()
    remove_files([*(part.path for part in upload.parts), *pieces])


def remove_files(paths: Iterable[str | None]) -> None:
    """Unlink each file named (quick, so done on the loop: the emulator is no client)."""
    for path in paths:
        if path is not None:
            Path(path).unlink(missing_ok=True)
