"""One door to Procore's REST API: auth headers per request, pacing, retries, errors as ours.

The token is added per request, only for the API host, and never as a session default, so no
other request made with the same session (or a storage session) can carry it.
"""

from __future__ import annotations

import json as jsonlib
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from bulkupload.errors import (
    ApiError,
    ApiUnavailable,
    AuthError,
    BulkUploadError,
    NetworkError,
    NotFound,
    RateLimited,
)
from bulkupload.procore.auth import TokenSource
from bulkupload.procore.ratelimit import RateLimitPacer
from bulkupload.retry import RetryPolicy, call_with_retries

__all__ = [
    "ApiClient",
    "ApiResponse",
    "ApiStats",
    "make_api_session",
    "make_storage_session",
    "procore_message",
    "retry_after_seconds",
]

_MESSAGE_LIMIT = 300  # keep one-line messages readable when a proxy answers with a whole page


@dataclass(frozen=True)
class ApiResponse:
    """A successful answer: status, headers and the decoded JSON body (None when empty)."""

    status: int
    headers: dict[str, str]
    data: Any


@dataclass
class ApiStats:
    """Counters for the run summary and benchmarks."""

    calls: int = 0
    rate_limited: int = 0  # 429 answers received
    retries: int = 0
    errors: int = 0  # requests that failed for good
    by_route: Counter[str] = field(default_factory=Counter)


def make_api_session(concurrency: int) -> aiohttp.ClientSession:
    """A session for Procore's API, sized for `concurrency` requests in flight.

    TLS verification stays on; no default headers (the client adds auth per request).
    """
    return _make_session(concurrency)


def make_storage_session(concurrency: int) -> aiohttp.ClientSession:
    """A session for the storage host: never carries Procore credentials."""
    return _make_session(concurrency)


def _make_session(concurrency: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=concurrency + 4, limit_per_host=concurrency + 4)
    # No total timeout: it would count time queued for a connection and kill long uploads.
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, raise_for_status=False)


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


def _route(method: str, path: str) -> str:
    return f"{method} {_ID.sub('/{id}', path)}"


class ApiClient:
    """Procore API requests with auth, rate pacing, retries and error mapping."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        company_id: int | None,
        tokens: TokenSource,
        policy: RetryPolicy,
        pacer: RateLimitPacer | None = None,
    ) -> None:
        self._session = session
        self._base = URL(base_url.rstrip("/"))
        if not self._base.host:
            raise ValueError(f"API base URL has no host: {base_url!r}")
        self._company_id = company_id
        self._tokens = tokens
        self._policy = policy
        self._pacer = pacer
        self.stats = ApiStats()

    def __repr__(self) -> str:
        return f"ApiClient({str(self._base)!r}, company_id={self._company_id})"

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
    ) -> ApiResponse:
        """Send one API call (retried under the policy) and return its successful answer.

        Raises AuthError, NotFound, ApiError, RateLimited/ApiUnavailable/NetworkError when
        retries are exhausted.
        """
        url = URL(str(self._base) + path)
        # The token belongs to Procore: refuse to send it anywhere else (e.g. an absolute path).
        base = self._base
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            raise ValueError(f"refusing to send the API token to {url.host}")
        self.stats.by_route[_route(method, path)] += 1
        try:
            return await call_with_retries(
                self._policy,
                lambda: self._authorized(method, url, json, params),
                on_retry=self._count_retry,
            )
        except BulkUploadError:
            self.stats.errors += 1
            raise

    def _count_retry(self) -> None:
        self.stats.retries += 1

    async def _authorized(
        self, method: str, url: URL, json: Any, params: dict[str, str] | None
    ) -> ApiResponse:
        token = await self._tokens.token()
        status, headers, body = await self._send(method, url, json, params, token)
        if status == 401:
            # Expired or revoked: one fresh token, one more try; concurrent 401s fetch once.
            await self._tokens.invalidate(token)
            token = await self._tokens.token()
            status, headers, body = await self._send(method, url, json, params, token)
            if status == 401:
                raise AuthError("Procore rejected a freshly fetched access token (401)")
        return self._answer(status, headers, body)

    async def _send(
        self, method: str, url: URL, json: Any, params: dict[str, str] | None, token: str
    ) -> tuple[int, CIMultiDictProxy[str], bytes]:
        ticket = await self._pacer.acquire() if self._pacer is not None else None
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if self._company_id is not None:
            headers["Procore-Company-Id"] = str(self._company_id)
        try:
            # No redirects: the token must not follow one anywhere.
            async with self._session.request(
                method, url, json=json, params=params, headers=headers, allow_redirects=False
            ) as resp:
                body = await resp.read()
                status, answer_headers = resp.status, resp.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NetworkError(f"{method} {url.path}: {type(exc).__name__}: {exc}") from exc
        finally:
            self.stats.calls += 1
        if self._pacer is not None:
            self._pacer.update(answer_headers, time.time(), ticket=ticket)
        return status, answer_headers, body

    def _answer(self, status: int, headers: CIMultiDictProxy[str], body: bytes) -> ApiResponse:
        if 200 <= status < 300:
            try:
                data = jsonlib.loads(body) if body.strip() else None
            except ValueError:
                data = None
            return ApiResponse(status, dict(headers), data)
        message = procore_message(body, f"HTTP {status}")
        if status == 429:
            self.stats.rate_limited += 1
            wait = retry_after_seconds(headers)
            if wait is None and (reset := headers.get("X-Rate-Limit-Reset")) is not None:
                try:
                    wait = max(float(reset) - time.time(), 0.0)
                except ValueError:
                    wait = None
            if self._pacer is not None:
                self._pacer.note_429(wait if wait is not None else 1.0, time.time())
            raise RateLimited(status, message, retry_after=wait)
        if status >= 500:
            raise ApiUnavailable(status, message, retry_after=retry_after_seconds(headers))
        if status == 404:
            raise NotFound(status, message)
        raise ApiError(status, message)
