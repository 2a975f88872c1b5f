"""Access tokens for Procore's API: a fixed token, or OAuth client credentials renewed early.

Tokens and secrets never appear in reprs, logs or error messages. The login URL passes the same
connection rule as every other (`bulkupload.urls`), redirects are not followed (the secret would
follow them), and the token answer is read up to `MAX_ANSWER_BYTES`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Protocol

import aiohttp

from bulkupload.errors import ApiUnavailable, AuthError, InsecureApi
from bulkupload.procore.answers import MAX_ANSWER_BYTES, read_capped
from bulkupload.procore.unreachable import unreachable
from bulkupload.urls import tls_failure, url_host, url_refusal

__all__ = ["ClientCredentials", "StaticToken", "TokenSource"]

_DEFAULT_LIFETIME = 5400.0  # Procore's documented expires_in, used when the answer omits it


class TokenSource(Protocol):
    """Where the API client gets its bearer token."""

    async def token(self) -> str:
        """A token that is valid now (fetched or renewed if needed)."""
        ...

    async def invalidate(self, token: str) -> None:
        """`token` got a 401: the next `token()` must not return it."""
        ...


class StaticToken:
    """A token given by the user; it cannot be renewed, so a 401 is final."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "StaticToken(<hidden>)"

    async def token(self) -> str:
        """The token as given."""
        return self._token

    async def invalidate(self, token: str) -> None:
        """A fixed token that was rejected cannot be replaced: stop the run."""
        raise AuthError("the access token was rejected (401)")


class ClientCredentials:
    """OAuth `client_credentials` grant (Procore service accounts), cached and renewed early.

    A token is renewed when less than min(`renew_margin`, 10 % of its lifetime) is left, so even
    a lifetime of a few seconds is renewed in time. Concurrent callers share one fetch.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        login_url: str,
        client_id: str,
        client_secret: str,
        *,
        renew_margin: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        allow_http: bool = False,
    ) -> None:
        """`allow_http` is the run's `--allow-http`: plain http to a login host other than
        loopback is refused (InsecureApi) unless it is set."""
        if (reason := url_refusal(login_url, allow_http=allow_http)) is not None:
            raise InsecureApi(
                f"refusing to send the client secret to {reason}: use https or --allow-http",
                host=url_host(login_url),
            )
        self._session = session
        self._url = login_url.rstrip("/") + "/oauth/token"
        self._client_id = client_id
        self._client_secret = client_secret
        self._renew_margin = renew_margin
        self._clock = clock
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    def __repr__(self) -> str:
        return f"ClientCredentials(url={self._url!r}, client_id={self._client_id!r})"

    def _fresh(self) -> str | None:
        if self._token is not None and self._clock() < self._renew_at:
            return self._token
        return None

    async def token(self) -> str:
        """The cached token, or a new one when it is missing, rejected or close to expiry."""
        if (token := self._fresh()) is not None:
            return token
        async with self._lock:
            # Another caller may have fetched while this one waited for the lock.
            if (token := self._fresh()) is not None:
                return token
            return await self._fetch()

    async def invalidate(self, token: str) -> None:
        """Forget `token` if it is still the cached one (many 401s for it cause one fetch)."""
        if token == self._token:
            self._token = None

    async def _fetch(self) -> str:
        # multipart/form-data, as Procore's OAuth pages send it (`curl -F`); the contract
        # publishes JSON and multipart, not urlencoded.
        form = aiohttp.FormData(default_to_multipart=True)
        form.add_field("grant_type", "client_credentials")
        form.add_field("client_id", self._client_id)
        form.add_field("client_secret", self._client_secret)
        started = self._clock()
        try:
            async with self._session.post(self._url, data=form, allow_redirects=False) as resp:
                status = resp.status
                raw, complete = await read_capped(resp, MAX_ANSWER_BYTES)
        except (aiohttp.ClientError, TimeoutError) as exc:
            host = url_host(self._url)
            if (tls := tls_failure(exc, host)) is not None:
                raise InsecureApi(tls, host=host) from exc
            raise unreachable(self._url, exc, login=True) from exc
        if status < 300 and not complete:
            raise AuthError(
                f"the login server's answer to POST /oauth/token is larger than "
                f"{MAX_ANSWER_BYTES >> 20} MiB; not read"
            )
        try:
            body: object = json.loads(raw) if status < 300 and raw.strip() else None
        except ValueError as exc:  # a body that is not JSON
            raise AuthError("the login server answered with something other than JSON") from exc
        self.fetches += 1
        if status in (400, 401, 403):
            raise AuthError(f"Procore refused the client id/secret ({status})")
        if status >= 500:
            raise ApiUnavailable(status, "the login server is unavailable")
        if status >= 300 or not isinstance(body, dict):
            raise AuthError(f"unexpected answer from the login server ({status})")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthError("the login server's answer holds no access_token")
        lifetime = body.get("expires_in", _DEFAULT_LIFETIME)
        if not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = _DEFAULT_LIFETIME
        margin = min(self._renew_margin, 0.1 * float(lifetime))
        self._token = token
        self._renew_at = started + float(lifetime) - margin
        return token
