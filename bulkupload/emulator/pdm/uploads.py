"""Document uploads: bulk create (technical guide, step 4) and the reads of step 7 (show, list,
and v2.2 selected uploads).

Create is all-or-nothing (every problem of the batch in one 400) and not idempotent: each call
makes new INCOMPLETE uploads, even when an earlier answer was lost. INCOMPLETE, submitted and
deleted (24 h) uploads are not shown: show answers 404 UPLOAD_NOT_FOUND (the guide's words for
consumed ids), or 410 for one deleted unsubmitted (the contract lists 410 for show; which
reason code goes with it is not published); list and selected uploads leave them out. Each
read of an upload whose ML or filename scraping is in progress counts towards their end
(`Timing.reads`).
`expected_container_id` is published but not emulated: 400 rather than silently ignored.
"""

from __future__ import annotations

import re

from aiohttp import web

from .access import Call, batch, body_of, call_of
from .errors import Detail, PdmError, bad, detail, invalid, object_problems, problem
from .model import COMPLETED, DocumentUpload
from .paging import MAX_IDS_PER_PAGE, MAX_PER_PAGE, check_query, page_of, paged
from .settings import UPLOAD_NEW_FILES
from .views import upload as upload_json

MIME = re.compile(r"^[\w.+-]+/[\w.+-]+$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_NAME = 255
CREATE_KEYS = frozenset({"file_name", "mime_type", "file_locked"})


async def create_uploads(request: web.Request) -> web.Response:
    """POST .../document_uploads `{"uploads": [{file_name, mime_type, file_locked?}]}`: 201."""
    call = call_of(request)
    call.require(UPLOAD_NEW_FILES)
    body = await body_of(request)
    if set(body) != {"uploads"}:
        raise bad("the body takes uploads only", "body")
    items = batch(body, "uploads")
    problems = [p for index, item in enumerate(items) for p in _create_problems(index, item)]
    if problems:
        raise invalid(problems)
    store, now = call.store, call.store.now()
    created = []
    for item in items:
        assert isinstance(item, dict)
        upload = DocumentUpload(
            id=store.new_id(),
            company_id=call.company_id,
            project_id=call.project_id,
            owner=call.client_id,
            file_name=item["file_name"],
            mime_type=item["mime_type"],
            file_locked=bool(item.get("file_locked", False)),
            created=now,
            event_id=store.new_id(),
        )
        store.add(upload)
        created.append({"id": upload.id, "file_locked": upload.file_locked})
    return web.json_response({"data": created}, status=201)


def _create_problems(index: int, item: object) -> list[Detail]:
    where = f"uploads.{index}"
    problems = object_problems(where, item, CREATE_KEYS, frozenset({"expected_container_id"}))
    if not isinstance(item, dict):
        return problems
    name, mime = item.get("file_name"), item.get("mime_type")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        what = f"must be a non-empty string of at most {MAX_NAME} characters"
        problems.append(problem(f"{where}.file_name", what))
    elif CONTROL.search(name) or "/" in name or "\\" in name:
        what = "must not hold control characters or path separators"
        problems.append(problem(f"{where}.file_name", what))
    if not isinstance(mime, str) or not MIME.match(mime):
        problems.append(problem(f"{where}.mime_type", "must be a MIME type (application/pdf)"))
    if not isinstance(item.get("file_locked", False), bool):
        problems.append(problem(f"{where}.file_locked", "must be a boolean"))
    return problems


def _visible(call: Call, upload_id: str) -> DocumentUpload | None:
    found = call.store.live(upload_id, call.company_id, call.project_id)
    return found if found is not None and found.status == COMPLETED else None


def _shown(call: Call, uploads: list[DocumentUpload]) -> list[dict[str, object]]:
    """Uploads answered in full: each read moves its processing on before it is shown."""
    for found in uploads:
        call.store.read(found)
    return [upload_json(call.store, call.project, found, show=False) for found in uploads]


async def show_upload(request: web.Request) -> web.Response:
    """GET .../document_uploads/{document_upload_id} (v2.0 and v2.1)."""
    call = call_of(request)
    check_query(request, frozenset())
    upload_id = request.match_info["document_upload_id"]
    found = _visible(call, upload_id)
    if found is None:
        gone = call.store.uploads.get(upload_id)
        if gone is not None and gone.state == "expired" and gone.project_id == call.project_id:
            # The contract lists 410 for this read: an upload deleted unsubmitted (24 h) is
            # gone, where a submitted (consumed) one is not found, as the guide says.
            message = f"Document upload {upload_id} was deleted: not submitted within 24 hours."
            raise PdmError(410, "GONE", message, [detail("UPLOAD_EXPIRED", message, upload_id)])
        message = f"Document upload {upload_id} was not found."
        raise PdmError(404, "NOT_FOUND", message, [detail("UPLOAD_NOT_FOUND", message, upload_id)])
    call.store.read(found)
    return web.json_response({"data": upload_json(call.store, call.project, found, show=True)})


async def _listing(request: web.Request, call: Call, uploads: list[DocumentUpload]) -> web.Response:
    """A page of `uploads` in full, or their ids (`view=ids_only`)."""
    view = request.query.get("view", "default")
    if view not in ("default", "ids_only"):
        raise bad("view must be default or ids_only", "view")
    if view == "ids_only":
        return paged(request, [u.id for u in uploads], MAX_IDS_PER_PAGE)
    page, headers = page_of(request, uploads, MAX_PER_PAGE)
    return web.json_response({"data": _shown(call, list(page))}, headers=headers)


async def list_uploads(request: web.Request) -> web.Response:
    """GET .../document_uploads (v2.0 and v2.1): COMPLETED uploads not yet submitted."""
    call = call_of(request)
    check_query(request, frozenset({"view"}))
    uploads = [u for u in call.store.in_project(call.project_id) if u.status == COMPLETED]
    return await _listing(request, call, uploads)


async def selected_uploads(request: web.Request) -> web.Response:
    """POST v2.2 .../document_uploads/selected_uploads `{"ids": [...]}`: those uploads, in the
    order asked, leaving out the ids that show would answer 404 (this route publishes none)."""
    call = call_of(request)
    check_query(request, frozenset({"view"}))
    body = await body_of(request)
    ids = body.get("ids")
    if set(body) != {"ids"} or not isinstance(ids, list):
        raise bad('the body must be {"ids": [string, ...]}', "ids")
    if not all(isinstance(i, str) for i in ids):
        raise bad("ids must be strings", "ids")
    found = [_visible(call, i) for i in dict.fromkeys(ids)]
    return await _listing(request, call, [u for u in found if u is not None])
