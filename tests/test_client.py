"""The API client against a real loopback server: auth headers, 401/429 handling, error mapping."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bulkupload.errors import (
    ApiError,
    ApiUnavailable,
    AuthError,
    NetworkError,
    NotFound,
    ProcoreUnreachable,
    RateLimited,
)
from bulkupload.models import Target
from bulkupload.procore.answers import procore_message, route
from bulkupload.procore.client import ApiClient
from bulkupload.procore.decode import parse_instruction
from bulkupload.procore.ratelimit import RateLimitPacer
from bulkupload.procore.sessions import make_api_session, make_storage_session
from bulkupload.retry import INSTANT, RetryPolicy
from tests.create_upload import create_upload

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Api:
    """A tiny Procore: one handler per test, every request's headers recorded."""

    handler: Handler | None = None
    seen: list[dict[str, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(dict(request.headers))
        assert self.handler is not None
        return await self.handler(request)


class CountingTokens:
    """Hands out token-1, token-2, ... one more per invalidation."""

    def __init__(self) -> None:
        self.n = 1
        self.invalidated: list[str] = []

    async def token(self) -> str:
        return f"token-{self.n}"

    async def invalidate(self, token: str) -> None:
        self.invalidated.append(token)
        if token == f"token-{self.n}":
            self.n += 1


@pytest.fixture
async def api() -> AsyncIterator[tuple[Api, str]]:
    state = Api()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield state, str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with make_api_session(4) as s:
        yield s


def client(
    session: aiohttp.ClientSession,
    base: str,
    tokens: CountingTokens | None = None,
    policy: RetryPolicy = INSTANT,
    pacer: RateLimitPacer | None = None,
) -> ApiClient:
    return ApiClient(
        session,
        base,
        company_id=7,
        tokens=tokens or CountingTokens(),
        policy=policy,
        pacer=pacer,
    )


async def test_success_sends_auth_per_request_only(
    api: tuple[Api, str], session: aiohttp.ClientSession
) -> None:
    state, base = api

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"id": 1, "q": request.query.get("page")}, status=201)

    state.handler = ok
    c = client(session, base)
    answer = await c.request(
        "POST", "/rest/v1.0/projects/42/things", json={"a": 1}, params={"page": "2"}
    )
    assert (answer.status, answer.data) == (201, {"id": 1, "q": "2"})
    assert state.seen[0]["Authorization"] == "Bearer token-1"
    assert state.seen[0]["Procore-Company-Id"] == "7"
    assert "Authorization" not in session.headers
    assert c.stats.calls == 1
    assert c.stats.by_route == {"POST /rest/v1.0/projects/{id}/things": 1}


async def test_401_fetches_a_new_token_once_then_succeeds(
    api: tuple[Api, str], session: aiohttp.ClientSession
) -> None:
    state, base = api

    async def only_token_2(request: web.Request) -> web.Response:
        if request.headers["Authorization"] != "Bearer token-2":
            return web.json_response({"errors": "invalid token"}, status=401)
        return web.Response(status=204)

    state.handler = only_token_2
    tokens = CountingTokens()
    answer = await client(session, base, tokens).request("GET", "/rest/v1.0/me")
    assert (answer.status, answer.data) == (204, None)
    assert tokens.invalidated == ["token-1"]


async def test_401_twice_is_an_auth_error(
    api: tuple[Api, str], session: aiohttp.ClientSession
) -> None:
    state, base = api

    async def never(request: web.Request) -> web.Response:
        return web.Response(status=401)

    state.handler = never
    with pytest.raises(AuthError):
        await client(session, base).request("GET", "/rest/v1.0/me")
    assert len(state.seen) == 2


async def test_429_waits_as_told_then_succeeds(
    api: tuple[Api, str], session: aiohttp.ClientSession
) -> None:
    state, base = api
    calls = 0

    async def limited_once(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return web.json_response(
                {"message": "Too Many Requests"}, status=429, headers={"Retry-After": "1"}
            )
        return web.json_response({"ok": True})

    state.handler = limited_once
    c = client(session, base, policy=RetryPolicy(initial=0.01, maximum=0.01, jitter=0))
    started = time.monotonic()
    answer = await c.request("GET", "/rest/v1.0/companies")
    assert answer.data == {"ok": True}
    assert time.monotonic() - started >= 0.95
    assert (c.stats.rate_limited, c.stats.calls) == (1, 2)  # one 429, one retry


async def test_429_without_retry_after_uses_the_reset_header(
    api: tuple[Api, str], session: aiohttp.ClientSession
) -> None:
    state, base = api
    reset = int(time.time()) + 30

    async def limited(request: web.Request) -> web.Response:
        return web.Response(status=429, headers={"X-Rate-Limit-Reset": str(reset)})

    state.handler = limited
    pacer = RateLimitPacer()
    c = client(session, base, policy=RetryPolicy(attempts=1), pacer=pacer)
    with pytest.raises(RateLimited) as info:
        await c.request("GET", "/rest/v1.0/companies")
    assert info.value.retry_after is not None
    assert 25 < info.value.retry_after <= 30
    assert pacer.delay(time.time()) > 25  # nobody else goes before the reset either
    assert c.stats.errors == 1


async def test_rate_limit_headers_feed_the_pacer(
    api: tuple[Api, str], session: aiohttp.ClientSession
) -> None:
    state, base = api

    async def ok(request: web.Request) -> web.Response:
        return web.json_response(
            [],
            headers={
                "X-Rate-Limit-Limit": "50",
                "X-Rate-Limit-Remaining": "3",
                "X-Rate-Limit-Reset": str(int(time.time()) + 10),
            },
        )

    state.handler = ok
    pacer = RateLimitPacer()
    await client(session, base, pacer=pacer).request("GET", "/rest/v1.0/companies")
    assert pacer.limit == 50
    assert pacer.estimated_remaining() == 3
    assert pacer.delay(time.time()) > 1


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, ApiUnavailable), (503, ApiUnavailable), (404, NotFound), (422, ApiError)],
)
async def test_error_statuses_are_mapped(
    api: tuple[Api, str], session: aiohttp.ClientSession, status: int, error: type[ApiError]
) -> None:
    state, base = api

    async def fail(request: web.Request) -> web.Response:
        return web.json_response({"errors": "nope"}, status=status, headers={"Retry-After": "0"})

    state.handler = fail
    c = client(session, base)
    with pytest.raises(ApiError) as info:
        await c.request("GET", "/rest/v1.0/folders")
    assert type(info.value) is error
    assert (info.value.status, info.value.message) == (status, "nope")
    retried = error is ApiUnavailable
    assert len(state.seen) == (INSTANT.attempts if retried else 1)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"errors": "Name has already been taken"}', "Name has already been taken"),
        (b'{"errors": {"base": ["Folder is locked", "Try later"]}}', "Folder is locked; Try later"),
        (b'{"errors": {"name": ["is invalid"]}}', "name is invalid"),
        (
            b'{"message": "Unprocessable", "error": "bad parent_id"}',
            "Unprocessable (bad parent_id)",
        ),
        (b'{"error": "forbidden"}', "forbidden"),
        (b"<html>\n <body>Bad   Gateway</body></html>", "<html> <body>Bad Gateway</body></html>"),
        (b"", "HTTP 400"),
    ],
)
def test_procore_messages_are_extracted_from_every_body_shape(body: bytes, message: str) -> None:
    assert procore_message(body, "HTTP 400") == message


async def test_unreachable_api_is_a_network_error(session: aiohttp.ClientSession) -> None:
    c = client(session, "http://127.0.0.1:9", policy=RetryPolicy(attempts=2, backoff=False))
    with pytest.raises(NetworkError):
        await c.request("GET", "/rest/v1.0/me")
    assert (c.stats.calls, c.stats.errors) == (2, 1)  # tried twice, failed once for good


async def test_procore_unreachable_takes_two_retry_windows_in_a_row(
    session: aiohttp.ClientSession,
) -> None:
    """One call finding no connection through its retries fails alone (a short outage costs
    that file); a second one asked after it gave up, with nothing answered since, stops the
    run."""
    dead = client(session, "http://127.0.0.1:9", policy=RetryPolicy(attempts=2, backoff=False))
    with pytest.raises(NetworkError) as first:
        await dead.request("GET", "/rest/v1.0/me")
    assert not isinstance(first.value, ProcoreUnreachable)
    with pytest.raises(ProcoreUnreachable, match="cannot reach"):
        await dead.request("GET", "/rest/v1.0/me")


async def test_token_is_never_sent_to_another_host(
    api: tuple[Api, str], session: aiohttp.ClientSession
) -> None:
    state, base = api
    c = client(session, base)
    with pytest.raises(ValueError, match="refusing"):
        await c.request("GET", "@evil.example/steal")
    assert state.seen == []


async def test_sessions_carry_no_default_credentials() -> None:
    for factory in (make_api_session, make_storage_session):
        async with factory(8) as s:
            assert "Authorization" not in s.headers
            assert s.auth is None
            assert s.timeout.total is None
            assert s.connector is not None
            assert s.connector.limit == 12


async def test_create_upload_keeps_the_servers_field_order(
    api: tuple[Api, str], session: aiohttp.ClientSession
) -> None:
    state, base = api
    bodies: list[object] = []
    fields_json = b'{"zeta": "1", "key": "k", "alpha": "2", "x-amz-signature": "s"}'

    async def create(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        return web.Response(
            status=201,
            content_type="application/json",
            body=b'{"uuid": "01J", "url": "https://s3.example/b", "fields": ' + fields_json + b"}",
        )

    state.handler = create
    target = Target("project", 42)
    got = await create_upload(client(session, base), target, name="a.pdf", size=3)
    assert [name for name, _ in got.fields] == ["zeta", "key", "alpha", "x-amz-signature"]
    assert (got.uuid, got.url) == ("01J", "https://s3.example/b")
    assert bodies == [
        {"response_filename": "a.pdf", "response_content_type": "application/pdf", "size": 3}
    ]


async def test_create_upload_without_fields_is_a_clear_error(
    api: tuple[Api, str], session: aiohttp.ClientSession
) -> None:
    state, base = api

    async def broken(request: web.Request) -> web.Response:
        return web.json_response({"uuid": "01J", "url": "https://s3.example/b"}, status=201)

    state.handler = broken
    with pytest.raises(ApiError, match="fields"):
        await create_upload(client(session, base), Target("company", 7), name="a")


@pytest.mark.parametrize(
    "data",
    [None, [], {"url": "u", "fields": {}}, {"uuid": "1", "fields": {}}, {"uuid": "1", "url": "u"}],
)
def test_incomplete_create_upload_answers_are_api_errors(data: object) -> None:
    with pytest.raises(ApiError, match="Create Upload"):
        parse_instruction(201, data)


def test_field_values_are_posted_back_as_text() -> None:
    got = parse_instruction(
        201, {"uuid": "1", "url": "u", "fields": {"a": 5, "b": True, "c": None, "d": "x"}}
    )
    assert got.fields == (("a", "5"), ("b", "true"), ("c", ""), ("d", "x"))


async def test_redirects_are_not_followed_so_the_token_stays_home(
    api: tuple[Api, str], session: aiohttp.ClientSession
) -> None:
    state, base = api
    elsewhere = Api()
    other = web.Application()
    other.router.add_route("*", "/{tail:.*}", elsewhere.handle)
    other_server = TestServer(other, host="127.0.0.1")
    await other_server.start_server()

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(str(other_server.make_url("/steal")))

    state.handler = redirect
    try:
        with pytest.raises(ApiError) as info:
            await client(session, base).request("GET", "/rest/v1.0/me")
    finally:
        await other_server.close()
    assert info.value.status == 302
    assert elsewhere.seen == []


def test_routes_fold_ids_and_drop_queries() -> None:
    assert route("PATCH", "/rest/v1.0/files/123?project_id=42") == "PATCH /rest/v1.0/files/{id}"
    assert route("POST", "/rest/v1.1/projects/42/uploads") == (
        "POST /rest/v1.1/projects/{id}/uploads"
    )


async def test_answers_name_their_call(
    api: tuple[Api, str], session: aiohttp.ClientSession
) -> None:
    state, base = api

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"id": 1}, status=201)

    state.handler = ok
    c = ApiClient(session, base, company_id=1, tokens=CountingTokens(), policy=INSTANT)
    answer = await c.request("POST", "/rest/v1.0/folders", json={"folder": {"name": "a"}})
    assert (answer.status, answer.data, answer.call) == (201, {"id": 1}, "POST /rest/v1.0/folders")
