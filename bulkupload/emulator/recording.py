"""Record what crosses the wire on the API routes, so tests can check it against Procore's contract.

Off by default (`create_app(record=False)`): the demo and the benchmarks pay nothing. When on, the
middleware sits outside the API middleware, so it sees the final answers (401, 429, injected 5xx).
Storage (`/s3/...`, segment PUTs) and the `/_emulator/` admin routes are never recorded: their
bodies stream and S3 is checked elsewhere. Bodies are kept as raw bytes up to `max_body` and
decoded by the reader, so recording costs little on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

__all__ = ["RECORDED_PREFIXES", "RECORDING_KEY", "Exchange", "Recording", "recording_middleware"]

RECORDED_PREFIXES = ("/rest/", "/vapid/", "/oauth/")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
DEFAULT_MAX_BODY = 256 * 1024

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Exchange:
    """One API request and its answer as the client saw them.

    `request_form` holds a form body (field name -> string value; file parts by file name);
    `request_body` the raw bytes of any other body. `status` is None when the answer was lost
    (the connection dropped after the handler ran), and then nothing else about the answer is.
    A body larger than the recording's cap is cut, and its `*_truncated` flag is set; a request
    body that could not be read (the client went away first) is None with `request_unread` set.
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    request_content_type: str | None
    request_body: bytes | None
    request_form: tuple[tuple[str, str], ...] | None
    request_truncated: bool
    status: int | None
    response_headers: tuple[tuple[str, str], ...] = ()
    response_content_type: str | None = None
    response_body: bytes | None = None
    response_truncated: bool = False
    request_unread: bool = False

    @property
    def lost(self) -> bool:
        """The connection was aborted after the handler: the client got no answer."""
        return self.status is None


@dataclass(slots=True)
class Recording:
    """Exchanges in arrival order; `drain()` hands them over (reader and loop may be different
    threads: list appends and slicing under the GIL are enough for one writer, one reader)."""

    max_body: int = DEFAULT_MAX_BODY
    exchanges: list[Exchange] = field(default_factory=list)
    _read: int = 0

    def drain(self) -> list[Exchange]:
        """Exchanges recorded since the last drain."""
        end = len(self.exchanges)
        batch = self.exchanges[self._read : end]
        self._read = end
        return batch


RECORDING_KEY: web.AppKey[Recording] = web.AppKey("emulator_recording", Recording)


@web.middleware
async def recording_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    if not request.path.startswith(RECORDED_PREFIXES):
        return await handler(request)
    recording = request.app[RECORDING_KEY]
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # raised answers are answers too (aiohttp sends them)
        await _record(request, recording, exc)
        raise
    except (asyncio.CancelledError, ConnectionError):
        if _connection_dropped(request):
            await _record(request, recording, None)
        raise
    await _record(request, recording, None if _connection_dropped(request) else response)
    return response


def _form_value(value: object) -> str:
    """A text field as sent; a file part by its file name (its bytes are not the contract's)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    return str(getattr(value, "filename", ""))


def _connection_dropped(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _record(
    request: web.Request, recording: Recording, response: web.StreamResponse | None
) -> None:
    cap = recording.max_body
    body, form, truncated, unread = await _request_body(request, cap)
    exchange = Exchange(
        method=request.method,
        path=request.path,
        query=tuple(request.query.items()),
        request_content_type=request.content_type if request.body_exists else None,
        request_body=body,
        request_form=form,
        request_truncated=truncated,
        status=None if response is None else response.status,
        request_unread=unread,
    )
    if response is not None:
        raw = response.body if isinstance(response, web.Response) else None
        data = bytes(raw) if isinstance(raw, bytes | bytearray) else None
        exchange = _with_answer(exchange, response, data, cap)
    recording.exchanges.append(exchange)


def _with_answer(
    exchange: Exchange, response: web.StreamResponse, data: bytes | None, cap: int
) -> Exchange:
    return Exchange(
        method=exchange.method,
        path=exchange.path,
        query=exchange.query,
        request_content_type=exchange.request_content_type,
        request_body=exchange.request_body,
        request_form=exchange.request_form,
        request_truncated=exchange.request_truncated,
        status=exchange.status,
        response_headers=tuple(response.headers.items()),
        response_content_type=response.content_type,
        response_body=None if data is None else data[:cap],
        response_truncated=data is not None and len(data) > cap,
        request_unread=exchange.request_unread,
    )


async def _request_body(
    request: web.Request, cap: int
) -> tuple[bytes | None, tuple[tuple[str, str], ...] | None, bool, bool]:
    """(raw body, parsed form, truncated, unread). Read after the handler, so its parse is
    reused (aiohttp caches both `read()` and `post()`)."""
    if not request.body_exists:
        return None, None, False, False
    length = request.content_length
    if length is not None and length > cap:
        return None, None, True, False
    try:
        if request.content_type in FORM_TYPES:
            posted = await request.post()
            form = tuple((name, _form_value(value)) for name, value in posted.items())
            return None, form, False, False
        raw = await request.read()
    except (web.HTTPException, ConnectionError, ValueError, asyncio.IncompleteReadError):
        return None, None, False, True
    if length is not None and len(raw) < length:  # the client went away mid-body
        return None, None, False, True
    return raw[:cap], None, len(raw) > cap, False
