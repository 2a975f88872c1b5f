"""Procore's upload answers decoded into typed records, or an ApiError naming the call.

Nothing in an answer is assumed beyond what Procore publishes: field names and values of a
storage form and signed segment headers are kept exactly as sent, in the server's order.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from bulkupload.errors import ApiError
from bulkupload.state import PartPlan

__all__ = [
    "SegmentTarget",
    "UploadInstruction",
    "parse_instruction",
    "parse_segmented_upload",
]


@dataclass(frozen=True, slots=True)
class UploadInstruction:
    """Procore's answer to Create Upload: where and how to POST the bytes.

    `fields` keeps the server's order; `created` is `time.monotonic()` at creation.
    """

    uuid: str
    url: str
    fields: tuple[tuple[str, str], ...]
    created: float


@dataclass(frozen=True, slots=True)
class SegmentTarget:
    """Where and how to PUT one segment: the signed `url` and the exact `headers` to send."""

    size: int
    sha256: str
    md5: str
    url: str
    headers: tuple[tuple[str, str], ...]


def parse_instruction(status: int, data: object, *, call: str | None = None) -> UploadInstruction:
    """Turn Create Upload's JSON into an instruction, keeping the fields in the server's order.

    Field names and values are never assumed: whatever the server sent is posted back unaltered.
    An unusable answer is an ApiError naming `call`.
    """
    if not isinstance(data, dict):
        raise ApiError(status, "Create Upload answered without a JSON object", call=call)
    uuid, url, fields = data.get("uuid"), data.get("url"), data.get("fields")
    if not isinstance(uuid, str) or not uuid:
        raise ApiError(status, "Create Upload answer has no uuid", call=call)
    if not isinstance(url, str) or not url:
        raise ApiError(status, "Create Upload answer has no url", call=call)
    if not isinstance(fields, dict):
        raise ApiError(status, "Create Upload answer has no fields object", call=call)
    # json.loads keeps the server's order; posting the fields back in it is the safe reading.
    pairs = tuple((str(name), _field_text(value)) for name, value in fields.items())
    return UploadInstruction(uuid=uuid, url=url, fields=pairs, created=time.monotonic())


def _field_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_segmented_upload(
    status: int, data: object, plans: Sequence[PartPlan], *, call: str | None = None
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
