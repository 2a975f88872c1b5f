"""Procore's side: OAuth client credentials and the middleware of every API call.

The middleware authenticates `/rest/` and `/vapid/` requests, checks `Procore-Company-Id` against
the path, applies rate limits (headers on every answer), injected faults and latency, and counts
calls by route template. Routes registered by other modules (Uploads, Documents) get all of it.
Its own refusals take v1's `{"errors": ...}` body, except on routes whose family registered
another way to refuse (`add_refuser`: Document Management's v2 body and published statuses).
The limits themselves are counted in `rate_limits`.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from .config import CONFIG_KEY, FAULTS_KEY
from .core import Identity
from .faults import RANDOM_KEY, reset_connection
from .rate_limits import Windows, rate_limit
from .replies import api_error
from .state import STATE_KEY
from .uploads import add_upload_routes

__all__ = [
    "API_STATE_KEY",
    "ApiState",
    "Refuser",
    "add_api_routes",
    "add_refuser",
    "api_middleware",
]

# The shared contract (state.EmulatorState) names these request keys as plain strings; aiohttp
# would warn once per key, so mark them as seen.
web.BaseRequest._seen_str_keys.update({"identity", "company_id"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# A lookahead, not a consumed "/": `/companies/1/projects/200` must yield both scopes.
SCOPE_RE = re.compile(r"/(projects|companies)/(\d+)(?=/|$)")
API_PREFIXES = ("/rest/", "/vapid/")
PLACEHOLDER_RE = re.compile(r"\{[^}]+\}")


@dataclass(slots=True)
class Token:
    client_id: str
    expires: float


@dataclass(slots=True)
class ApiState:
    """Tokens issued and rate-limit windows per identity."""

    tokens: dict[str, Token] = field(default_factory=dict)
    windows: dict[str, Windows] = field(default_factory=dict)


API_STATE_KEY: web.AppKey[ApiState] = web.AppKey("emulator_api_state", ApiState)

# Builds the middleware's refusal (status, sentence) for a family of routes.
Refuser = Callable[[int, str], web.Response]
REFUSERS_KEY: web.AppKey[list[tuple[re.Pattern[str], Refuser]]] = web.AppKey(
    "emulator_refusers", list
)


def add_refuser(app: web.Application, path_pattern: str, refuser: Refuser) -> None:
    """Requests whose path matches `path_pattern` get the middleware's refusals (401, 429,
    injected 5xx, scope) from `refuser`, which may also answer another status."""
    app[REFUSERS_KEY].append((re.compile(path_pattern), refuser))


def _v1_refusal(status: int, message: str) -> web.Response:
    return api_error(status, message)


def _refuser(request: web.Request) -> Refuser:
    for pattern, refuser in request.app[REFUSERS_KEY]:
        if pattern.match(request.path):
            return refuser
    return _v1_refusal


# ---- OAuth ---------------------------------------------------------------------------------


async def oauth_token(request: web.Request) -> web.Response:
    config, state, api = request.app[CONFIG_KEY], request.app[STATE_KEY], request.app[API_STATE_KEY]
    state.counters.oauth_calls += 1
    params: dict[str, str] = {}
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _oauth_error(400, "invalid_request", "Malformed JSON body.")
        if isinstance(body, dict):
            params = {str(k): str(v) for k, v in body.items()}
    else:
        params = {k: str(v) for k, v in (await request.post()).items()}
    if params.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "Only client_credentials is supported.")
    client_id, secret = params.get("client_id", ""), params.get("client_secret", "")
    if not client_id and request.headers.get("Authorization", "").startswith("Basic "):
        import base64

        raw = base64.b64decode(request.headers["Authorization"][6:]).decode()
        client_id, _, secret = raw.partition(":")
    if config.clients.get(client_id) != secret or not client_id:
        return _oauth_error(401, "invalid_client", "Client authentication failed.")
    now = state.clock.now()
    token = os.urandom(24).hex()
    api.tokens[token] = Token(client_id, now + config.token_lifetime)
    return web.json_response(
        {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": int(config.token_lifetime),
            "created_at": int(now),
        }
    )


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


# ---- middleware ----------------------------------------------------------------------------


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(API_PREFIXES):
        return await handler(request)
    app = request.app
    state, faults = app[STATE_KEY], app[FAULTS_KEY]
    counters = state.counters
    counters.api_calls += 1
    resource = request.match_info.route.resource
    template = PLACEHOLDER_RE.sub("{id}", resource.canonical) if resource else request.path
    counters.api_calls_by_route[f"{request.method} {template}"] += 1
    if faults.api_latency:
        await asyncio.sleep(faults.api_latency)
    identity = _authenticate(request)
    caller = identity.client_id if identity else "anonymous"
    limited, headers = rate_limit(
        app[CONFIG_KEY], app[API_STATE_KEY].windows, caller, state.clock.now()
    )
    refuse = _refuser(request)
    if identity is None:
        response: web.StreamResponse = refuse(
            401, "Unauthorized: the access token is missing, invalid or expired."
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="Procore", error="invalid_token"'
    elif limited is not None:
        counters.rate_limited += 1
        response = refuse(429, "Rate limit exceeded.")
        response.headers["Retry-After"] = str(limited)
    elif faults.api_5xx and app[RANDOM_KEY].random() < faults.api_5xx:
        counters.faults_injected["api_5xx"] += 1
        status = app[RANDOM_KEY].choice((500, 503))
        response = refuse(status, "Injected fault: please retry.")
        response.headers["Retry-After"] = str(faults.retry_after)
    else:
        request["identity"] = identity
        scoped = _scope(request)
        if isinstance(scoped, tuple):
            response = refuse(*scoped)
        else:
            request["company_id"] = scoped
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                if exc.status < 400:
                    raise
                response = refuse(exc.status, exc.reason)
            if _answer_lost(request):
                # The work is done; the client sees the connection drop instead of the answer,
                # as when a proxy times out or a connection resets after the server committed.
                counters.faults_injected["api_lost"] += 1
                reset_connection(request)
    response.headers.update(headers)
    return response


def _answer_lost(request: web.Request) -> bool:
    chance = request.app[FAULTS_KEY].api_lost
    return (
        bool(chance)
        and request.path.startswith("/rest/")
        and request.app[RANDOM_KEY].random() < chance
    )


def _authenticate(request: web.Request) -> Identity | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, token_text = auth.partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = request.app[API_STATE_KEY].tokens.get(token_text.strip())
    if token is None or token.expires <= request.app[STATE_KEY].clock.now():
        return None
    return Identity(token.client_id)


def _scope(request: web.Request) -> int | tuple[int, str]:
    """The company id from the header, checked against the project/company in path or query;
    else the refusal (status, sentence)."""
    config = request.app[CONFIG_KEY]
    header = request.headers.get("Procore-Company-Id")
    if header is None or not header.strip():
        return (400, "Procore-Company-Id header is required.")
    try:
        company_id = int(header)
    except ValueError:
        return (400, "Procore-Company-Id header must be an integer.")
    company = config.company(company_id)
    if company is None:
        return (404, f"Company {company_id} not found.")
    scopes = [(m.group(1), int(m.group(2))) for m in SCOPE_RE.finditer(request.path)]
    if "project_id" in request.query:
        try:
            scopes.append(("projects", int(request.query["project_id"])))
        except ValueError:
            return (400, "project_id must be an integer.")
    for kind, ident in scopes:
        if kind == "companies" and ident != company_id:
            if config.company(ident) is None:
                return (404, f"Company {ident} not found.")
            return (403, f"Procore-Company-Id {company_id} does not match company {ident}.")
        if kind == "projects" and ident not in company.projects:
            return (404, f"Project {ident} not found in company {company_id}.")
    return company_id


# ---- routes ----------------------------------------------------------------------------------


def add_api_routes(app: web.Application) -> None:
    app[REFUSERS_KEY] = []
    app.router.add_post("/oauth/token", oauth_token)
    add_upload_routes(app)
