"""Procore's Uploads resource (v1.0 and v1.1, project and company): Create, Show and Update.

Create answers a signed POST form (`uuid`, `url`, `fields`) or, with `segments`, one signed PUT
per segment (`uuid`, `segments`, `status`); Show answers the same shape again; Update (PATCH)
completes a segmented upload from the segments' ETags (a real S3 that keeps the segments
completes its multipart upload from them, and checks them). Only the identity that created an
upload may see or complete it. Every answer carries exactly the fields the contract publishes.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from aiohttp import web

from .config import CONFIG_KEY
from .core import Identity, StoredObject, UploadRecord
from .part_bodies import assemble_parts, plain_etag
from .replies import api_error
from .seaweed_parts import multipart_etag
from .segments import plan_segments
from .signers import SIGNER_KEY
from .sigv4 import PostRequest, content_disposition
from .state import STATE_KEY
from .streaming import DATA_DIR_KEY, object_path
from .unified.remote import PartsRefused
from .upload_records import (
    FORMS_KEY,
    deleted_unattached,
    json_object,
    new_ulid,
    owned_upload,
    segmented_answer,
)

CREATE_KEYS = frozenset(
    {"response_filename", "response_content_type", "attachment_content_disposition", "size"}
    | {"segments"}
)
UPDATE_SEGMENT_KEYS = frozenset({"size", "sha256", "md5", "etag"})
OCTETS = "application/octet-stream"

# ---- Create ------------------------------------------------------------------------------


async def create_upload(request: web.Request) -> web.Response:
    config, state = request.app[CONFIG_KEY], request.app[STATE_KEY]
    identity: Identity = request["identity"]
    company = config.company(request["company_id"])
    assert company is not None  # the middleware checked it
    v11 = request.path.startswith("/rest/v1.1/")
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    wrapped = body.get("upload")
    if isinstance(wrapped, dict) and len(body) == 1:
        body = wrapped  # Rails-style wrapping of the same parameters
    unknown = sorted(set(body) - CREATE_KEYS)
    if unknown:
        return api_error(400, "Unknown parameter(s): " + ", ".join(unknown))
    segments: list[dict[str, object]] = []
    if "segments" in body:
        try:
            segments = plan_segments(config, body["segments"])
        except ValueError as exc:
            return api_error(400, {"segments": [str(exc)]})
    filename = body.get("response_filename")
    if filename is not None and not isinstance(filename, str):
        return api_error(400, "response_filename must be a string.")
    if v11 and not filename:
        return api_error(400, {"response_filename": ["can't be blank"]})
    content_type = body.get("response_content_type")
    if content_type is not None and not isinstance(content_type, str):
        return api_error(400, "response_content_type must be a string.")
    attachment = body.get("attachment_content_disposition", True)
    if not isinstance(attachment, bool):
        return api_error(400, "attachment_content_disposition must be a boolean.")
    size = body.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        return api_error(400, "size must be a non-negative integer.")
    total = sum(int(str(seg["size"])) for seg in segments)
    if segments and size is not None and size != total:
        return api_error(400, f"size {size} is not the sum of the segments ({total}).")
    if not segments and size is not None and size > config.max_upload_size:
        return api_error(400, f"size exceeds the maximum of {config.max_upload_size} bytes.")
    now = state.clock.now()
    uuid = new_ulid(now)
    key = company.key_for(uuid)
    project = request.match_info.get("project_id")
    record = UploadRecord(
        uuid=uuid,
        owner=identity.client_id,
        company_id=company.id,
        project_id=int(project) if project is not None else None,
        created=now,
        expires=now + config.upload_lifetime,
        bucket=company.bucket,
        key=key,
        response_filename=filename,
        size_hint=total if segments else size,
        segments=segments,
    )
    disposition = content_disposition(filename or uuid, attachment=attachment)
    if segments:
        if state.part_store is not None:  # a real S3 keeps the segments: its multipart upload
            served = {"Content-Type": content_type or OCTETS, "Content-Disposition": disposition}
            record.remote = await state.part_store.begin(company.id, key, served)
        state.add_upload(record)
        return web.json_response(segmented_answer(request, company, record), status=201)
    extra: tuple[tuple[str, str], ...] = ()
    if company.variant:
        extra = (("success_action_status", "201"), ("x-amz-meta-upload-uuid", uuid))
    post = PostRequest(
        bucket=company.bucket,
        key=key,
        content_type=content_type or OCTETS,
        content_disposition=disposition,
        min_size=size if size is not None else 0,
        max_size=size if size is not None else config.max_upload_size,
        extra_fields=extra,
    )
    url, fields = request.app[SIGNER_KEY](request, company, post, now)
    state.add_upload(record)
    request.app[FORMS_KEY][uuid] = (url, fields)
    return web.json_response({"uuid": uuid, "url": url, "fields": fields}, status=201)


# ---- Show --------------------------------------------------------------------------------


async def show_upload(request: web.Request) -> web.Response:
    """GET .../uploads/{uuid}: the Create answer again; a segmented one with its progress."""
    record = owned_upload(request)
    if isinstance(record, web.Response):
        return record
    if deleted_unattached(request, record):
        return api_error(404, "Upload not found.")
    if record.segments:
        company = request.app[CONFIG_KEY].company(record.company_id)
        assert company is not None
        await _learn_received(request, record)
        return web.json_response(segmented_answer(request, company, record))
    url, fields = request.app[FORMS_KEY][record.uuid]
    return web.json_response({"uuid": record.uuid, "url": url, "fields": fields})


# ---- Update (complete a segmented upload) --------------------------------------------------


async def update_upload(request: web.Request) -> web.Response:
    """PATCH .../uploads/{uuid} with every segment's ETag, in order: the object is assembled.

    Published answers: 200, 400 (body not as published), 403 (another identity's upload),
    410 (the upload was deleted), 422 (the segments do not match what storage received).
    """
    record = owned_upload(request)
    if isinstance(record, web.Response):
        return record
    if deleted_unattached(request, record):
        return api_error(410, "This upload has been deleted.")
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    given = _update_segments(body)
    if isinstance(given, web.Response):
        return given
    if not record.segments:
        return api_error(422, "This upload is not a segmented upload.")
    if len(given) != len(record.segments):
        return api_error(422, f"Expected {len(record.segments)} segments, got {len(given)}.")
    # A real S3 keeps the segments: it checks the ETags as it completes them, unless it did
    # before and the emulator knows every one (a PATCH repeated after its answer was lost).
    learned = all(segment["etag"] is not None for segment in record.segments)
    remote = record.remote is not None and (record.stored is None or not learned)
    for number, (item, segment) in enumerate(zip(given, record.segments, strict=True), start=1):
        problem = _segment_problem(item, segment, etag_known=not remote)
        if problem:
            return api_error(422, f"Segment {number}: {problem}.")
    if remote:
        refusal = await _complete_in_s3(request, record, given)
        if refusal is not None:
            return refusal
    elif record.stored is None:
        app = request.app
        final = object_path(app[DATA_DIR_KEY], record.bucket, record.key)
        parts = [Path(str(segment["path"])) for segment in record.segments]
        loop = asyncio.get_running_loop()
        digest = hashlib.md5()
        size = await loop.run_in_executor(None, assemble_parts, parts, final, [digest])
        stored = StoredObject(record.bucket, record.key, size, digest.hexdigest(), str(final))
        app[STATE_KEY].objects[(record.bucket, record.key)] = stored
        record.stored = stored
    segments = []
    for segment in record.segments:
        item = {"size": segment["size"], "sha256": segment["sha256"], "etag": segment["etag"]}
        if segment["md5"] is not None:
            item["md5"] = segment["md5"]
        segments.append(item)
    return web.json_response({"uuid": record.uuid, "status": "complete", "segments": segments})


def _update_segments(body: dict[str, object]) -> list[dict[str, object]] | web.Response:
    """The PATCH body's segments, shaped as the contract publishes (else a 400)."""
    shape = 'Body must be {"segments": [{"etag": "...", "size"?, "sha256"?, "md5"?}, ...]}.'
    given = body.get("segments")
    if set(body) != {"segments"} or not isinstance(given, list):
        return api_error(400, shape)
    items: list[dict[str, object]] = []
    for item in given:
        if not isinstance(item, dict) or set(item) - UPDATE_SEGMENT_KEYS:
            return api_error(400, shape)
        if not isinstance(item.get("etag"), str):
            return api_error(400, shape)
        size = item.get("size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
            return api_error(400, shape)
        if any(name in item and not isinstance(item[name], str) for name in ("sha256", "md5")):
            return api_error(400, shape)
        items.append(item)
    return items


async def _learn_received(request: web.Request, record: UploadRecord) -> None:
    """The ETags of the segments a real S3 holds, for Show (none once it completed them)."""
    store = request.app[STATE_KEY].part_store
    if store is None or record.remote is None or record.stored is not None:
        return
    held = await store.etags(record.remote)
    for number, segment in enumerate(record.segments, start=1):
        if number in held:
            # The bytes are fixed by the SHA-256 S3 checked, so is their MD5: kept for good.
            segment["etag"] = held[number]


async def _complete_in_s3(
    request: web.Request, record: UploadRecord, given: list[dict[str, object]]
) -> web.Response | None:
    """S3 completes its multipart upload from the ETags given (it checks them against the
    segments it holds); when it will not, its listing says which segment is wrong (a 422)."""
    store = request.app[STATE_KEY].part_store
    assert store is not None and record.remote is not None
    etags = [plain_etag(str(item["etag"])) for item in given]
    try:
        await store.finish(record.remote, etags)
    except PartsRefused:
        held = await store.etags(record.remote)
        if not held and record.stored is not None:  # completed: S3 lists no parts any more
            return api_error(422, "The ETags do not match the segments storage completed.")
        for number, etag in enumerate(etags, start=1):
            if number not in held:
                return api_error(422, f"Segment {number}: has not been uploaded.")
            if held[number] != etag:
                return api_error(422, f"Segment {number}: ETag does not match the uploaded bytes.")
        return api_error(422, "The segments do not match what storage received.")
    for segment, etag in zip(record.segments, etags, strict=True):
        segment["etag"] = etag
    if record.stored is None:
        size = sum(int(str(segment["size"])) for segment in record.segments)
        # S3's ETag of an object made of parts, as a listing or a HEAD of it would say.
        made = multipart_etag(etags) or ""
        url = store.object_url(record.remote)
        stored = StoredObject(record.bucket, record.key, size, made, url)
        request.app[STATE_KEY].objects[(record.bucket, record.key)] = stored
        record.stored = stored
    return None


def _segment_problem(
    item: dict[str, object], segment: dict[str, object], *, etag_known: bool = True
) -> str | None:
    """What is wrong with one segment of a PATCH; its ETag is left to S3 when the emulator
    has not seen the segment arrive (`etag_known` false: a real S3 keeps it)."""
    if etag_known and segment["etag"] is None:
        return "has not been uploaded"
    if etag_known and plain_etag(str(item["etag"])) != segment["etag"]:
        return "ETag does not match the uploaded bytes"
    if "size" in item and item["size"] != segment["size"]:
        return "size is not the one given at create"
    for name in ("sha256", "md5"):
        known = segment[name]
        if name in item and known is not None and str(item[name]).lower() != known:
            return f"{name} is not the one given at create"
    return None


async def _json_body(request: web.Request) -> dict[str, object] | web.Response:
    body = await json_object(request)
    return api_error(400, "Request body must be a JSON object.") if body is None else body


def add_upload_routes(app: web.Application) -> None:
    app[FORMS_KEY] = {}  # registered with the routes that fill it
    for prefix in ("/rest/v1.1", "/rest/v1.0", "/vapid"):
        for scope in ("projects/{project_id:\\d+}", "companies/{company_id:\\d+}"):
            app.router.add_post(f"{prefix}/{scope}/uploads", create_upload)
            if prefix != "/vapid":  # the legacy paths only ever created uploads
                app.router.add_get(f"{prefix}/{scope}/uploads/{{uuid}}", show_upload)
                app.router.add_patch(f"{prefix}/{scope}/uploads/{{uuid}}", update_upload)
