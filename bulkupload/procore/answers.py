"""Reading Procore's answers: bodies with a size cap, error messages, waits and call names.

Every API answer is at most `MAX_ANSWER_BYTES`: the memory an answer can take is then bounded by
that cap times the requests in flight (the connector's limit), whatever a server sends.
"""

from __future__ import annotations

import json as jsonlib
import re

import aiohttp
from multidict import CIMultiDictProxy

__all__ = [
    "MAX_ANSWER_BYTES",
    "MAX_STORAGE_ANSWER_BYTES",
    "error_details",
    "procore_message",
    "read_capped",
    "retry_after_seconds",
    "route",
    "size_text",
]

#: Procore's largest answers (a folder listing with thousands of files) stay well below this.
MAX_ANSWER_BYTES = 8 << 20
#: Storage answers are empty or a short XML document; only an error message is read from them.
MAX_STORAGE_ANSWER_BYTES = 64 << 10

_CHUNK = 64 << 10


async def read_capped(resp: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """The answer's body and whether it was complete; at most `limit` bytes are ever held.

    An answer that declares more than `limit` (Content-Length) is not read at all; one without a
    length is read in chunks and dropped at the first byte past `limit` (a short prefix is kept
    for an error message). Leaving the rest unread makes aiohttp close that connection.
    """
    declared = resp.content_length
    if declared is not None and declared > limit:
        return b"", False
    # A list of chunks, not a growing bytearray: no over-allocation past the cap.
    chunks: list[bytes] = []
    held = 0
    while True:
        chunk = await resp.content.read(min(_CHUNK, limit + 1 - held))
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        held += len(chunk)
        if held > limit:
            return chunks[0][:_CHUNK], False


_MESSAGE_LIMIT = 300  # keep one-line messages readable when a proxy answers with a whole page


def retry_after_seconds(headers: CIMultiDictProxy[str] | dict[str, str]) -> float | None:
    """`Retry-After` in seconds, when the server sent it as a number."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None  # an HTTP date: rare enough to fall back to our own backoff


def procore_message(body: bytes, fallback: str) -> str:
    """Procore's error message from any of its body shapes, as one line."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data: object = jsonlib.loads(text) if text else None
    except ValueError:
        data = None
    message = _message_from_json(data) if data is not None else text
    message = " ".join(message.split())
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 1] + "…"
    return message or fallback


def _message_from_json(data: object) -> str:
    if isinstance(data, str):
        return data
    if isinstance(data, list):
        return "; ".join(_message_from_json(item) for item in data)
    if not isinstance(data, dict):
        return jsonlib.dumps(data)
    errors = data.get("errors")
    if isinstance(errors, dict):
        parts = []
        for key, value in errors.items():
            text = _message_from_json(value)
            parts.append(text if key == "base" else f"{key} {text}")
        return "; ".join(parts)
    if errors:
        return _message_from_json(errors)
    message, error = data.get("message"), data.get("error")
    if message and error and message != error:
        return f"{_message_from_json(message)} ({_message_from_json(error)})"
    if message or error:
        return _message_from_json(message or error)
    return jsonlib.dumps(data)


_ID = re.compile(r"/\d+")


def route(method: str, path: str) -> str:
    """The call as a route template, ids folded: `PATCH /rest/v1.0/files/{id}`."""
    return f"{method} {_ID.sub('/{id}', path.split('?', 1)[0])}"


def size_text(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n} bytes"


def error_details(body: bytes) -> tuple[dict[str, object], ...]:
    """The structured part of a v2 error body (`{"error": {"code", "details": [...]}}`): each
    detail object, and the error's own `code` as a detail's `reason_code` when it has none."""
    try:
        data = jsonlib.loads(body) if body.strip() else None
    except ValueError:
        return ()
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return ()
    details = [dict(d) for d in error.get("details") or [] if isinstance(d, dict)]
    code = error.get("code")
    if isinstance(code, str) and code and not any("reason_code" in d for d in details):
        details.append({"reason_code": code})
    return tuple(details)
