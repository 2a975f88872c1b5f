"""Inspection and control endpoints under `/_emulator/`: what tests and benchmarks may look at."""

from __future__ import annotations

import json

from aiohttp import web

from .api import API_STATE_KEY
from .config import CONFIG_KEY, FAULTS_KEY
from .core import UploadRecord
from .state import STATE_KEY

ENDPOINTS = {
    "GET /_emulator/uploads": "every Create Upload answer and what became of it",
    "GET /_emulator/objects": "stored objects: bucket, key, size, md5",
    "GET /_emulator/counters": "API calls by route, OAuth calls, 429s, storage requests",
    "POST /_emulator/counters/reset": "zero every counter",
    "GET /_emulator/faults": "current fault settings",
    "POST /_emulator/faults": (
        "change fault settings (partial JSON, e.g. api_5xx, storage_5xx, reset, api_lost, "
        "scan_failed, scan_retryable, pdm_verify_failed, pdm_ml_error, pdm_submit_conflict, "
        "pdm_submit_unknown), returns the new settings"
    ),
    "POST /_emulator/expire-uploads": "expire every outstanding (unused) upload now",
    "GET /_emulator/clock": "the emulator's clock (Unix seconds) and its offset",
    "POST /_emulator/clock": '{"advance": seconds} moves the clock on (or back, when negative)',
    "GET /_emulator/config": "the emulator's configuration (companies, lifetimes, limits)",
    "GET /_emulator/rate-windows": "per identity, each ended rate-limit window: start, calls",
    "GET /_emulator/v21-uploads": (
        "every v2.1 upload: owner, status, parts received, object md5/sha256, association"
    ),
    "GET /_emulator/pdm/documents?project_id=P": (
        "Document Management containers and their revisions in order: metadata, file, md5"
    ),
    "GET /_emulator/pdm/uploads[?project_id=P]": (
        "every document upload (INCOMPLETE orphans, submitted, deleted): status, fields, file"
    ),
    "GET /_emulator/pdm/config": "Document Management set-up of each project, permissions",
}


def upload_json(record: UploadRecord) -> dict[str, object]:
    return {
        "uuid": record.uuid,
        "owner": record.owner,
        "company_id": record.company_id,
        "project_id": record.project_id,
        "created": record.created,
        "expires": record.expires,
        "used": record.used,
        "attached_to": record.attached_to,
        "bucket": record.bucket,
        "key": record.key,
        "response_filename": record.response_filename,
        "size": record.stored.size if record.stored else None,
        "md5": record.stored.md5 if record.stored else None,
    }


async def index(request: web.Request) -> web.Response:
    return web.json_response({"endpoints": ENDPOINTS})


async def uploads(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    await state.sync_storage()
    return web.json_response([upload_json(r) for r in state.uploads.values()])


async def objects(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    await state.sync_storage()
    return web.json_response(
        [
            {"bucket": o.bucket, "key": o.key, "size": o.size, "md5": o.md5}
            for o in state.objects.values()
        ]
    )


async def counters(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].counters.as_json())


async def reset_counters(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.counters.reset()
    return web.json_response(state.counters.as_json())


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response(request.app[FAULTS_KEY].as_json())


async def set_faults(request: web.Request) -> web.Response:
    faults = request.app[FAULTS_KEY]
    body = await _json_object(request)
    try:
        faults.update(body)
    except ValueError as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"errors": str(exc)}), content_type="application/json"
        ) from None
    return web.json_response(faults.as_json())


async def expire_uploads(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    await state.sync_storage()  # with SeaweedFS, what was stored is known from its listing
    now = state.clock.now()
    expired = []
    for record in state.uploads.values():
        if not record.used and record.expires > now:
            record.expires = now
            expired.append(record.uuid)
    return web.json_response({"expired": expired})


async def get_clock(request: web.Request) -> web.Response:
    clock = request.app[STATE_KEY].clock
    return web.json_response({"now": clock.now(), "offset": clock.offset})


async def advance_clock(request: web.Request) -> web.Response:
    clock = request.app[STATE_KEY].clock
    body = await _json_object(request)
    advance = body.get("advance", 0)
    # Back too: a test can make Procore's clock run behind the client's, so deadlines Procore
    # states (v2.1 `upload_expires_at`) are already past by the client's clock.
    if not isinstance(advance, int | float) or isinstance(advance, bool):
        raise web.HTTPBadRequest(
            text=json.dumps({"errors": "advance must be a number of seconds"}),
            content_type="application/json",
        )
    clock.advance(float(advance))
    return web.json_response({"now": clock.now(), "offset": clock.offset})


async def config(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG_KEY]
    return web.json_response(
        {
            "companies": [
                {"id": c.id, "projects": list(c.projects), "variant": c.variant, "bucket": c.bucket}
                for c in cfg.companies
            ],
            "clients": sorted(cfg.clients),
            "token_lifetime": cfg.token_lifetime,
            "upload_lifetime": cfg.upload_lifetime,
            "hourly_limit": cfg.hourly_limit,
            "spike_limit": cfg.spike_limit,
            "spike_window": cfg.spike_window,
            "hourly_window": cfg.hourly_window,
            "storage": cfg.storage,
            "max_upload_size": cfg.max_upload_size,
            "v21_scan_polls": cfg.v21_scan_polls,
            "v21_status_words": cfg.v21_status_words,
            "pdm_projects": sorted(cfg.pdm_projects),
            "pdm_processing_reads": cfg.pdm_processing_reads,
            "pdm_processing_seconds": cfg.pdm_processing_seconds,
        }
    )


async def _json_object(request: web.Request) -> dict[str, object]:
    try:
        body = await request.json() if request.can_read_body else {}
    except json.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"errors": "expected a JSON object"}), content_type="application/json"
        )
    return body


async def rate_windows(request: web.Request) -> web.Response:
    """Per identity, each ended rate-limit window: its start and the calls it counted."""
    windows = request.app[API_STATE_KEY].windows
    return web.json_response(
        {
            who: {"hourly": hourly.history, "spike": spike.history}
            for who, (hourly, spike) in windows.items()
        }
    )


def add_admin_routes(app: web.Application) -> None:
    app.router.add_get("/_emulator/rate-windows", rate_windows)
    app.router.add_get("/_emulator/", index)
    app.router.add_get("/_emulator/uploads", uploads)
    app.router.add_get("/_emulator/objects", objects)
    app.router.add_get("/_emulator/counters", counters)
    app.router.add_post("/_emulator/counters/reset", reset_counters)
    app.router.add_get("/_emulator/faults", get_faults)
    app.router.add_post("/_emulator/faults", set_faults)
    app.router.add_post("/_emulator/expire-uploads", expire_uploads)
    app.router.add_get("/_emulator/clock", get_clock)
    app.router.add_post("/_emulator/clock", advance_clock)
    app.router.add_get("/_emulator/config", config)
