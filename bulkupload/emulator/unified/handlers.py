"""The v2.1 Unified File Uploads API (project and company level): Create, Complete (PATCH) and
Status (GET). The API middleware has authenticated the caller and checked the company scope;
answers carry exactly the published fields, refusals the v2 error body."""

from __future__ import annotations

import re

from aiohttp import web

from bulkupload.emulator.config import CONFIG_KEY
from bulkupload.emulator.core import Identity
from bulkupload.emulator.replies import v2_error
from bulkupload.emulator.state import STATE_KEY
from bulkupload.emulator.upload_records import access_refusal, json_object, new_ulid

from .completion import accept_etags, poll
from .model import (
    OPEN,
    SCANNING,
    UNASSOCIATED_LIFETIME,
    Part,
    UnifiedStore,
    UnifiedUpload,
)
from .part_urls import segment_answers
from .plan import Detail, detail, plan_upload, url_ttl

# Characters no file system or download takes in a name; Procore publishes no rule of its own.
UNSAFE_IN_NAMES = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
ACCESS_CODES = {403: "FORBIDDEN", 404: "NOT_FOUND"}
# 10,000 segments of size, SHA-256 and MD5 take about 1.5 MB of JSON: above aiohttp's 1 MiB.
MAX_CREATE_BODY = 16 * 1024 * 1024


async def create_upload(request: web.Request) -> web.Response:
    """POST .../uploads: 201 with a presigned URL per part, or 400 with every problem."""
    body = await json_object(request, max_size=MAX_CREATE_BODY)
    if body is None:
        return _bad_request("The body must be a JSON object.")
    plan = plan_upload(body)
    if isinstance(plan, list):
        return _invalid("The upload request is not valid.", plan)
    store = _store(request)
    identity: Identity = request["identity"]
    now = store.clock.now()
    project = request.match_info.get("project_id")
    upload = UnifiedUpload(
        upload_id=new_ulid(now),
        owner=identity.client_id,
        company_id=request["company_id"],
        project_id=int(project) if project is not None else None,
        created=now,
        expires_at=int(now) + UNASSOCIATED_LIFETIME,
        file_name=plan.file_name,
        file_size=plan.file_size,
        content_type=plan.content_type,
        uploader_tool_name=plan.uploader_tool_name,
        custom_metadata=plan.custom_metadata,
        sha256=plan.sha256,
        md5=plan.md5,
        parts=[Part(spec) for spec in plan.parts],
    )
    if store.remote is not None:
        upload.remote = await store.remote.begin(
            upload.company_id, f"v21/{upload.upload_id}", {"Content-Type": plan.content_type}
        )
    store.add(upload)
    data: dict[str, object] = {
        "upload_id": upload.upload_id,
        "file_name": upload.file_name,
        "file_size": upload.file_size,
        "content_type": upload.content_type,
        **_tool(upload),
        "upload_expires_at": upload.expires_at,
        "segments": segment_answers(request, store, upload, plan.url_expires_in),
        "status": _shown(request, upload),
    }
    return web.json_response({"data": data}, status=201)


async def complete_upload(request: web.Request) -> web.Response:
    """PATCH .../uploads/{upload_id} `{"part_etags": [...]}`: partial progress or completion."""
    upload = _owned(request)
    if isinstance(upload, web.Response):
        return upload
    body = await json_object(request)
    part_etags = None if body is None else body.get("part_etags")
    if (
        body is None
        or set(body) != {"part_etags"}
        or not isinstance(part_etags, list)
        or not all(etag is None or isinstance(etag, str) for etag in part_etags)
    ):
        return _bad_request('The body must be {"part_etags": [string or null, ...]}.')
    if upload.status in OPEN:
        problems = await accept_etags(request.app, upload, part_etags)
        if problems:
            return _invalid("The part ETags do not match the parts received.", problems)
    # An upload completed before (a retried PATCH) answers where it stands now.
    status = _shown(request, upload)
    return web.json_response({"data": {"upload_id": upload.upload_id, "status": status}})


async def show_upload(request: web.Request) -> web.Response:
    """GET .../uploads/{upload_id}[?url_expires_in=]: status, and fresh part URLs while open."""
    upload = _owned(request)
    if isinstance(upload, web.Response):
        return upload
    query = {k: int(v) if v.isdigit() else v for k, v in request.query.items()}
    problems: list[Detail] = []
    ttl = url_ttl(query, problems)
    if problems:
        return _invalid("url_expires_in is out of range.", problems)
    request.app[STATE_KEY].counters.v21_status_polls += 1
    poll(_store(request), upload)
    open_parts = upload.status in OPEN
    data = {
        "upload_id": upload.upload_id,
        "file_name": upload.file_name,
        "sanitized_file_name": UNSAFE_IN_NAMES.sub("_", upload.file_name),
        "content_type": upload.content_type,
        **_tool(upload),
        "file_size": upload.file_size,
        "status": _shown(request, upload),
        "error": upload.error.as_json() if upload.error else None,
        "custom_metadata": upload.custom_metadata,
        "segments": (segment_answers(request, _store(request), upload, ttl) if open_parts else []),
    }
    return web.json_response({"data": data})


def _store(request: web.Request) -> UnifiedStore:
    return request.app[STATE_KEY].unified


def _owned(request: web.Request) -> UnifiedUpload | web.Response:
    """The upload in the path, when this identity created it in this scope and it still exists."""
    upload = _store(request).find(request.match_info["upload_id"])
    if upload is None:
        return v2_error(404, "NOT_FOUND", "Upload not found.", [])
    refusal = access_refusal(request, upload.company_id, upload.project_id, upload.owner)
    if refusal is not None:
        status, message = refusal
        return v2_error(status, ACCESS_CODES[status], message, [])
    return upload


def _shown(request: web.Request, upload: UnifiedUpload) -> str:
    """The status word of the configured vocabulary: the tutorial says `complete` for `scanning`."""
    tutorial = request.app[CONFIG_KEY].v21_status_words == "tutorial"
    return "complete" if tutorial and upload.status == SCANNING else upload.status


def _tool(upload: UnifiedUpload) -> dict[str, object]:
    """`uploader_tool_name` when Create named one (published as a string: absent, not null)."""
    name = upload.uploader_tool_name
    return {} if name is None else {"uploader_tool_name": name}


def _bad_request(message: str) -> web.Response:
    return v2_error(400, "BAD_REQUEST", message, [detail("INVALID_BODY", "body", message)])


def _invalid(message: str, problems: list[Detail]) -> web.Response:
    return v2_error(400, "VALIDATION_ERROR", message, problems)
