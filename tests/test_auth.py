"""Tokens: client credentials against a real loopback login server, renewal, single flight."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bulkupload.errors import AuthError, NetworkError
from bulkupload.procore.auth import ClientCredentials, StaticToken

SECRET = "s3cret-value"


@dataclass
class Login:
    """A login server that counts the tokens it issues."""

    expires_in: float = 5400
    issued: int = 0
    forms: list[dict[str, str]] = field(default_factory=list)
    # When set, each answer waits for `gate`; `entered` is set once a request is in.
    gate: asyncio.Event | None = None
    entered: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.forms.append(form)
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if form.get("client_secret") != SECRET or form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "invalid_client"}, status=401)
        self.issued += 1
        return web.json_response(
            {
                "access_token": f"token-{self.issued}",
                "token_type": "bearer",
                "expires_in": self.expires_in,
            }
        )


@pytest.fixture
async def login() -> AsyncIterator[tuple[Login, str, aiohttp.ClientSession]]:
    state = Login()
    app = web.Application()
    app.router.add_post("/oauth/token", state.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield state, str(server.make_url("")), session
    await server.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_token_is_fetched_once_and_cached(
    login: tuple[Login, str, aiohttp.ClientSession],
) -> None:
    state, url, session = login
    creds = ClientCredentials(session, url, "id-1", SECRET)
    assert await creds.token() == "token-1"
    assert await creds.token() == "token-1"
    assert state.issued == 1
    assert state.forms[0] == {
        "grant_type": "client_credentials",
        "client_id": "id-1",
        "client_secret": SECRET,
    }


async def test_concurrent_callers_share_one_fetch(
    login: tuple[Login, str, aiohttp.ClientSession],
) -> None:
    state, url, session = login
    state.gate = asyncio.Event()
    creds = ClientCredentials(session, url, "id-1", SECRET)
    callers = asyncio.gather(*(creds.token() for _ in range(20)))
    await state.entered.wait()  # the first fetch is at the server, held: every caller has asked
    state.gate.set()
    tokens = await callers
    assert set(tokens) == {"token-1"}
    assert state.issued == 1


async def test_short_lived_token_is_renewed_before_expiry(
    login: tuple[Login, str, aiohttp.ClientSession],
) -> None:
    state, url, session = login
    state.expires_in = 3
    clock = FakeClock()
    creds = ClientCredentials(session, url, "id-1", SECRET, clock=clock)
    assert await creds.token() == "token-1"
    clock.now += 2.6
    assert await creds.token() == "token-1"
    clock.now += 0.2  # 2.8 s into a 3 s lifetime: inside the 10 % margin
    assert await creds.token() == "token-2"


async def test_long_lived_token_is_renewed_five_minutes_early(
    login: tuple[Login, str, aiohttp.ClientSession],
) -> None:
    _, url, session = login
    clock = FakeClock()
    creds = ClientCredentials(session, url, "id-1", SECRET, clock=clock)
    await creds.token()
    clock.now += 5400 - 301
    assert await creds.token() == "token-1"
    clock.now += 2
    assert await creds.token() == "token-2"


async def test_concurrent_401s_for_one_token_fetch_once(
    login: tuple[Login, str, aiohttp.ClientSession],
) -> None:
    state, url, session = login
    creds = ClientCredentials(session, url, "id-1", SECRET)
    old = await creds.token()

    async def rejected() -> str:
        await creds.invalidate(old)
        return await creds.token()

    tokens = await asyncio.gather(*(rejected() for _ in range(10)))
    assert set(tokens) == {"token-2"}
    await creds.invalidate(old)  # a late 401 for the old token changes nothing
    assert await creds.token() == "token-2"
    assert state.issued == 2


async def test_wrong_secret_is_a_one_line_auth_error_without_the_secret(
    login: tuple[Login, str, aiohttp.ClientSession],
) -> None:
    _, url, session = login
    creds = ClientCredentials(session, url, "id-1", "wrong-secret")
    with pytest.raises(AuthError) as info:
        await creds.token()
    assert "\n" not in str(info.value)
    assert "401" in str(info.value)
    assert "wrong-secret" not in str(info.value)


async def test_unreachable_login_server_is_a_network_error() -> None:
    async with aiohttp.ClientSession() as session:
        creds = ClientCredentials(session, "http://127.0.0.1:9", "id-1", SECRET)
        with pytest.raises(NetworkError):
            await creds.token()


async def test_reprs_hide_secrets(login: tuple[Login, str, aiohttp.ClientSession]) -> None:
    _, url, session = login
    creds = ClientCredentials(session, url, "id-1", SECRET)
    token = await creds.token()
    for text in (repr(creds), str(creds), repr(StaticToken("tok-abc"))):
        assert SECRET not in text
        assert token not in text
        assert "tok-abc" not in text


async def test_static_token_cannot_recover_from_401() -> None:
    static = StaticToken("tok-abc")
    assert await static.token() == "tok-abc"
    with pytest.raises(AuthError, match="rejected"):
        await static.invalidate("tok-abc")
