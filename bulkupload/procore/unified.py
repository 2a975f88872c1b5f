"""Procore's v2.1 Unified File Uploads API: create an upload, ask its status, complete it.

Answers are decoded into typed records or an ApiError naming the call. Part URLs and headers
are opaque: kept exactly as sent, never parsed. Both status vocabularies are understood:
Procore's reference (ready, receiving, scanning, available, failed) and its tutorial's
(`complete` once every part arrived).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bulkupload.errors import ApiError
from bulkupload.models import Target
from bulkupload.state import PartPlan

from .client import ApiClient

__all__ = [
    "DONE",
    "IN_PROGRESS",
    "PartUrl",
    "UnifiedUpload",
    "complete_upload",
    "create_upload",
    "unified_path",
    "upload_status",
]

#: Every part arrived and Procore's processing passed: the upload can be linked.
DONE = "available"
#: Still going: parts being received, or Procore scanning what arrived ("complete": the tutorial).
IN_PROGRESS = frozenset({"ready", "receiving", "scanning", "complete"})
URL_LIFETIME = 3600  # seconds a part URL is asked to last (Procore's maximum)


@dataclass(frozen=True, slots=True)
class PartUrl:
    """Where to PUT one part: the presigned URL, when it expires (Unix s) and the headers to
    send with it verbatim."""

    url: str
    expires_at: float
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class UnifiedUpload:
    """An upload as Procore answered: its id, status, deadline and (while parts may still be
    sent) a URL per part; `error` and `retryable` when it failed."""

    upload_id: str
    status: str
    expires_at: float | None
    parts: tuple[PartUrl, ...]
    error: str | None = None
    retryable: bool = False


def unified_path(target: Target, company_id: int) -> str:
    """The v2.1 uploads collection of a project (under its company) or of a company."""
    if target.kind == "project":
        return f"/rest/v2.1/companies/{company_id}/projects/{target.id}/uploads"
    return f"/rest/v2.1/companies/{target.id}/uploads"


def _decode(status: int, data: Any, call: str | None) -> UnifiedUpload:
    body = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(body, Mapping):
        raise ApiError(status, "v2.1 upload answer has no data object", call=call)
    upload_id, state = body.get("upload_id"), body.get("status")
    if not isinstance(upload_id, str) or not upload_id or not isinstance(state, str):
        raise ApiError(status, "v2.1 upload answer has no upload_id or status", call=call)
    parts = []
    for number, part in enumerate(body.get("segments") or [], start=1):
        url = part.get("url") if isinstance(part, Mapping) else None
        headers = part.get("headers") or {} if isinstance(part, Mapping) else None
        if not isinstance(url, str) or not url or not isinstance(headers, Mapping):
            raise ApiError(status, f"v2.1 upload part {number} has no url or headers", call=call)
        expires = part.get("url_expires_at")
        parts.append(
            PartUrl(
                url,
                float(expires) if isinstance(expires, int | float) else 0.0,
                tuple((str(k), str(v)) for k, v in headers.items()),
            )
        )
    error = body.get("error") if isinstance(body.get("error"), Mapping) else None
    deadline = body.get("upload_expires_at")
    return UnifiedUpload(
        upload_id=upload_id,
        status=state,
        expires_at=float(deadline) if isinstance(deadline, int | float) else None,
        parts=tuple(parts),
        error=str(error.get("message") or error.get("type") or "failed") if error else None,
        retryable=bool(error.get("retryable")) if error else False,
    )


async def create_upload(
    api: ApiClient,
    path: str,
    *,
    file_name: str,
    content_type: str,
    parts: Sequence[PartPlan],
    sha256: str,
    md5: str,
    uploader_tool: str | None,
) -> UnifiedUpload:
    """POST a new upload: each part's size and SHA-256, and the digests known of the rest ("":
    not computed; all optional in the contract); one URL per part back."""
    body: dict[str, object] = {
        "file_name": file_name,
        "file_size": sum(p.size for p in parts),
        "content_type": content_type,
        "segments": [_segment(p) for p in parts],
        "url_expires_in": URL_LIFETIME,
    }
    if sha256:
        body["sha256"] = sha256
    if md5:
        body["md5"] = md5
    if uploader_tool is not None:
        body["uploader_tool_name"] = uploader_tool
    answer = await api.request("POST", path, json=body)
    upload = _decode(answer.status, answer.data, answer.call or None)
    if len(upload.parts) != len(parts):
        raise ApiError(
            answer.status,
            f"v2.1 Create Upload answered {len(upload.parts)} part URLs for {len(parts)} parts",
            call=answer.call or None,
        )
    return upload


def _segment(part: PartPlan) -> dict[str, object]:
    segment: dict[str, object] = {"size": part.size, "sha256": part.sha256}
    if part.md5:
        segment["md5"] = part.md5
    return segment


async def upload_status(api: ApiClient, path: str, upload_id: str) -> UnifiedUpload:
    """GET an upload's status; fresh part URLs while parts may still be sent."""
    answer = await api.request(
        "GET", f"{path}/{upload_id}", params={"url_expires_in": str(URL_LIFETIME)}
    )
    return _decode(answer.status, answer.data, answer.call or None)


async def complete_upload(
    api: ApiClient, path: str, upload_id: str, etags: Sequence[str | None]
) -> str:
    """PATCH the parts' ETags in order (`None`: not sent yet, recorded as progress); returns
    the status Procore answers."""
    body = {"part_etags": [None if e is None else e.strip().strip('"') for e in etags]}
    answer = await api.request("PATCH", f"{path}/{upload_id}", json=body)
    return _decode(answer.status, answer.data, answer.call or None).status
