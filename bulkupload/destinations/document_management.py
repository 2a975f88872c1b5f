"""Procore's Document Management tool: each file becomes a revision, described by metadata from
the folder tree (`bulkupload.metadata`), placed in batches of up to 100.

Per batch: one call creates the document uploads, one PATCH links each stored v2.1 upload and
sets its fields and `COMPLETED`, one call reads every `latest_event_id`, one call submits the
revisions; with the v2.1 create and complete per file, a fresh run costs about 2.04 API calls a
file. Each per-item outcome is read: a 207 `failed` or silently dropped id is tried once more,
then fails alone; a submit failure is retried when Procore says so (CONCURRENCY_CONFLICT: a
fresh event id) and otherwise fails alone; a request-level refusal is narrowed to the items it
concerns by halving the batch. Each document upload is recorded in the state before it is used,
so a run killed at any step finishes with it next time and never makes a second revision.
"""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import anyio

from bulkupload.errors import ApiError, TargetUnusable
from bulkupload.messages import Planned, Slot, Stored
from bulkupload.metadata import FileMetadata, MetadataResolver
from bulkupload.models import FileResult, Target
from bulkupload.procore.pdm import BATCH, DocumentUploadUpdate, PdmApi
from bulkupload.procore.remote import remote_name
from bulkupload.procore.unified import DONE
from bulkupload.results import failed_before_sending, unplaced

from .pdm_submit import DAY, Submitter, submitted

__all__ = [
    "DocumentJournal",
    "DocumentManagement",
    "PdmSlot",
    "Ready",
    "Setup",
    "metadata_error",
]


@dataclass(frozen=True, slots=True)
class Ready:
    """What placing into a project's Document Management needs from its catalog: the metadata
    resolver, and (reason, status value id) that ends a conflicting workflow, when asked to."""

    resolver: MetadataResolver
    termination: tuple[str, str] | None = None


Setup = Callable[[], Awaitable[Ready]]


class DryRunChecker(Protocol):
    """Where a dry run's verdict on each file's metadata goes (`pdm_setup.DryRunCheck`)."""

    async def add(self, outcome: FileMetadata) -> None: ...


class DocumentJournal(Protocol):
    """Where the document uploads made for stored files are recorded before they are used."""

    async def document_uploads_made(self, made: Sequence[tuple[str, str]]) -> None: ...


@dataclass(frozen=True, slots=True)
class PdmSlot(Slot):
    """A file's metadata, resolved and checked: the `fields` of its update PATCH."""

    fields: tuple[Mapping[str, object], ...]
    file_name: str
    mime_type: str


def metadata_error(outcome: FileMetadata) -> str:
    """One line for a file whose metadata is not ready: every problem, in order."""
    return "metadata: " + "; ".join(str(p) for p in outcome.problems)


class DocumentManagement:
    """Places stored v2.1 uploads as revisions in the project's Document Management."""

    name = "document management"
    max_batch = BATCH
    api_calls_per_file = 4 / BATCH  # for the plan's estimate
    api_calls_per_folder = 0.0
    linger = 2.0  # a batch waits this long to fill: full batches keep calls per file near 2
    places = True
    deadline = DAY  # a v2.1 upload not linked within a day is deleted
    uploader_tool = "document_management"

    def __init__(
        self,
        pdm: PdmApi,
        setup: Setup,
        target: Target,
        journal: DocumentJournal,
    ) -> None:
        """`setup` reads the project's catalog (a few calls): the first file to locate awaits
        it, so a run with nothing to send makes no API call."""
        self.pdm, self.journal = pdm, journal
        self._setup = setup
        self._ready: Ready | None = None
        self._lock = anyio.Lock()
        self.state_key = self.key_for(target)
        self.sent_keys: tuple[str, ...] = ()
        # A dry run checks every file's metadata and reports; set by `pdm_setup`.
        self.check: DryRunChecker | None = None

    async def _termination(self) -> tuple[str, str] | None:
        return (await self.ready()).termination

    async def ready(self) -> Ready:
        """The metadata resolver and the workflow termination, set up once, when first needed."""
        async with self._lock:
            if self._ready is None:
                self._ready = await self._setup()
            return self._ready

    @property
    def resolver(self) -> MetadataResolver | None:
        """The resolver, once a file has needed it."""
        return self._ready.resolver if self._ready is not None else None

    @property
    def checks_in_dry_run(self) -> bool:
        return True

    @staticmethod
    def key_for(target: Target) -> str:
        """The state's key for a project's Document Management."""
        return f"{target.key}/document-management"

    async def locate(self, item: Planned) -> Planned | FileResult:
        outcome = await (await self.ready()).resolver.resolve(item.entry.rel)
        if self.check is not None:
            await self.check.add(outcome)
        if not outcome.ok:
            return failed_before_sending(item, metadata_error(outcome))
        name = remote_name(item.entry.name)
        mime = mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
        fields = tuple(dict(f) for f in outcome.update_fields())
        return replace(item, slot=PdmSlot(fields, name, mime))

    async def resume(self, item: Planned) -> FileResult | None:
        """Bytes stored by an earlier run, maybe with their document upload: finish them."""
        row = item.prior
        if row is None or item.resume is None or row.expires_at is None:
            return None
        if row.expires_at <= time.time():
            return None  # Procore deleted the bytes (or the document upload): send again
        # Procore's clock is the one that counts: bytes it no longer has are sent again.
        held = await self.pdm.stored_file(item.resume)
        if held is None or held.status != DONE:
            return None
        stored = Stored(item, item.resume, row.md5 or "", row.attempts, 0.0, row.expires_at)
        [result] = await self.place([stored], made={item.entry.rel: row.document_upload_id})
        return result

    async def place(
        self, batch: Sequence[Stored], *, made: dict[str, str | None] | None = None
    ) -> list[FileResult]:
        """Every stored upload of `batch` as a revision; one result each, in order. `made`: the
        document uploads an earlier run made for some of them (by rel)."""
        outcomes: dict[str, FileResult] = {}
        made = made or {}
        ids = await self._document_uploads(batch, made)
        resumed = {ids[rel] for rel, earlier in made.items() if earlier}
        expired: list[Stored] = []
        live = await self._complete(batch, ids, outcomes, resumed=resumed, expired=expired)
        submitter = Submitter(self.pdm, ids, outcomes, resumed, self._termination)
        await submitter.run(live)
        if expired:  # document uploads an earlier run made and Procore deleted: new ones
            for stored, result in zip(expired, await self.place(expired), strict=True):
                outcomes[stored.item.entry.rel] = result
        return [outcomes[s.item.entry.rel] for s in batch]

    async def _document_uploads(
        self, batch: Sequence[Stored], made: dict[str, str | None]
    ) -> dict[str, str]:
        """A document upload per file: the one an earlier run made, else a new one (recorded
        before use; a create whose answer was lost leaves orphans Procore never shows)."""
        ids = {rel: upload_id for rel, upload_id in made.items() if upload_id}
        fresh = [s for s in batch if s.item.entry.rel not in ids]
        if fresh:
            slots = [_slot(s) for s in fresh]
            try:
                new = await self.pdm.create_uploads([(s.file_name, s.mime_type) for s in slots])
            except ApiError as exc:
                if exc.status != 403:
                    raise
                raise TargetUnusable(
                    "these credentials may not create document uploads in this project's "
                    f"Document Management ('Upload New Files'): {exc.message}"
                ) from exc
            pairs = [(s.item.entry.rel, upload_id) for s, upload_id in zip(fresh, new, strict=True)]
            await self.journal.document_uploads_made(pairs)
            ids.update(pairs)
        return ids

    async def _complete(
        self,
        batch: Sequence[Stored],
        ids: dict[str, str],
        outcomes: dict[str, FileResult],
        *,
        resumed: set[str],
        expired: list[Stored],
    ) -> list[Stored]:
        """The PATCH: each upload linked to its bytes, its fields set, COMPLETED; an id that
        failed or was dropped is sent once more. Returns the files ready to submit; those whose
        earlier document upload Procore deleted go to `expired`."""
        todo = list(batch)
        for attempt in (1, 2):
            updates = [
                DocumentUploadUpdate(ids[s.item.entry.rel], s.upload_id, _slot(s).fields)
                for s in todo
            ]
            outcome = await self.pdm.update_uploads(updates)
            again = []
            for stored in todo:
                upload_id = ids[stored.item.entry.rel]
                if upload_id in outcome.success:
                    continue
                if attempt == 1:
                    again.append(stored)
                elif upload_id in outcome.dropped and upload_id in resumed:
                    # Made by an earlier run and unknown to Procore now: submitted by that
                    # run, or deleted unsubmitted after a day (then made again).
                    state = await self.pdm.document_upload_state(upload_id)
                    if state == "expired":
                        expired.append(stored)
                        outcomes[stored.item.entry.rel] = unplaced(
                            stored, "its document upload expired", lifetime=DAY
                        )  # until made again below
                    else:
                        outcomes[stored.item.entry.rel] = submitted(stored, upload_id, None)
                else:
                    why = outcome.failed.get(upload_id, "unknown to Procore (dropped from the 207)")
                    outcomes[stored.item.entry.rel] = unplaced(
                        stored, f"Procore refused the document upload: {why}", lifetime=DAY
                    )
            todo = again
            if not todo:
                break
        return [s for s in batch if s.item.entry.rel not in outcomes]


def _slot(stored: Stored) -> PdmSlot:
    slot = stored.item.slot
    if not isinstance(slot, PdmSlot):
        raise TypeError(f"{stored.item.entry.display_rel}: placed before it was located")
    return slot
