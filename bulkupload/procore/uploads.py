"""Create Upload: ask Procore where and how to POST one file's bytes."""

from __future__ import annotations

import time

from bulkupload.errors import ApiError
from bulkupload.models import Target, UploadInstruction
from bulkupload.procore.client import ApiClient

__all__ = ["create_upload", "parse_instruction"]


async def create_upload(
    api: ApiClient,
    target: Target,
    *,
    filename: str,
    content_type: str,
    size: int | None,
    api_version: str = "1.1",
) -> UploadInstruction:
    """POST `target`'s uploads path and return the storage instruction (start it within an hour)."""
    body: dict[str, object] = {
        "response_filename": filename,
        "response_content_type": content_type,
    }
    if size is not None:
        body["size"] = size
    answer = await api.request("POST", target.uploads_path(api_version), json=body)
    return parse_instruction(answer.status, answer.data, call=answer.call or None)


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
