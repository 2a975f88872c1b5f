"""Bulk update of document uploads (technical guide, step 6): PATCH `{"update_params": [...]}`,
answered 207 `{"data": {"success": [{id}], "failed": [{id, code, message}]}}`.

As the guide says: a malformed body is a 400 and nothing is applied; an id that is a ULID but
no live upload of this project is silently dropped (in neither list); a `file_upload_id` already
linked to another document upload, and COMPLETED with no file linked, are 500s that apply
nothing; an item whose file storage cannot confirm fails in `failed` with a numeric code (404 as
the guide's example: no such v2.1 upload in this project). The emulator also fails an item, with
code 403, 409 or 422, when the v2.1 upload is another identity's, not `available` yet, failed its
scan or was made for another tool, and (code 422) when a field or value is unknown, readonly,
inactive or of the wrong form (`values.checked`); such an item changes nothing. Every applied
item gets a new `latest_event_id`. Linking sets the v2.1 upload's `associated_to`, so it is
never deleted at 24 h. `PLACEHOLDER`, `update_all_document_uploads`, `integrations`,
`integrationStatuses` and `document_container_id` are published but not emulated: 400.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bulkupload.emulator.state import STATE_KEY
from bulkupload.emulator.unified.model import AVAILABLE, FAILED, UnifiedUpload

from .access import ULID, Call, batch, body_of, call_of, fault
from .errors import Detail, PdmError, bad, detail, invalid, object_problems, problem
from .model import COMPLETED, INCOMPLETE, MANUAL, NOT_APPLICABLE, DocumentUpload, FieldValue
from .processing import begin, is_pdf
from .settings import UPLOAD_NEW_FILES
from .values import ValueRefused, checked

TOP_KEYS = frozenset({"update_params", "update_all_document_uploads", "only_update_empty_fields"})
ITEM_KEYS = frozenset({"id", "file_upload_id", "upload_status", "file_locked", "fields"})
NOT_EMULATED = frozenset({"integrations", "integrationStatuses", "document_container_id"})
FIELD_KEYS = frozenset({"id", "values", "label_source", "confidence_score"})
SOURCES = frozenset(
    {"MANUAL", "NONE", "FILENAME_SCRAPING", "SCRAPING_FAILED", "ML", "ML_FAILED", "SYSTEM"}
    | {"CONTAINER_MATCH"}
)
TOOL = "document_management"


class ItemFailed(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(slots=True)
class Change:
    """What one accepted item will do, applied only once the whole request is accepted."""

    upload: DocumentUpload
    fields: dict[str, FieldValue] = field(default_factory=dict)
    file: UnifiedUpload | None = None
    status: str | None = None
    file_locked: bool | None = None


async def update_uploads(request: web.Request) -> web.Response:
    call = call_of(request)
    call.require(UPLOAD_NEW_FILES)
    body = await body_of(request)
    only_empty = _top_level(body)
    items = batch(body, "update_params")
    problems = [p for index, item in enumerate(items) for p in _item_problems(index, item)]
    ids = [str(item.get("id")) for item in items if isinstance(item, dict)]
    problems += [
        problem("update_params", f"name {i} twice")
        for i in sorted({i for i in ids if ids.count(i) > 1})
    ]
    if problems:
        raise invalid(problems)
    changes: list[Change] = []
    failed: list[dict[str, object]] = []
    claimed: dict[str, str] = {}  # v2.1 upload id -> the item linking it in this request
    for item in items:
        assert isinstance(item, dict)
        upload = call.store.live(item["id"], call.company_id, call.project_id)
        if upload is None:
            continue  # the guide: silently dropped
        try:
            change = _plan(request, call, upload, item, only_empty, claimed)
        except ItemFailed as exc:
            failed.append({"id": upload.id, "code": exc.code, "message": exc.message})
            continue
        changes.append(change)
        if change.file is not None:
            claimed[change.file.upload_id] = upload.id
    for change in changes:
        _apply(request, call, change)
    success = [{"id": change.upload.id} for change in changes]
    return web.json_response({"data": {"success": success, "failed": failed}}, status=207)


def _top_level(body: dict[str, object]) -> bool:
    extra = sorted(set(body) - TOP_KEYS)
    if extra:
        raise bad(f"{extra[0]} is not a parameter of this endpoint", extra[0])
    if body.get("update_all_document_uploads", False) is not False:
        raise bad("update_all_document_uploads is not emulated", "update_all_document_uploads")
    only_empty = body.get("only_update_empty_fields", False)
    if not isinstance(only_empty, bool):
        raise bad("only_update_empty_fields must be a boolean", "only_update_empty_fields")
    return only_empty


def _item_problems(index: int, item: object) -> list[Detail]:
    where = f"update_params.{index}"
    problems = object_problems(where, item, ITEM_KEYS, NOT_EMULATED)
    if not isinstance(item, dict):
        return problems
    if not isinstance(item.get("id"), str) or not ULID.match(item["id"]):
        problems.append(problem(f"{where}.id", "must be a ULID"))
    linked = item.get("file_upload_id", "-")
    if not isinstance(linked, str) or not linked:
        problems.append(problem(f"{where}.file_upload_id", "must be a non-empty string"))
    if item.get("upload_status", INCOMPLETE) not in (INCOMPLETE, COMPLETED):
        what = "must be INCOMPLETE or COMPLETED (PLACEHOLDER is not emulated)"
        problems.append(problem(f"{where}.upload_status", what))
    if not isinstance(item.get("file_locked", False), bool):
        problems.append(problem(f"{where}.file_locked", "must be a boolean"))
    entries = item.get("fields", [])
    if not isinstance(entries, list):
        return [*problems, problem(f"{where}.fields", "must be an array")]
    for number, entry in enumerate(entries):
        problems += _field_problems(f"{where}.fields.{number}", entry)
    named = [e.get("id") for e in entries if isinstance(e, dict)]
    if len(set(named)) != len(named):
        problems.append(problem(f"{where}.fields", "name a field twice"))
    return problems


def _field_problems(where: str, entry: object) -> list[Detail]:
    problems = object_problems(where, entry, FIELD_KEYS)
    if not isinstance(entry, dict):
        return problems
    values, score = entry.get("values"), entry.get("confidence_score", 0)
    if not isinstance(entry.get("id"), str):
        problems.append(problem(f"{where}.id", "must be a string"))
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        problems.append(problem(f"{where}.values", "must be an array of strings"))
    if entry.get("label_source", MANUAL) not in SOURCES:
        problems.append(problem(f"{where}.label_source", "is not one of Procore's"))
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        problems.append(problem(f"{where}.confidence_score", "must be a number from 0 to 1"))
    return problems


def _plan(
    request: web.Request,
    call: Call,
    upload: DocumentUpload,
    item: dict[str, Any],
    only_empty: bool,
    claimed: dict[str, str],
) -> Change:
    """The change one item asks for, or ItemFailed; PdmError 500 for the guide's 500 cases."""
    change = Change(upload, file_locked=item.get("file_locked"))
    for entry in item.get("fields", []):
        target = call.project.field(entry["id"])
        if target is None or target.id != entry["id"]:
            raise ItemFailed(422, f"{entry['id']!r} is not a field of this project")
        try:
            values = checked(target, entry["values"])
        except ValueRefused as exc:
            raise ItemFailed(422, str(exc)) from None
        if not (only_empty and upload.held(target.id)):
            score = entry.get("confidence_score")
            change.fields[target.id] = FieldValue(values, entry.get("label_source", MANUAL), score)
    file_upload_id = item.get("file_upload_id")
    if isinstance(file_upload_id, str):
        holder = claimed.get(file_upload_id, call.store.links.get(file_upload_id))
        if holder not in (None, upload.id):
            message = f"file_upload_id {file_upload_id} is already linked to another upload."
            raise _server_error("FILE_ALREADY_LINKED", message, upload.id)
        change.file = _usable_file(request, call, file_upload_id)
    change.status = item.get("upload_status")
    if change.status == COMPLETED:
        if change.file is None and upload.file_upload_id is None:
            message = f"Upload {upload.id} cannot be COMPLETED without a linked file."
            raise _server_error("NO_FILE_LINKED", message, upload.id)
        if fault(request, "pdm_verify_failed"):
            raise ItemFailed(503, "Storage could not confirm the file; try again.")
    return change


def _server_error(reason: str, message: str, upload_id: str) -> PdmError:
    """The guide's 500s; the reason codes are the emulator's (Procore publishes none)."""
    return PdmError(500, "INTERNAL_SERVER_ERROR", message, [detail(reason, message, upload_id)])


def _usable_file(request: web.Request, call: Call, file_upload_id: str) -> UnifiedUpload:
    """The v2.1 upload to link: in this project, the caller's, `available`, for this tool."""
    found = request.app[STATE_KEY].unified.find(file_upload_id)
    if found is None or (found.company_id, found.project_id) != (call.company_id, call.project_id):
        raise ItemFailed(404, "File not found in storage")
    if found.owner != call.client_id:
        raise ItemFailed(403, "The file was uploaded by another identity")
    if found.uploader_tool_name not in (None, TOOL):
        raise ItemFailed(422, f"The file was uploaded for {found.uploader_tool_name}, not {TOOL}")
    if found.status == FAILED:
        raise ItemFailed(422, "The file failed processing in storage")
    if found.status != AVAILABLE:
        raise ItemFailed(409, f"The file is not available yet ({found.status})")
    return found


def _apply(request: web.Request, call: Call, change: Change) -> None:
    upload, store = change.upload, call.store
    upload.fields.update(change.fields)
    if change.file is not None:
        if upload.file_upload_id not in (None, change.file.upload_id):
            store.links.pop(str(upload.file_upload_id), None)
        upload.file_upload_id = change.file.upload_id
        store.links[change.file.upload_id] = upload.id
        change.file.associated_to = upload.id
    if change.file_locked is not None:
        upload.file_locked = change.file_locked
    if change.status == COMPLETED and upload.status != COMPLETED:
        upload.status = COMPLETED
        begin(upload, call.project, ml_fails=is_pdf(upload) and fault(request, "pdm_ml_error"))
        store.start_processing(upload)
    elif change.status == INCOMPLETE and upload.status != INCOMPLETE:
        upload.status, upload.completed_at = INCOMPLETE, None
        upload.ml = upload.scraping = NOT_APPLICABLE
    store.touch(upload)
