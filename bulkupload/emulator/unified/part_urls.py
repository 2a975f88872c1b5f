"""Presigned part URLs of v2.1 uploads: an HMAC of upload id, part number and expiry under the
store's secret, and the headers each PUT must carry verbatim (opaque to clients, as published).

URL: `{origin}/storage/v2.1/uploads/{upload_id}/parts/{n}?expires_at={unix s}&sig={hex}`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from aiohttp import web

from bulkupload.emulator.part_bodies import md5_header, s3_part_headers
from bulkupload.emulator.s3_errors import reject

from .model import UnifiedStore, UnifiedUpload

PART_ROUTE = "/storage/v2.1/uploads/{upload_id}/parts/{part_number:[0-9]+}"


def _signature(secret: bytes, upload_id: str, number: int, expires_at: int) -> str:
    message = f"PUT\n{upload_id}\n{number}\n{expires_at}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def segment_answers(
    request: web.Request, store: UnifiedStore, upload: UnifiedUpload, expires_in: int
) -> list[dict[str, object]]:
    """`segments` of Create and of a status GET: a fresh URL per part, expiring `expires_in` s
    from now on the emulator's clock, with the headers to send (S3's own presigned UploadPart
    URLs when a real S3 keeps the parts: S3 holds them to its own clock, real time, whatever
    the emulator's clock says in `url_expires_at`)."""
    expires_at = int(store.clock.now()) + expires_in
    origin = request.url.origin()
    answers: list[dict[str, object]] = []
    remote, where = store.remote, upload.remote
    for number, part in enumerate(upload.parts, start=1):
        if remote is not None and where is not None:
            headers = s3_part_headers(part.spec)
            url = remote.part_url(where, number, headers, expires_in)
            answers.append({"url": url, "url_expires_at": expires_at, "headers": headers})
            continue
        sig = _signature(store.secret, upload.upload_id, number, expires_at)
        path = f"/storage/v2.1/uploads/{upload.upload_id}/parts/{number}"
        # Content-Length is the client library's to set (it knows the body); these it cannot.
        headers = {"x-amz-content-sha256": part.spec.sha256}
        if part.spec.md5 is not None:
            headers["Content-MD5"] = md5_header(part.spec.md5)
        answers.append(
            {
                "url": f"{origin}{path}?expires_at={expires_at}&sig={sig}",
                "url_expires_at": expires_at,
                "headers": headers,
            }
        )
    return answers


def signed_expiry(store: UnifiedStore, request: web.Request) -> int:
    """The expiry a part URL was signed with; 403 SignatureDoesNotMatch when it was not ours."""
    upload_id, number = request.match_info["upload_id"], int(request.match_info["part_number"])
    query: Mapping[str, str] = request.query
    try:
        expires_at = int(query.get("expires_at", ""))
    except ValueError:
        expires_at = -1
    wanted = _signature(store.secret, upload_id, number, expires_at)
    if expires_at < 0 or not hmac.compare_digest(wanted, query.get("sig", "")):
        raise reject(403, "SignatureDoesNotMatch", "The request signature does not match.")
    return expires_at
