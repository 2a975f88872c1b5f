"""PUT of one v2.1 part to its presigned URL: a storage request like the others (counted, faults,
latency, bandwidth, no Authorization, Content-Length), then signature, expiry, the upload, the
part's headers and bytes. The last PUT of a part wins; the ETag is the MD5 of its bytes. Each
part stored may let the whole file's digests move on (`folding`)."""

from __future__ import annotations

import os
from typing import TypeGuard

from aiohttp import web

from bulkupload.emulator.part_bodies import receive_part
from bulkupload.emulator.s3_errors import Rejected, reject
from bulkupload.emulator.state import STATE_KEY
from bulkupload.emulator.storage_gate import counted, storage_prelude
from bulkupload.emulator.streaming import DATA_DIR_KEY

from .folding import part_stored
from .model import OPEN, UnifiedUpload, remove_files
from .part_urls import signed_expiry


@counted
async def put_part(request: web.Request) -> web.StreamResponse:
    early = await storage_prelude(request)
    if early is not None:
        return early
    store = request.app[STATE_KEY].unified
    expires_at = signed_expiry(store, request)
    if store.clock.now() >= expires_at:
        raise reject(403, "AccessDenied", "Request has expired")
    upload_id = request.match_info["upload_id"]
    upload = store.find(upload_id)
    if not _takes_parts(upload):
        raise _no_such_upload()
    number = int(request.match_info["part_number"])
    part = upload.parts[number - 1]  # the signature vouches for the number
    # Each PUT gets a file of its own, so the record always names the bytes its ETag describes,
    # even when two PUTs of one part overlap.
    name = f"{upload_id}.{number}.{os.urandom(6).hex()}"
    final = request.app[DATA_DIR_KEY] / "parts" / name
    received = await receive_part(request, part.spec, final)
    if not _takes_parts(store.find(upload_id)):
        # Completed or deleted while the bytes streamed: they belong to nothing now.
        remove_files([str(final)])
        raise _no_such_upload()
    previous, part.etag, part.path = part.path, received.etag, str(final)
    remove_files([previous])
    part_stored(store, upload, number - 1, replaced=previous is not None)
    return web.Response(status=200, headers=received.headers)


def _takes_parts(upload: UnifiedUpload | None) -> TypeGuard[UnifiedUpload]:
    return upload is not None and upload.status in OPEN


def _no_such_upload() -> Rejected:
    """S3's answer for an upload completed or deleted."""
    return reject(404, "NoSuchUpload", "The specified upload does not exist.")
