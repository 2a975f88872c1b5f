"""What the Uploads routes keep and look up: new upload ids, the forms Create answered (for
Show), who may see an upload and when it is gone, a segmented upload's answer."""

from __future__ import annotations

import os

from aiohttp import web

from .config import CompanyConfig
from .core import UNATTACHED_LIFETIME, Identity, UploadRecord
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


def owned_upload(request: web.Request) -> UploadRecord | web.Response:
    """The upload named in the path, if it was created in this scope by this identity."""
    state = request.app[STATE_KEY]
    identity: Identity = request["identity"]
    record = state.find_upload(request.match_info["uuid"])
    project = request.match_info.get("project_id")
    scope = int(project) if project is not None else None
    if record is None or record.company_id != request["company_id"] or record.project_id != scope:
        return api_error(404, "Upload not found.")
    if record.owner != identity.client_id:
        return api_error(403, "This upload belongs to another identity.")
    return record


def deleted_unattached(request: web.Request, record: UploadRecord) -> bool:
    """Whether Procore has deleted this upload: it was left unattached for a week."""
    now = request.app[STATE_KEY].clock.now()
    return record.attached_to is None and now - record.created > UNATTACHED_LIFETIME


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
