"""What the Uploads routes keep and look up: new upload ids, the forms Create answered (for
Show), who may see an upload (v2.1 too) and when it is gone, a segmented upload's answer."""

from __future__ import annotations

import json
import os

from aiohttp import web

from .config import CompanyConfig
from .core import Identity, UploadRecord
from .replies import api_error
from .segments import segment_answers
from .state import STATE_KEY

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# What each non-segmented Create Upload answered (url, fields), so Show can answer it again.
FORMS_KEY: web.AppKey[dict[str, tuple[str, dict[str, str]]]] = web.AppKey(
    "emulator_upload_forms", dict
)


def new_ulid(now: float) -> str:
    """A 26-character ULID: 48-bit millisecond time then 80 random bits, Crockford base32."""
    value = (int(now * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


async def json_object(
    request: web.Request, *, max_size: int | None = None
) -> dict[str, object] | None:
    """The request's JSON object body (`{}` when there is none); None when it is not one.

    `max_size` raises the app's body limit (1 MiB: 413 beyond) for a body that needs it. Only
    then is the body read through a copy of the request, which the recorder (it reads the
    original's body, cached, after the handler) cannot see; it records no body that large.
    """
    body: object = {}
    length = request.content_length
    if max_size is not None and length is not None and length > request.client_max_size:
        request = request.clone(client_max_size=max_size)
    if request.can_read_body:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
    return body if isinstance(body, dict) else None


def access_refusal(
    request: web.Request, company_id: int, project_id: int | None, owner: str
) -> tuple[int, str] | None:
    """Why the caller may not use an upload of that scope and owner: (404 or 403, a sentence),
    or None. Another scope's upload is not found; another identity's is forbidden."""
    project = request.match_info.get("project_id")
    scope = int(project) if project is not None else None
    if company_id != request["company_id"] or project_id != scope:
        return 404, "Upload not found."
    identity: Identity = request["identity"]
    if owner != identity.client_id:
        return 403, "This upload belongs to another identity."
    return None


def owned_upload(request: web.Request) -> UploadRecord | web.Response:
    """The upload named in the path, if it was created in this scope by this identity."""
    record = request.app[STATE_KEY].find_upload(request.match_info["uuid"])
    if record is None:
        return api_error(404, "Upload not found.")
    refusal = access_refusal(request, record.company_id, record.project_id, record.owner)
    return record if refusal is None else api_error(*refusal)


def deleted_unattached(request: web.Request, record: UploadRecord) -> bool:
    """Whether Procore has deleted this upload: it was left unattached for a week."""
    return record.deleted_at(request.app[STATE_KEY].clock.now())


def segmented_answer(
    request: web.Request, company: CompanyConfig, record: UploadRecord
) -> dict[str, object]:
    """Create's and Show's answer for a segmented upload: its segments, ETags once received."""
    answers = segment_answers(request, company, record)
    for answer, segment in zip(answers, record.segments, strict=True):
        if segment["etag"] is not None:
            answer["etag"] = segment["etag"]
    status = "complete" if record.stored is not None else "ready"
    return {"uuid": record.uuid, "segments": answers, "status": status}
