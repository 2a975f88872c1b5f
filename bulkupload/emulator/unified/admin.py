"""`GET /_emulator/v21-uploads`: every v2.1 upload as tests see it, with what public answers do
not carry (owner, parts received, the object's digests, the association)."""

from __future__ import annotations

from aiohttp import web

from bulkupload.emulator.state import STATE_KEY

from .folding import fill_digests, wanted
from .model import UnifiedUpload


def upload_json(upload: UnifiedUpload) -> dict[str, object]:
    stored = upload.stored
    return {
        "upload_id": upload.upload_id,
        "owner": upload.owner,
        "company_id": upload.company_id,
        "project_id": upload.project_id,
        "file_name": upload.file_name,
        "file_size": upload.file_size,
        "status": upload.status,  # the reference's word, whatever vocabulary the API answers in
        "error": upload.error.as_json() if upload.error else None,
        "parts": len(upload.parts),
        "parts_received": upload.parts_received,
        # The digests Create was given, apart from each part's required SHA-256.
        "given": [
            *wanted(upload),
            *(["part_md5"] if any(part.spec.md5 for part in upload.parts) else []),
        ],
        "md5": stored.md5 if stored else None,
        "sha256": stored.sha256 if stored else None,
        "created": upload.created,
        "upload_expires_at": upload.expires_at,
        "associated_to": upload.associated_to,
    }


async def list_uploads(request: web.Request) -> web.Response:
    store = request.app[STATE_KEY].unified
    store.sweep()
    await fill_digests(store)
    return web.json_response([upload_json(upload) for upload in store.uploads.values()])


def add_admin_routes(app: web.Application) -> None:
    app.router.add_get("/_emulator/v21-uploads", list_uploads)
