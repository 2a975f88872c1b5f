"""The frozen messages that flow between the stages of an upload run.

    walk ─FileEntry─▶ plan ─Planned─▶ locate + prepare ─Ticket─▶ send ─Stored─▶ place ─▶ record
                        │                  │                      │               │
                        └────────────── FileResult (skipped, failed, placed) ─────┴─▶ record

Each stage makes a new message from the one it received (`dataclasses.replace`), never edits it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import FileEntry
from .state import StateRow, TransferRow

__all__ = ["Planned", "Slot", "Stored", "Ticket"]


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a destination will put one file; each destination says more in a subclass."""


@dataclass(frozen=True, slots=True)
class Planned:
    """A file to send (or to place from bytes already stored), with what the state knew.

    `md5`, the content digest (an MD5 or a parts digest, `bulkupload.digests`), is set when it
    was computed (`--checksum`, a touched file) and never computed again; `resume` is the
    upload id of this very content stored by an earlier run and never placed; `slot` is filled
    in by the destination's `locate`; `transfer` is an upload an earlier run left half sent.
    """

    entry: FileEntry
    prior: StateRow | None
    started_at: str
    md5: str | None = None
    resume: str | None = None
    slot: Slot | None = None
    transfer: TransferRow | None = None


@dataclass(frozen=True, slots=True)
class Ticket:
    """Just-in-time instructions for sending one file; each protocol subclasses it with its
    own payload. `created` is `time.monotonic()` when Procore gave them."""

    item: Planned
    protocol: str
    created: float


@dataclass(frozen=True, slots=True)
class Stored:
    """The file's bytes are in storage as upload `upload_id`, not yet placed.

    `attempts` counts every storage attempt for this file; `stored_at` is `time.time()`;
    `expires_at`, when the protocol knows it, is when Procore deletes the upload if it is not
    placed (else the destination's own deadline counts from `stored_at`); `sent`, the file
    bytes this run moved when that is not the whole file (parts an earlier run stored).
    """

    item: Planned
    upload_id: str
    md5: str
    attempts: int
    stored_at: float
    expires_at: float | None = None
    sent: int | None = None
