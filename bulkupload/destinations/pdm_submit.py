"""Submitting completed document uploads as revisions, every per-item outcome read.

A 201 may still carry per-item `failures`: CONCURRENCY_CONFLICT is tried again with a fresh
`latest_event_id` (and UNKNOWN_FAILURE once more); a request-level 422 is settled from
Procore's state first (an upload no longer waiting was submitted: the answer to an earlier try
was lost), then narrowed to the items it concerns by halving the batch. A workflow in the way
is ended only when asked to (`--terminate-workflows`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from bulkupload.errors import ApiError, TargetUnusable
from bulkupload.messages import Stored
from bulkupload.models import Disposition, FileResult, Placement
from bulkupload.procore.pdm import PdmApi
from bulkupload.results import placed, unplaced

__all__ = ["CONFLICT_ROUNDS", "DAY", "Submitter", "submitted"]

DAY = 24 * 3600.0  # a v2.1 upload not linked within a day is deleted
CONFLICT_ROUNDS = 5  # fresh event ids for a CONCURRENCY_CONFLICT, this often at most

Termination = tuple[str, str]  # (reason, the status value id an ended revision takes)


def submitted(stored: Stored, upload_id: str, revision_id: str | None) -> FileResult:
    """Placed: its document upload became a revision (its id unknown when the answer that
    said so was lost, or an earlier run got it)."""
    action = "submitted" if revision_id else "submitted earlier"
    placement = Placement(action=action, document_upload_id=upload_id, revision_id=revision_id)
    return replace(placed(stored, placement), disposition=Disposition.DONE)


class Submitter:
    """Submits one batch's completed uploads; each file's outcome goes into `outcomes`.

    `ids`: each file's document upload (by rel); `resumed`: the uploads an earlier run made (a
    missing one was submitted by that run); `termination`: what ends a workflow, when asked.
    """

    def __init__(
        self,
        pdm: PdmApi,
        ids: dict[str, str],
        outcomes: dict[str, FileResult],
        resumed: set[str],
        termination: Callable[[], Awaitable[Termination | None]],
    ) -> None:
        self.pdm, self.ids, self.outcomes, self.resumed = pdm, ids, outcomes, resumed
        self._termination = termination

    def _id(self, stored: Stored) -> str:
        return self.ids[stored.item.entry.rel]

    def _set(self, stored: Stored, result: FileResult) -> None:
        self.outcomes[stored.item.entry.rel] = result

    async def run(self, ready: list[Stored]) -> None:
        for _ in range(CONFLICT_ROUNDS):
            if not ready:
                return
            events = await self.pdm.latest_events([self._id(s) for s in ready])
            waiting = []
            for stored in ready:
                upload_id = self._id(stored)
                if upload_id in events:
                    waiting.append(stored)
                elif upload_id in self.resumed:  # submitted by an earlier run, then it was killed
                    self._set(stored, submitted(stored, upload_id, None))
                else:
                    why = "Procore did not list the completed document upload"
                    self._set(stored, unplaced(stored, why, lifetime=DAY))
            ready = await self._submit(waiting, events)
        for stored in ready:
            why = "Procore kept answering CONCURRENCY_CONFLICT"
            self._set(stored, unplaced(stored, why, lifetime=DAY))

    async def _submit(
        self, items: list[Stored], events: dict[str, str], termination: Termination | None = None
    ) -> list[Stored]:
        """Submit `items`; returns those to try again with fresh event ids."""
        if not items:
            return []
        pairs = [(self._id(s), events[self._id(s)]) for s in items]
        try:
            answer = await self.pdm.submit(pairs, termination=termination)
        except ApiError as exc:
            if exc.status == 403 or "PERMISSION_DENIED" in exc.reason_codes:
                raise TargetUnusable(
                    "these credentials may not submit to Document Management "
                    f"('Submit New Files'): {exc.message}"
                ) from exc
            if exc.status != 422:
                raise
            return await self._settle(items, events, exc, termination)
        retry = {f.upload_id: f for f in answer.failures}
        accepted = iter(answer.revision_ids)
        again = []
        for stored in items:
            upload_id = self._id(stored)
            if upload_id in retry:
                again.append(stored)
                if retry[upload_id].reason_code != "CONCURRENCY_CONFLICT":
                    events.pop(upload_id, None)  # UNKNOWN_FAILURE: once more, a fresh read
            else:
                self._set(stored, submitted(stored, upload_id, next(accepted, None)))
        return again

    async def _settle(
        self,
        items: list[Stored],
        events: dict[str, str],
        exc: ApiError,
        termination: Termination | None,
    ) -> list[Stored]:
        """A 422 for the request: uploads no longer waiting were submitted (by a try whose answer
        was lost); the rest narrowed down by halving, down to one file's own refusal."""
        waiting = await self.pdm.latest_events([self._id(s) for s in items])
        still = []
        for stored in items:
            upload_id = self._id(stored)
            if upload_id in waiting:
                events[upload_id] = waiting[upload_id]
                still.append(stored)
            else:
                self._set(stored, submitted(stored, upload_id, None))
        if len(still) < len(items):
            return await self._submit(still, events, termination)
        if len(items) > 1:
            half = len(items) // 2
            first = await self._submit(items[:half], events, termination)
            return first + await self._submit(items[half:], events, termination)
        return await self._refused(items[0], events, exc, termination)

    async def _refused(
        self,
        stored: Stored,
        events: dict[str, str],
        exc: ApiError,
        termination: Termination | None,
    ) -> list[Stored]:
        """One file's submit refused as a request: a workflow to end when asked to, or its own
        clear outcome (its bytes and document upload stay known for the next run)."""
        codes = exc.reason_codes
        if "WORKFLOW_CONFLICT" in codes and termination is None:
            ending = await self._termination()
            if ending is not None:
                return await self._submit([stored], events, ending)
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
        self._set(stored, unplaced(stored, why, lifetime=DAY))
        return []
