"""Document Management as the emulator keeps it: document uploads (the intermediate records the
integration fills), the revisions they become, and the containers revisions are filed into.

Sources: `document_management_intro.md` (upload → revision, containers by match criteria,
sequential versions), `document_management_metadata_details.md` (`label_source`, integration
statuses, `latest_event_id` "updated on each state change").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

INCOMPLETE, COMPLETED = "INCOMPLETE", "COMPLETED"
# integration_statuses.ml / .filename_scraping
IN_PROGRESS, DONE, ERROR, NOT_APPLICABLE = "in_progress", "completed", "error", "not_applicable"
MANUAL, SYSTEM, NONE = "MANUAL", "SYSTEM", "NONE"
SCRAPED, SCRAPING_FAILED = "FILENAME_SCRAPING", "SCRAPING_FAILED"
ML, ML_FAILED = "ML", "ML_FAILED"
LIFETIME = 24 * 3600  # a document upload not submitted within 24 h of creation is deleted

UploadState = Literal["live", "submitted", "expired"]


@dataclass(slots=True)
class FieldValue:
    """What one field of an upload holds: value ids (lookups) or one literal, and its source."""

    values: tuple[str, ...]
    source: str
    confidence: float | None = None  # ML only


@dataclass(slots=True)
class DocumentUpload:
    """One document upload, from Create to its submission (or its deletion after 24 h)."""

    id: str
    company_id: int
    project_id: int
    owner: str  # client id of the creator
    file_name: str
    mime_type: str
    file_locked: bool
    created: float  # Clock time
    event_id: str  # latest_event_id: a new one on every change
    status: str = INCOMPLETE
    file_upload_id: str | None = None  # the linked v2.1 upload
    fields: dict[str, FieldValue] = field(default_factory=dict)  # by field id
    completed_at: float | None = None
    ml: str = NOT_APPLICABLE
    scraping: str = NOT_APPLICABLE
    reads_left: int = 0  # reads answered while ML / scraping are still in progress
    ml_fails: bool = False  # decided when processing starts (the `pdm_ml_error` fault)
    state: UploadState = "live"
    revision_id: str | None = None  # once submitted

    @property
    def processing(self) -> bool:
        return IN_PROGRESS in (self.ml, self.scraping)

    def held(self, field_id: str) -> tuple[str, ...]:
        found = self.fields.get(field_id)
        return () if found is None else found.values


@dataclass(slots=True)
class Revision:
    """A submitted upload: permanent, its metadata frozen, numbered within its container."""

    id: str
    container_id: str
    version: int
    upload_id: str
    file_name: str
    mime_type: str
    file_upload_id: str
    fields: dict[str, FieldValue]
    created: float
    submitted_by: str
    workflow: Literal["active", "terminated"] | None = None
    workflow_instance_id: str | None = None
    termination_reason: str | None = None


@dataclass(slots=True)
class Container:
    """The revisions sharing one match criteria in one project, oldest first."""

    id: str
    project_id: int
    match_criteria: str
    revisions: list[Revision] = field(default_factory=list)

    @property
    def current(self) -> Revision | None:
        return self.revisions[-1] if self.revisions else None
