"""Procore's Document Management integration API: the project's catalog, document uploads and
revisions, each call batched (at most 100 items) and each per-item outcome read.

Sources: the contract files `RestV2*DocumentManagement*` and procore/documentation
`document_management_integration/document_management_technical_guide.md`: creating document
uploads is all-or-nothing and not idempotent; updating them answers 207 with `success` and
`failed`, and silently drops unknown ids; a 201 from submitting revisions may still carry
per-item `failures`; 4xx bodies carry `reason_code`s to branch on, never their messages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from bulkupload.errors import ApiError, NotFound
from bulkupload.metadata import FieldDef, FieldValue, Requirement
from bulkupload.models import Target

from .client import ApiClient
from .remote import decoded
from .unified import UnifiedUpload, unified_path, upload_status

__all__ = [
    "BATCH",
    "DocumentUploadUpdate",
    "PdmApi",
    "Submission",
    "SubmitFailure",
    "UpdateOutcome",
]

BATCH = 100  # Procore's limit per create, update and submit call
PAGE = 100  # the most a list answers per page
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DocumentUploadUpdate:
    """One item of the update PATCH: link the stored file, set the fields, mark it COMPLETED."""

    id: str
    file_upload_id: str
    fields: Sequence[Mapping[str, object]]

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "file_upload_id": self.file_upload_id,
            "upload_status": "COMPLETED",
            "fields": [dict(f) for f in self.fields],
        }


@dataclass(frozen=True, slots=True)
class UpdateOutcome:
    """What the 207 said: ids updated, ids failed (with Procore's code and message), and the
    ids Procore answered nothing about (unknown to it: silently dropped)."""

    success: frozenset[str]
    failed: Mapping[str, str]
    dropped: frozenset[str]


@dataclass(frozen=True, slots=True)
class SubmitFailure:
    upload_id: str
    reason_code: str
    message: str


@dataclass(frozen=True, slots=True)
class Submission:
    """A submit's 201: the revision ids created and the per-item failures."""

    revision_ids: tuple[str, ...]
    failures: tuple[SubmitFailure, ...]


class PdmApi:
    """One project's Document Management, over the run's API client (paced, retried)."""

    def __init__(self, api: ApiClient, target: Target, company_id: int) -> None:
        if target.kind != "project":
            raise ValueError("Document Management belongs to a project")
        self.api = api
        base = f"/companies/{company_id}/projects/{target.id}/document_management"
        self._v20, self._v22 = f"/rest/v2.0{base}", f"/rest/v2.2{base}"
        self._files = unified_path(target, company_id)

    async def document_upload_state(self, upload_id: str) -> str:
        """ "live", "submitted" (consumed: 404, as Procore's guide says) or "expired" (deleted
        unsubmitted: 410 Gone, which the contract lists for this read)."""
        try:
            await self.api.request("GET", f"{self._v20}/document_uploads/{upload_id}")
        except NotFound:
            return "submitted"
        except ApiError as exc:
            if exc.status == 410:
                return "expired"
            raise
        return "live"

    async def stored_file(self, upload_id: str) -> UnifiedUpload | None:
        """The v2.1 upload holding a file's bytes as Procore sees it now; None when it is gone."""
        try:
            return await upload_status(self.api, self._files, upload_id)
        except NotFound:
            return None

    # ── the catalog (`metadata.Catalog`) ───────────────────────────────────────────────
    async def fields(self) -> Sequence[FieldDef]:
        return await self._pages(f"{self._v20}/fields", {}, FieldDef.from_json)

    async def values(self, field: FieldDef, keyword: str | None = None) -> Sequence[FieldValue]:
        params = {"include_inactive": "true"}
        if keyword is not None:
            params["keyword"] = keyword
        path = f"{self._v20}/fields/{field.id}/values"
        return await self._pages(path, params, FieldValue.from_json)

    async def requirements(self) -> Sequence[Requirement]:
        return await self._pages(f"{self._v20}/upload_requirements", {}, Requirement.from_json)

    async def _pages(
        self, path: str, params: Mapping[str, str], decode: Callable[[Any], T]
    ) -> list[T]:
        out: list[T] = []
        page = 1
        while True:
            query = {**params, "page": str(page), "per_page": str(PAGE)}
            resp = await self.api.request("GET", path, params=query)
            items = decoded(resp, lambda data: [decode(item) for item in data["data"]])
            out.extend(items)
            total = _int(resp.headers.get("Total"))
            if len(items) < PAGE or (total is not None and len(out) >= total):
                return out
            page += 1

    # ── document uploads ────────────────────────────────────────────────────────────────
    async def create_uploads(self, files: Sequence[tuple[str, str]]) -> list[str]:
        """New (INCOMPLETE) document uploads for `(file_name, mime_type)` pairs, ids in order.

        Not idempotent: an answer lost after Procore created them leaves orphans, which stay
        INCOMPLETE, invisible and harmless; the caller simply creates again.
        """
        body = {"uploads": [{"file_name": n, "mime_type": m} for n, m in files]}
        resp = await self.api.request("POST", f"{self._v20}/document_uploads", json=body)
        ids = decoded(resp, lambda data: [str(item["id"]) for item in data["data"]])
        if len(ids) != len(files):
            raise ApiError(
                resp.status,
                f"{len(ids)} document uploads created for {len(files)} files",
                call=_call(resp),
            )
        return ids

    async def update_uploads(self, updates: Sequence[DocumentUploadUpdate]) -> UpdateOutcome:
        """One PATCH; every id's fate read from the 207 (safe to send again)."""
        body = {"update_params": [u.as_json() for u in updates]}
        resp = await self.api.request("PATCH", f"{self._v20}/document_uploads", json=body)

        def read(data: Any) -> UpdateOutcome:
            success = frozenset(str(item["id"]) for item in data["data"]["success"])
            failed = {
                str(item["id"]): f"{item.get('code', '')} {item.get('message', '')}".strip()
                for item in data["data"]["failed"]
            }
            asked = {u.id for u in updates}
            return UpdateOutcome(success, failed, frozenset(asked - success - set(failed)))

        return decoded(resp, read)

    async def latest_events(self, ids: Sequence[str]) -> dict[str, str]:
        """`latest_event_id` of each upload still waiting to be submitted (one call for up to
        100; submitted or unknown ids are absent from the answer)."""
        resp = await self.api.request(
            "POST",
            f"{self._v22}/document_uploads/selected_uploads",
            json={"ids": list(ids)},
            params={"per_page": str(PAGE)},
        )
        return decoded(
            resp,
            lambda data: {str(i["id"]): str(i["latest_event_id"]) for i in data["data"]},
        )

    async def submit(
        self,
        items: Sequence[tuple[str, str]],
        *,
        termination: tuple[str, str] | None = None,
    ) -> Submission:
        """Submit `(document upload id, latest_event_id)` pairs as revisions. `termination`
        (reason, revision status id) ends a conflicting workflow. A request-level refusal
        (DUPLICATE_REVISION, WORKFLOW_CONFLICT, ...) raises ApiError with its reason codes."""
        uploads = []
        for upload_id, event_id in items:
            item = {"id": upload_id, "upload_latest_event_id": event_id}
            if termination is not None:
                item["termination_reason"], item["terminated_revision_status_id"] = termination
            uploads.append(item)
        resp = await self.api.request(
            "POST", f"{self._v20}/document_revisions", json={"uploads": uploads}
        )

        def read(data: Any) -> Submission:
            body = data["data"]
            failures = tuple(
                SubmitFailure(str(f["upload_id"]), str(f["reason_code"]), str(f["message"]))
                for f in body.get("failures") or []
            )
            return Submission(tuple(str(i) for i in body["ids"]), failures)

        return decoded(resp, read)


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _call(resp: object) -> str | None:
    return getattr(resp, "call", "") or None
