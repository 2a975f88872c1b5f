"""One door to Procore's REST API: auth headers per request, pacing, retries, errors as ours.

The token is added per request, only for the API host, and never as a session default, so no
other request made with the same session (or a storage session) can carry it. The API host must
pass the connection rule (`bulkupload.urls`); TLS verification stays on, and a certificate that
does not verify stops the run instead of being retried. Answers are read up to
`MAX_ANSWER_BYTES`, so answers in flight never hold more than that cap per connection.
"""

from __future__ import annotations

import json as jsonlib
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from bulkupload.errors import (
    AnswerTooLarge,
    ApiError,
    ApiUnavailable,
    AuthError,
    BulkUploadError,
    InsecureApi,
    NetworkError,
    NotFound,
    ProcoreUnreachable,
    RateLimited,
)
from bulkupload.events import ApiPaced, EventBus
from bulkupload.procore.answers import (
    MAX_ANSWER_BYTES,
    error_details,
    procore_message,
    read_capped,
    retry_after_seconds,
    route,
    size_text,
)
from bulkupload.procore.auth import TokenSource
from bulkupload.procore.ratelimit import RateLimitPacer
from bulkupload.procore.unreachable import unreachable
from bulkupload.retry import OnRetry, RetryPolicy, call_with_retries
from bulkupload.urls import tls_failure, url_refusal

__all__ = [
    "MAX_ANSWER_BYTES",
    "ApiClient",
    "ApiRequester",
    "ApiResponse",
    "ApiResponseLike",
    "ApiStats",
]


@dataclass(frozen=True)
class ApiResponse:
    """A successful answer: status, headers, the decoded JSON body (None when empty) and the call
    that got it, as a route template (`POST /rest/v1.0/files`)."""

    status: int
    headers: dict[str, str]
    data: Any
    call: str = ""


class ApiResponseLike(Protocol):
    """What the API client answers: status, headers and the decoded JSON body."""

    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def data(self) -> Any: ...


class ApiRequester(Protocol):
    """The face of `ApiClient` the Documents code uses (tests stand in for it over loopback).

    Errors arrive as exceptions (`ApiError`, `NotFound`, ...) after the client's own retries;
    a call made with `retry=False` is sent once, and `policy` says how its caller retries it.
    """

    @property
    def policy(self) -> RetryPolicy: ...

    def on_retry(self, method: str, path: str) -> OnRetry:
        """What reports a retry of that call (the run's events, as the client's own retries)."""
        ...

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        # dict, not Mapping: a protocol parameter must be no wider than the real client's.
        params: dict[str, str] | None = None,
        retry: bool = True,
    ) -> ApiResponseLike: ...


@dataclass
class ApiStats:
    """Counters for the run summary and benchmarks."""

    calls: int = 0
    rate_limited: int = 0  # 429 answers received
    errors: int = 0  # requests that failed for good
    by_route: Counter[str] = field(default_factory=Counter)  # requests, retries not counted
    sent_by_route: Counter[str] = field(default_factory=Counter)  # exchanges, retries counted
    refused_by_route: Counter[str] = field(default_factory=Counter)  # 4xx/5xx or no answer
    limited_by_route: Counter[str] = field(default_factory=Counter)  # 429s

    def usage(self) -> dict[str, dict[str, int]]:
        """Per route: exchanges, errors and 429s (what Procore's API Call Activity Report
        shows, and what it asks for when an app requests a higher limit)."""
        return {
            call: {
                "calls": sent,
                "errors": self.refused_by_route[call],
                "rate_limited": self.limited_by_route[call],
            }
            for call, sent in sorted(self.sent_by_route.items())
        }


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
        allow_http: bool = False,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        events: EventBus | None = None,
    ) -> None:
        """`allow_http` is the run's `--allow-http`: plain http to a host other than loopback is
        refused (InsecureApi) unless it is set. A success answer over `max_answer_bytes` fails
        its call (AnswerTooLarge). Each retry is an `events` Retried("api") event."""
        self._session = session
        self._base = URL(base_url.rstrip("/"))
        if not self._base.host:
            raise ValueError(f"API base URL has no host: {base_url!r}")
        if (reason := url_refusal(str(self._base), allow_http=allow_http)) is not None:
            raise InsecureApi(
                f"refusing to send the API token to {reason}: use https or --allow-http",
                host=self._base.host,
            )
        self._company_id = company_id
        self._tokens = tokens
        self._policy = policy
        self._pacer = pacer
        if pacer is not None and events is not None:
            pacer.on_hold = lambda wait: events.emit(ApiPaced(wait))
        self._max_answer = max_answer_bytes
        self._answered = float("-inf")  # when an API call last got an answer (monotonic)
        # (asked, gave up) of the first call that found no connection through its retries
        # since the last answer: the second such call after it stops the run.
        self._down: tuple[float, float] | None = None
        self._events = events
        self.stats = ApiStats()

    @property
    def pacer(self) -> RateLimitPacer | None:
        return self._pacer

    @property
    def policy(self) -> RetryPolicy:
        """The run's API call policy (for a caller that retries a call made with retry=False)."""
        return self._policy

    def on_retry(self, method: str, path: str) -> OnRetry:
        call = route(method, path)

        def retried(exc: BaseException) -> None:
            if self._events is not None:
                self._events.retried(self._policy.name, f"{call}: {exc}")

        return retried

    def __repr__(self) -> str:
        return f"ApiClient({str(self._base)!r}, company_id={self._company_id})"

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        params: dict[str, str] | None = None,
        retry: bool = True,
    ) -> ApiResponse:
        """Send one API call (retried under the policy) and return its successful answer.

        `retry=False`: sent once (a fresh token after a 401 aside), for a write Procore does not
        publish as safe to repeat; its caller looks at Procore's state before sending it again.

        The body is `json`, or `form` sent as multipart/form-data with its fields in order (names
        such as `file[name]` go unescaped); not both. Raises AuthError, NotFound, ApiError
        (AnswerTooLarge for a success answer over `MAX_ANSWER_BYTES`), InsecureApi (TLS
        verification failed: never retried), RateLimited/ApiUnavailable/NetworkError when
        retries are exhausted (ProcoreUnreachable, which stops a run, for the second call in a
        row that got no connection, nothing answered since). Every ApiError names the call
        (`.call`).
        """
        if json is not None and form is not None:
            raise ValueError("an API call sends json or form, not both")
        url = URL(str(self._base) + path)
        # The token belongs to Procore: refuse to send it anywhere else (e.g. an absolute path).
        base = self._base
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            raise ValueError(f"refusing to send the API token to {url.host}")
        call = route(method, path)
        self.stats.by_route[call] += 1
        request = _Request(method, url, call, json, form, params)
        asked = time.monotonic()
        try:
            if not retry:
                return await self._authorized(request)
            return await call_with_retries(
                self._policy,
                lambda: self._authorized(request),
                on_retry=self.on_retry(method, path),
            )
        except BulkUploadError as exc:
            self.stats.errors += 1
            if retry and isinstance(exc, NetworkError) and self._procore_down(exc, asked):
                raise ProcoreUnreachable(str(exc), host=exc.host, login=exc.login) from exc
            raise

    def _procore_down(self, exc: NetworkError, asked: float) -> bool:
        """Whether a call asked at `asked` that spent its retries on `exc` shows Procore down:
        not even a connection, nothing answered since an earlier call gave up the same way,
        and this one asked after that, so two retry windows in a row (a reset mid-call may be
        that call's alone, and one window may be a short outage: that file fails, the run
        goes on)."""
        refused = isinstance(exc.__cause__, aiohttp.ClientConnectorError)
        if not refused or self._answered >= asked:
            return False
        down = self._down
        if down is not None and self._answered < down[0] and asked >= down[1]:
            return True
        if down is None or self._answered >= down[0]:
            self._down = (asked, time.monotonic())
        return False

    async def _authorized(self, request: _Request) -> ApiResponse:
        token = await self._tokens.token()
        status, headers, body = await self._send(request, token)
        if status == 401:
            # Expired or revoked: one fresh token, one more try; concurrent 401s fetch once.
            await self._tokens.invalidate(token)
            token = await self._tokens.token()
            status, headers, body = await self._send(request, token)
            if status == 401:
                raise AuthError("Procore rejected a freshly fetched access token (401)")
        return self._answer(request.call, status, headers, body)

    async def _send(
        self, request: _Request, token: str
    ) -> tuple[int, CIMultiDictProxy[str], bytes | None]:
        """One exchange; the body is None when a success answer was over the cap (unread)."""
        ticket = await self._pacer.acquire() if self._pacer is not None else None
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if self._company_id is not None:
            headers["Procore-Company-Id"] = str(self._company_id)
        method, url = request.method, request.url
        try:
            # No redirects: the token must not follow one anywhere.
            async with self._session.request(
                method,
                url,
                json=request.json,
                data=request.form_data(),  # built per attempt: a FormData cannot be re-sent
                params=request.params,
                headers=headers,
                allow_redirects=False,
            ) as resp:
                self._answered = time.monotonic()
                status, answer_headers = resp.status, resp.headers
                body, complete = await read_capped(resp, self._max_answer)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.stats.refused_by_route[request.call] += 1
            if self._pacer is not None:
                self._pacer.forget(ticket)
            if (tls := tls_failure(exc, url.host or "?")) is not None:
                raise InsecureApi(tls, host=url.host or "?") from exc
            raise unreachable(url, exc, call=f"{method} {url.path}") from exc
        except BaseException:  # cancelled: the call may have counted, and has no answer
            if self._pacer is not None:
                self._pacer.forget(ticket)
            raise
        finally:
            self.stats.calls += 1
            self.stats.sent_by_route[request.call] += 1
        if status >= 400:
            self.stats.refused_by_route[request.call] += 1
            if status == 429:
                self.stats.limited_by_route[request.call] += 1
        if self._pacer is not None:
            self._pacer.update(answer_headers, time.time(), ticket=ticket)
        # An error answer's prefix is enough for its message; a success must be whole.
        return status, answer_headers, body if complete or status >= 300 else None

    def _answer(
        self, call: str, status: int, headers: CIMultiDictProxy[str], body: bytes | None
    ) -> ApiResponse:
        if body is None:
            raise AnswerTooLarge(
                status,
                f"the answer is larger than {size_text(self._max_answer)}; not read",
                call=call,
            )
        if 200 <= status < 300:
            try:
                data = jsonlib.loads(body) if body.strip() else None
            except ValueError:
                data = None
            return ApiResponse(status, dict(headers), data, call)
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
            raise RateLimited(status, message, retry_after=wait, call=call)
        if status >= 500:
            raise ApiUnavailable(
                status, message, retry_after=retry_after_seconds(headers), call=call
            )
        details = error_details(body)
        if status == 404:
            raise NotFound(status, message, call=call, details=details)
        raise ApiError(status, message, call=call, details=details)


@dataclass(frozen=True, slots=True)
class _Request:
    """One API call as given: everything an attempt needs to send it again from scratch."""

    method: str
    url: URL
    call: str
    json: Any
    form: Mapping[str, str] | None
    params: dict[str, str] | None

    def form_data(self) -> aiohttp.FormData | None:
        if self.form is None:
            return None
        # quote_fields=False: names like `file[name]` go as written (Rails reads the brackets);
        # aiohttp still escapes quotes and backslashes in them.
        data = aiohttp.FormData(quote_fields=False, default_to_multipart=True)
        for name, value in self.form.items():
            data.add_field(name, value)
        return data
