"""Segmented uploads (v1.1): create one with per-segment hashes, complete it with the ETags.

Files over S3's 5 GB single-POST cap go up in segments: Procore answers one signed PUT URL and
header set per segment, and a PATCH with every segment's ETag (in order) assembles the object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bulkupload.errors import ApiError
from bulkupload.models import Target
from bulkupload.procore.client import ApiClient

__all__ = [
    "SegmentPlan",
    "SegmentTarget",
    "complete_segmented_upload",
    "create_segmented_upload",
    "parse_segmented_upload",
]

# Procore publishes `segments` for Create Upload in v1.0 and v1.1 alike; v1.1 is the default.
DEFAULT_API_VERSION = "1.1"


@dataclass(frozen=True, slots=True)
class SegmentPlan:
    """One segment as we describe it to Procore: its size and hex digests."""

    size: int
    sha256: str
    md5: str


@dataclass(frozen=True, slots=True)
class SegmentTarget:
    """Where and how to PUT one segment: the signed `url` and the exact `headers` to send."""

    size: int
    sha256: str
    md5: str
    url: str
    headers: tuple[tuple[str, str], ...]


def _segment_json(plan: SegmentPlan) -> dict[str, object]:
    return {"size": plan.size, "sha256": plan.sha256, "md5": plan.md5}


async def create_segmented_upload(
    api: ApiClient,
    target: Target,
    *,
    filename: str,
    content_type: str,
    segments: Sequence[SegmentPlan],
    api_version: str = DEFAULT_API_VERSION,
) -> tuple[str, list[SegmentTarget]]:
    """POST a segmented Create Upload; return its uuid and one PUT target per segment, in order."""
    if not segments:
        raise ValueError("a segmented upload needs at least one segment")
    body: dict[str, object] = {
        "response_filename": filename,
        "response_content_type": content_type,
        "segments": [_segment_json(plan) for plan in segments],
    }
    answer = await api.request("POST", target.uploads_path(api_version), json=body)
    return parse_segmented_upload(answer.status, answer.data, segments, call=answer.call or None)


def parse_segmented_upload(
    status: int, data: object, plans: Sequence[SegmentPlan], *, call: str | None = None
) -> tuple[str, list[SegmentTarget]]:
    """Turn a segmented Create Upload answer into PUT targets matching `plans` one for one.

    URLs and headers are kept exactly as sent (names, values, order): they are signed.
    """
    if not isinstance(data, dict):
        raise ApiError(status, "Create Upload answered without a JSON object", call=call)
    uuid, answers = data.get("uuid"), data.get("segments")
    if not isinstance(uuid, str) or not uuid:
        raise ApiError(status, "Create Upload answer has no uuid", call=call)
    if not isinstance(answers, list) or len(answers) != len(plans):
        count = len(answers) if isinstance(answers, list) else "no"
        raise ApiError(
            status,
            f"Create Upload answered {count} segments, {len(plans)} were asked for",
            call=call,
        )
    targets = []
    for number, (answer, plan) in enumerate(zip(answers, plans, strict=True), start=1):
        fields = answer if isinstance(answer, dict) else {}
        url, headers = fields.get("url"), fields.get("headers")
        if not isinstance(url, str) or not url:
            raise ApiError(status, f"Create Upload segment {number} has no url", call=call)
        if headers is None:
            headers = {}
        if not isinstance(headers, dict):
            raise ApiError(
                status, f"Create Upload segment {number} has no headers object", call=call
            )
        pairs = tuple((str(name), str(value)) for name, value in headers.items())
        # A size other than ours would make storage reject every byte we send: say so now.
        if fields.get("size", plan.size) != plan.size or any(
            name.lower() == "content-length" and value != str(plan.size) for name, value in pairs
        ):
            raise ApiError(
                status, f"Create Upload segment {number} is not {plan.size} bytes", call=call
            )
        targets.append(
            SegmentTarget(size=plan.size, sha256=plan.sha256, md5=plan.md5, url=url, headers=pairs)
        )
    return uuid, targets


async def complete_segmented_upload(
    api: ApiClient,
    target: Target,
    uuid: str,
    *,
    segments: Sequence[SegmentPlan],
    etags: Sequence[str],
    api_version: str = DEFAULT_API_VERSION,
) -> None:
    """PATCH the upload with every segment's ETag in the original order: storage assembles it."""
    if len(etags) != len(segments):
        raise ValueError(f"{len(segments)} segments but {len(etags)} ETags")
    body = {
        "segments": [
            # Size and hashes alongside each ETag is the form Procore documents as safe.
            {**_segment_json(plan), "etag": etag.strip().strip('"')}
            for plan, etag in zip(segments, etags, strict=True)
        ]
    }
    path = f"{target.uploads_path(api_version)}/{uuid}"
    answer = await api.request("PATCH", path, json=body)
    data = answer.data
    state = data.get("status") if isinstance(data, dict) else None
    if state is not None and state != "complete":
        raise ApiError(
            answer.status, f"segmented upload {uuid} is {state!r}, not complete", call=answer.call
        )
