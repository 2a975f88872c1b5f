"""Reading Documents request bodies and query options the way Procore's Rails API does.

Writes arrive as multipart/form-data (or urlencoded) with bracketed names (`file[name]`,
`file_version[upload_uuid]`), as published, or as JSON (`{"file": {...}}`). Form values are
strings, so ints and booleans are coerced here; a value that does not coerce is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .model import rejected

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


async def body_of(request: web.Request, root: str) -> dict[str, Any]:
    """The fields under `root` (``file`` → ``file[name]`` or ``{"file": {"name": ...}}``)."""
    if request.content_type in FORM_TYPES:
        # request.post(), not request.multipart(): aiohttp caches the parsed form on the
        # request, and the recording middleware reads it again after the handler.
        posted = await request.post()
        prefix = f"{root}["
        inner: dict[str, Any] = {
            key[len(prefix) : -1]: value
            for key, value in posted.items()
            if key.startswith(prefix) and key.endswith("]")
        }
        if not inner:
            raise rejected(400, f"param is missing or the value is empty: {root}")
        return inner
    try:
        data = await request.json() if request.body_exists else None
    except ValueError:
        raise rejected(400, "body is neither JSON nor a form") from None
    found = data.get(root) if isinstance(data, dict) else None
    if not isinstance(found, dict) or not found:
        raise rejected(400, f"param is missing or the value is empty: {root}")
    return found


def integer(value: Any, what: str) -> int | None:
    """An id from JSON or a form; None or ``""`` mean absent."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise rejected(422, {what: ["is not a number"]})


def flag(value: Any, what: str) -> bool | None:
    """A boolean: JSON true/false, or the strings "true"/"false"/"1"/"0" a form carries."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise rejected(422, {what: ["must be true or false"]})


def text(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    raise rejected(422, {what: ["must be a string"]})


def timestamp(value: Any, what: str) -> float:
    """An ISO 8601 date-time (``...Z`` or with an offset) as Unix seconds."""
    if not isinstance(value, str):
        raise rejected(422, {what: ["must be a date-time"]})
    try:
        stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise rejected(422, {what: ["must be a date-time"]}) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def refuse_data_part(body: Mapping[str, Any]) -> None:
    """The deprecated `data` part (bytes in the request) is not emulated: uploads are."""
    if body.get("data") not in (None, ""):
        raise rejected(
            422, {"data": ["is not supported here; attach a finished upload with upload_uuid"]}
        )


def query_flag(request: web.Request, name: str) -> bool:
    """A boolean query option; anything but true/false/1/0 is a 400."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return False
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise rejected(400, f"{name} must be either true or false")


def query_int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if raw.strip().isdigit():
        return int(raw)
    raise rejected(400, f"{name} must be an integer")
