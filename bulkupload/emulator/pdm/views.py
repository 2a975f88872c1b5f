"""The JSON of Document Management answers: field definitions, metadata values, upload
requirements and document uploads, with exactly the properties the contract publishes.

A document upload shows every active field of the project (the guide: "the fields array in the
show response is returned in full") plus its system fields, each with `label_source` (NONE when
empty and never set). `document_container_id` is the container the upload's match criteria
points to now, or null when no revision has made one yet; `position_within_container` the place
it would take there. `download_url` is published nullable and is null: the emulator serves no
download. `permissions` (show only) is `{"allowed_actions": ["view"]}`, as the guide's example;
it "does not reflect the user's full permission set". `file_key` (v2.0, deprecated) is left out.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .model import NONE, SYSTEM, DocumentUpload, FieldValue
from .rules import literal, match_criteria
from .settings import PdmField, PdmProject, PdmValue, Requirement
from .store import PdmStore
from .values import shown

BIM: dict[str, object] = {"bim_file_extraction_id": None, "status": "not_applicable", "errors": []}


def iso(seconds: float) -> str:
    stamp = datetime.fromtimestamp(seconds, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def field_definition(project: PdmProject, field: PdmField) -> dict[str, object]:
    out: dict[str, object] = {
        "id": field.id,
        "name": field.name,
        "label": field.label,
        "description": field.description,
        "position": str(project.fields.index(field) + 1),
        "active": field.active,
        "visible": field.visible,
        "readonly": field.readonly,
        "can_affect_permissions": field.can_affect_permissions,
        "type": field.type,
    }
    if field.variant is not None:
        out["variant"] = field.variant
    if field.custom_field_definition_id is not None:
        out["custom_field_definition_id"] = field.custom_field_definition_id
    return out


def metadata_value(field: PdmField, value: PdmValue) -> dict[str, object]:
    """A value as List Project Metadata Values shows it (`field_id` for reference values)."""
    out: dict[str, object] = {
        "id": value.id,
        "code": value.code,
        "label": value.label,
        "active": value.active,
        "tags": list(value.tags),
    }
    if field.type == "reference":
        out["field_id"] = field.id
    return out


def requirement(project: PdmProject, rule: Requirement) -> dict[str, object]:
    def definitions(names: tuple[str, ...]) -> list[dict[str, object]]:
        fields = [project.field_named(name) for name in names]
        return [field_definition(project, f) for f in fields if f is not None]

    qualifiers = []
    for qualifier in rule.qualifiers:
        field = project.field_named(qualifier.field)
        if field is None:
            continue
        acceptable = [field.value(v) for v in qualifier.acceptable]
        qualifiers.append(
            {
                "field": {"id": field.id, "name": field.name, "label": field.label},
                "type": field.type,
                "acceptable_values": [
                    {"id": v.id, "code": v.code, "label": v.label, "active": v.active}
                    for v in acceptable
                    if v is not None
                ],
            }
        )
    standard = project.naming_standard
    naming: dict[str, object] | None = None
    if standard is not None:
        named = [project.field_named(name) for name in standard.field_names]
        naming = {
            "id": standard.id,
            "name": standard.name,
            "updated_at": project.updated_at,
            "fields": [
                {"id": f.id, "name": f.name, "label": f.label, "type": f.type}
                for f in named
                if f is not None
            ],
        }
    return {
        "id": rule.id,
        "updated_at": project.updated_at,
        "naming_standard": naming,
        "fields_required_by_project": definitions(rule.required),
        "additional_required_fields": definitions(rule.additional),
        "rule_qualifiers": qualifiers,
        "allow_duplicate_revisions": rule.allow_duplicate_revisions,
    }


def upload_fields(project: PdmProject, upload: DocumentUpload) -> list[dict[str, object]]:
    held = dict(upload.fields)
    system = project.system_fields
    for field in system:
        if field.name == "original_filename":
            held[field.id] = FieldValue((upload.file_name,), SYSTEM)
    for field in project.fields:
        if field.system_value is not None:
            held[field.id] = FieldValue((field.system_value,), SYSTEM)
    out = []
    for field in (*system, *(f for f in project.fields if f.active)):
        value = held.get(field.id, FieldValue((), NONE))
        item: dict[str, object] = {
            "id": field.id,
            "name": field.name,
            "type": field.type,
            "label": field.label,
            "description": field.description,
            "values": shown(field, value.values),
            "label_source": value.source,
        }
        if field.variant is not None:
            item["variant"] = field.variant
        if value.confidence is not None:
            item["confidence_score"] = value.confidence
        out.append(item)
    return out


def upload(
    store: PdmStore, project: PdmProject, found: DocumentUpload, *, show: bool
) -> dict[str, object]:
    """A document upload as show (`show=True`), list and selected uploads answer it."""
    criteria = match_criteria(project, found)
    container = store.container(found.project_id, criteria)
    position = 1 + (len(container.revisions) if container else 0)
    out: dict[str, object] = {
        "id": found.id,
        "latest_event_id": found.event_id,
        "fields": upload_fields(project, found),
        "upload_status": found.status,
        "integration_statuses": {"ml": found.ml, "filename_scraping": found.scraping},
        "position_within_container": f"{position:06d}",
        "document_container_id": container.id if container else None,
        "file_locked": found.file_locked,
        "download_url": None,
        "integrations": {"bim_processing": dict(BIM)},
    }
    if literal(project, found, "name") is not None:
        out["match_criteria"] = criteria
    if found.completed_at is not None:
        out["upload_completed_at"] = iso(found.completed_at)
    if show:
        out["permissions"] = {"allowed_actions": ["view"]}
    return out
