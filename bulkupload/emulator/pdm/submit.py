"""Submitting document uploads as revisions (technical guide, step 8): POST
`.../document_revisions` (v2.0 and v2.1) `{"uploads": [{id, upload_latest_event_id,
termination_reason?, terminated_revision_status_id?}]}` → 201 `{"data": {ids, failures}}`
(v2.0 adds the deprecated `failureIds`, which its reference marks required).

Request-level refusals come first and submit nothing (422, code VALIDATION_ERROR as the guide's
example, one detail per offending upload with the upload id in `source`, as that example
does): PERMISSION_DENIED without "Submit New Files"; UPLOAD_NOT_FOUND for an id that is not a
live upload of the project (never created, submitted, deleted after 24 h); FILE_KEY_MISMATCH for
an upload not COMPLETED (no file confirmed; the guide's resolution is to link one and set
COMPLETED); INVALID_INPUT when a required field of its rule is empty (the detail lists them in
`missing_fields`) or a termination status is not an active Status value; DUPLICATE_REVISION when
its rule has `allow_duplicate_revisions: false` and its container already holds that revision
value (or an earlier upload of the same request does); WORKFLOW_CONFLICT when the project has a
workflow, the container's current revision is still in it and the upload carries no
`termination_reason` + `terminated_revision_status_id` (details as the guide's example).

Then each upload on its own, inside the 201: a `upload_latest_event_id` that is not the current
one fails with CONCURRENCY_CONFLICT, and the faults `pdm_submit_conflict` (which also gives the
upload a new event, as a concurrent change would) and `pdm_submit_unknown` (UNKNOWN_FAILURE)
fail it too. The others are consumed: each becomes the next version of the container of its
match criteria (`rules.match_criteria`), terminating the current revision's workflow (its Status
set to the given value) when asked to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .access import ULID, Call, batch, body_of, call_of, fault
from .errors import Detail, PdmError, bad, detail, invalid, object_problems, problem
from .model import COMPLETED, MANUAL, Container, DocumentUpload, FieldValue, Revision
from .rules import applicable_rule, literal, match_criteria, missing
from .settings import SUBMIT_NEW_FILES
from .values import labels

TERMINATION = ("termination_reason", "terminated_revision_status_id")
ITEM_KEYS = frozenset({"id", "upload_latest_event_id", *TERMINATION})


@dataclass(frozen=True, slots=True)
class Planned:
    upload: DocumentUpload
    event_id: str
    criteria: str
    terminate: tuple[str, str] | None  # (reason, Status value id)


async def create_revisions(request: web.Request) -> web.Response:
    call = call_of(request)
    body = await body_of(request)
    extra = sorted(set(body) - {"uploads", "file_locked"})
    if extra:
        raise bad(f"{extra[0]} is not a parameter of this endpoint", extra[0])
    if not isinstance(body.get("file_locked", False), bool):
        raise bad("file_locked must be a boolean", "file_locked")
    items = batch(body, "uploads")
    problems = [p for index, item in enumerate(items) for p in _item_problems(index, item)]
    ids = [item.get("id") for item in items if isinstance(item, dict)]
    if not problems and len(set(ids)) != len(ids):
        problems.append(problem("uploads", "name an upload twice"))
    if problems:
        raise invalid(problems)
    if SUBMIT_NEW_FILES not in call.permissions:
        message = f"The service account lacks {SUBMIT_NEW_FILES!r} on this project."
        raise _unprocessable([detail("PERMISSION_DENIED", message)])
    planned, problems = _plan(call, items)
    if problems:
        raise _unprocessable(problems)
    created: list[str] = []
    failures: list[dict[str, str]] = []
    for plan in planned:
        failure = _failure(request, call, plan)
        if failure is None:
            created.append(_file(call, plan))
        else:
            failures.append({"upload_id": plan.upload.id, **failure})
    data: dict[str, object] = {"ids": created, "failures": failures}
    if request.path.startswith("/rest/v2.0/"):
        data["failureIds"] = [failure["upload_id"] for failure in failures]
    return web.json_response({"data": data}, status=201)


def _unprocessable(details: list[Detail]) -> PdmError:
    return PdmError(422, "VALIDATION_ERROR", "Validation errors detected", details)


def _item_problems(index: int, item: object) -> list[Detail]:
    where = f"uploads.{index}"
    problems = object_problems(where, item, ITEM_KEYS)
    if not isinstance(item, dict):
        return problems
    if not isinstance(item.get("id"), str) or not ULID.match(item["id"]):
        problems.append(problem(f"{where}.id", "must be a ULID"))
    # The event id is required; the termination pair is optional: each given must be a string.
    for key in sorted({"upload_latest_event_id", *(set(item) & set(TERMINATION))}):
        if not isinstance(item.get(key), str):
            problems.append(problem(f"{where}.{key}", "must be a string"))
    if (TERMINATION[0] in item) != (TERMINATION[1] in item):
        problems.append(problem(where, "needs both termination_reason and its status id"))
    return problems


def _plan(call: Call, items: list[Any]) -> tuple[list[Planned], list[Detail]]:
    """Every upload checked as if the earlier ones of the request were already filed."""
    project, store = call.project, call.store
    status_field = project.field_named("status")
    seen: dict[str, tuple[set[str], bool]] = {}  # criteria -> (revision values, in workflow)
    planned, problems = [], []
    for item in items:
        upload_id = item["id"]
        upload = store.live(upload_id, call.company_id, call.project_id)
        if upload is None:
            problems.append(detail("UPLOAD_NOT_FOUND", "No such document upload.", upload_id))
            continue
        if upload.status != COMPLETED:
            message = "The upload has no confirmed file: link one and set it COMPLETED."
            problems.append(detail("FILE_KEY_MISMATCH", message, upload_id))
            continue
        empty = [f.name for f in missing(project, upload)]
        if empty:
            message = "Required fields are empty: " + ", ".join(empty)
            problems.append(detail("INVALID_INPUT", message, upload_id, missing_fields=empty))
        criteria = match_criteria(project, upload)
        container = store.container(call.project_id, criteria)
        existing = [] if container is None else container.revisions
        values, in_workflow = seen.get(criteria) or (
            {v for r in existing if (v := _revision_value(call, r)) is not None},
            bool(existing) and existing[-1].workflow == "active",
        )
        revision = literal(project, upload, "revision")
        if revision in values and not applicable_rule(project, upload).allow_duplicate_revisions:
            message = f"Revision {revision!r} already exists in this document's container."
            problems.append(detail("DUPLICATE_REVISION", message, upload_id))
        terminate = None
        if TERMINATION[0] in item:
            terminate = (item[TERMINATION[0]], item[TERMINATION[1]])
            value = None if status_field is None else status_field.value(terminate[1])
            if value is None or not value.active:
                message = "terminated_revision_status_id is not an active Status value."
                problems.append(detail("INVALID_INPUT", message, upload_id))
        elif project.workflow is not None and in_workflow:
            problems.append(_workflow_conflict(call, upload, container))
        values.add(revision or "")
        seen[criteria] = (values, project.workflow is not None)
        planned.append(Planned(upload, item["upload_latest_event_id"], criteria, terminate))
    return planned, problems


def _revision_value(call: Call, revision: Revision) -> str | None:
    field = call.project.field_named("revision")
    held = (
        () if field is None or field.id not in revision.fields else revision.fields[field.id].values
    )
    return held[0] if held else None


def _workflow_conflict(call: Call, upload: DocumentUpload, container: Container | None) -> Detail:
    """The guide's example detail: the revisions in a workflow and the upload that conflicts."""
    project = call.project
    status = project.field_named("status")
    existing = []
    if container is not None and container.current is not None:
        current = container.current
        held = current.fields.get(status.id) if status is not None else None
        existing.append(
            {
                "id": current.id,
                "name": current.file_name,
                "revision": _revision_value(call, current) or "",
                "workflow_instance_id": current.workflow_instance_id or "",
                "assigned_workflow": project.workflow.name if project.workflow else "",
                "workflow_current_step": project.workflow.step if project.workflow else "",
                "status": ", ".join(labels(status, held.values)) if status and held else "",
            }
        )
    conflicting = {
        "id": upload.id,
        "name": upload.file_name,
        "revision": literal(project, upload, "revision") or "",
    }
    return detail(
        "WORKFLOW_CONFLICT",
        "The document's current revision is in an active workflow.",
        upload.id,
        document_container_id=None if container is None else container.id,
        existing_revisions_with_workflows=existing,
        conflicting_uploads_with_workflow=[conflicting],
    )


def _failure(request: web.Request, call: Call, plan: Planned) -> dict[str, str] | None:
    """Why this upload fails inside the 201, if it does."""
    if plan.event_id != plan.upload.event_id:
        return _conflict()
    if fault(request, "pdm_submit_conflict"):
        call.store.touch(plan.upload)  # as if someone else had just changed it
        return _conflict()
    if fault(request, "pdm_submit_unknown"):
        return {"reason_code": "UNKNOWN_FAILURE", "message": "Unexpected error; try again."}
    return None


def _conflict() -> dict[str, str]:
    return {
        "reason_code": "CONCURRENCY_CONFLICT",
        "message": "Upload was modified since last read",
    }


def _file(call: Call, plan: Planned) -> str:
    """Consume the upload: the next version in the container of its match criteria."""
    store, upload, project = call.store, plan.upload, call.project
    container = store.open_container(call.project_id, plan.criteria)
    current = container.current
    status = project.field_named("status")
    if plan.terminate and current is not None and current.workflow == "active":
        current.workflow, current.termination_reason = "terminated", plan.terminate[0]
        if status is not None:
            current.fields[status.id] = FieldValue((plan.terminate[1],), MANUAL)
    in_workflow = project.workflow is not None
    revision = Revision(
        id=store.new_id(),
        container_id=container.id,
        version=len(container.revisions) + 1,
        upload_id=upload.id,
        file_name=upload.file_name,
        mime_type=upload.mime_type,
        file_upload_id=str(upload.file_upload_id),
        fields=dict(upload.fields),
        created=store.now(),
        submitted_by=call.client_id,
        workflow="active" if in_workflow else None,
        workflow_instance_id=store.new_id() if in_workflow else None,
    )
    container.revisions.append(revision)
    upload.state, upload.revision_id = "submitted", revision.id
    return revision.id
