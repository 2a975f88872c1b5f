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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from bulkupload.errors import ApiError, TargetUnusable
from bulkupload.messages import Planned, Slot, Stored
from bulkupload.metadata import FileMetadata, MetadataResolver
from bulkupload.models import Disposition, FileResult, Placement, Target
from bulkupload.procore.pdm import BATCH, DocumentUploadUpdate, PdmApi
from bulkupload.procore.remote import remote_name
from bulkupload.results import failed, placed, unplaced

__all__ = ["DocumentJournal", "DocumentManagement", "PdmSlot", "metadata_error"]

DAY = 24 * 3600.0
CONFLICT_ROUNDS = 3  # fresh event ids for a CONCURRENCY_CONFLICT, this often at most


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
    linger = 2.0  # a batch waits this long to fill: full batches keep calls per file near 2
    places = True
    deadline = DAY  # a v2.1 upload not linked within a day is deleted
    uploader_tool = "document_management"

    def __init__(
        self,
        pdm: PdmApi,
        resolver: MetadataResolver,
        target: Target,
        journal: DocumentJournal,
        *,
        termination: tuple[str, str] | None = None,
    ) -> None:
        self.pdm, self.resolver, self.journal = pdm, resolver, journal
        self.termination = termination
        self.state_key = self.key_for(target)
        self.sent_keys: tuple[str, ...] = ()
        # A dry run checks every file's metadata and reports; set by `pdm_setup`.
        self.check: DryRunChecker | None = None

    @property
    def checks_in_dry_run(self) -> bool:
        return True

    @staticmethod
    def key_for(target: Target) -> str:
        """The state's key for a project's Document Management."""
        return f"{target.key}/document-management"

    async def locate(self, item: Planned) -> Planned | FileResult:
        outcome = await self.resolver.resolve(item.entry.rel)
        if self.check is not None:
            await self.check.add(outcome)
        if not outcome.ok:
            return failed(item, metadata_error(outcome))
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
        live = await self._complete(batch, ids, outcomes, resumed=resumed)
        await self._submit(live, ids, outcomes, resumed=resumed)
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
            new = await self.pdm.create_uploads([(s.file_name, s.mime_type) for s in slots])
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
    ) -> list[Stored]:
        """The PATCH: each upload linked to its bytes, its fields set, COMPLETED; an id that
        failed or was dropped is sent once more. Returns the files ready to submit."""
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
                    # Unknown to Procore now, within its lifetime: an earlier run submitted it.
                    outcomes[stored.item.entry.rel] = _done(stored, upload_id, None)
                else:
                    why = outcome.failed.get(upload_id, "unknown to Procore (dropped from the 207)")
                    outcomes[stored.item.entry.rel] = unplaced(
                        stored, f"Procore refused the document upload: {why}", lifetime=DAY
                    )
            todo = again
            if not todo:
                break
        return [s for s in batch if s.item.entry.rel not in outcomes]

    async def _submit(
        self,
        ready: list[Stored],
        ids: dict[str, str],
        outcomes: dict[str, FileResult],
        *,
        resumed: set[str],
    ) -> None:
        """Submit revisions: fresh event ids for CONCURRENCY_CONFLICT (and one more try for
        UNKNOWN_FAILURE); a request-level refusal is narrowed down by halving the batch."""
        for _ in range(CONFLICT_ROUNDS):
            if not ready:
                return
            events = await self.pdm.latest_events([ids[s.item.entry.rel] for s in ready])
            waiting = []
            for stored in ready:
                upload_id = ids[stored.item.entry.rel]
                if upload_id in events:
                    waiting.append(stored)
                elif upload_id in resumed:  # submitted by an earlier run, then it was killed
                    outcomes[stored.item.entry.rel] = _done(stored, upload_id, None)
                else:
                    outcomes[stored.item.entry.rel] = unplaced(
                        stored, "Procore did not list the completed document upload", lifetime=DAY
                    )
            ready = await self._submit_some(waiting, ids, events, outcomes)
        for stored in ready:
            outcomes[stored.item.entry.rel] = unplaced(
                stored, "Procore kept answering CONCURRENCY_CONFLICT", lifetime=DAY
            )

    async def _submit_some(
        self,
        items: list[Stored],
        ids: dict[str, str],
        events: dict[str, str],
        outcomes: dict[str, FileResult],
        termination: tuple[str, str] | None = None,
    ) -> list[Stored]:
        """Submit `items`; returns those to try again with fresh event ids."""
        if not items:
            return []
        pairs = [(ids[s.item.entry.rel], events[ids[s.item.entry.rel]]) for s in items]
        try:
            submission = await self.pdm.submit(pairs, termination=termination)
        except ApiError as exc:
            if exc.status == 403 or "PERMISSION_DENIED" in exc.reason_codes:
                raise TargetUnusable(
                    "these credentials may not submit to Document Management "
                    f"('Submit New Files'): {exc.message}"
                ) from exc
            if exc.status != 422:
                raise
            if len(items) > 1:
                half = len(items) // 2
                first = await self._submit_some(items[:half], ids, events, outcomes, termination)
                rest = await self._submit_some(items[half:], ids, events, outcomes, termination)
                return first + rest
            return await self._refused(items[0], exc, ids, events, outcomes, termination)
        retry = {f.upload_id for f in submission.failures}
        reasons = {f.upload_id: f for f in submission.failures}
        accepted = iter(submission.revision_ids)
        again = []
        for stored in items:
            upload_id = ids[stored.item.entry.rel]
            if upload_id in retry:
                again.append(stored)
                if reasons[upload_id].reason_code != "CONCURRENCY_CONFLICT":
                    events.pop(upload_id, None)  # UNKNOWN_FAILURE: once more, a fresh read
            else:
                outcomes[stored.item.entry.rel] = _done(stored, upload_id, next(accepted, None))
        return again

    async def _refused(
        self,
        stored: Stored,
        exc: ApiError,
        ids: dict[str, str],
        events: dict[str, str],
        outcomes: dict[str, FileResult],
        termination: tuple[str, str] | None,
    ) -> list[Stored]:
        """One file's submit refused as a request: a workflow to end when asked to, or its own
        clear outcome (its bytes and document upload stay known for the next run)."""
        codes = exc.reason_codes
        rel = stored.item.entry.rel
        if "WORKFLOW_CONFLICT" in codes and self.termination and termination is None:
            return await self._submit_some([stored], ids, events, outcomes, self.termination)
        if "DUPLICATE_REVISION" in codes:
            why = (
                "Procore already has this revision of the document (DUPLICATE_REVISION): give "
                "the changed file a new revision value"
            )
        elif "WORKFLOW_CONFLICT" in codes:
            why = (
                "the document's current revision is in a workflow (WORKFLOW_CONFLICT): "
                "--terminate-workflows REASON --terminated-status STATUS ends it"
            )
        else:
            why = f"Procore refused the revision ({', '.join(codes) or exc.status}): {exc.message}"
        outcomes[rel] = unplaced(stored, why, lifetime=DAY)
        return []


def _slot(stored: Stored) -> PdmSlot:
    slot = stored.item.slot
    if not isinstance(slot, PdmSlot):
        raise TypeError(f"{stored.item.entry.display_rel}: placed before it was located")
    return slot


def _done(stored: Stored, upload_id: str, revision_id: str | None) -> FileResult:
    action = "submitted" if revision_id else "submitted earlier"
    placement = Placement(action=action, document_upload_id=upload_id, revision_id=revision_id)
    return replace(placed(stored, placement), disposition=Disposition.DONE)
