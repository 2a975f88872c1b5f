"""Procore's side: OAuth client credentials, Create Upload, and the middleware of every API call.

The middleware authenticates `/rest/` and `/vapid/` requests, checks `Procore-Company-Id` against
the path, applies rate limits (headers on every answer), injected faults and latency, and counts
calls by route template. Routes registered by other modules (Documents) get all of it for free.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from .config import CONFIG_KEY, DISABLED_RATE_LIMIT, FAULTS_KEY, CompanyConfig, EmulatorConfig
from .core import STATE_KEY, Identity, UploadRecord
from .policy import PostRequest, content_disposition, presigned_post
from .segments import plan_segments, segment_answers
from .storage import RANDOM_KEY

# The shared contract (core.EmulatorState) names these request keys as plain strings; aiohttp
# would warn once per key, so mark them as seen.
web.BaseRequest._seen_str_keys.update({"identity", "company_id"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SCOPE_RE = re.compile(r"/(projects|companies)/(\d+)(?:/|$)")
API_PREFIXES = ("/rest/", "/vapid/")
PLACEHOLDER_RE = re.compile(r"\{[^}]+\}")
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(slots=True)
class Token:
    client_id: str
    expires: float


@dataclass(slots=True)
class RateWindow:
    """A fixed window opened by the first call after the previous one ended: `count` calls since
    `start`; it resets `length` seconds later (so a short test never straddles two windows)."""

    length: float
    start: float = 0.0
    count: int = 0

    def hit(self, now: float) -> None:
        self.roll(now)
        self.count += 1

    def roll(self, now: float) -> None:
        if now >= self.start + self.length:
            self.start = now
            self.count = 0

    @property
    def reset(self) -> float:
        return self.start + self.length


@dataclass(slots=True)
class ApiState:
    """Tokens issued and rate-limit windows per identity."""

    tokens: dict[str, Token] = field(default_factory=dict)
    windows: dict[str, tuple[RateWindow, RateWindow]] = field(default_factory=dict)


API_STATE_KEY: web.AppKey[ApiState] = web.AppKey("emulator_api_state", ApiState)
# The storage side of Create Upload: returns (url, fields) for a signed POST. Swapped for SeaweedFS.
Signer = Callable[[web.Request, CompanyConfig, PostRequest, float], tuple[str, dict[str, str]]]
SIGNER_KEY: web.AppKey[Signer] = web.AppKey("emulator_signer", object)  # type: ignore[arg-type]


def new_ulid(now: float) -> str:
    """A 26-character ULID: 48-bit millisecond time then 80 random bits, Crockford base32."""
    value = (int(now * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def api_error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"errors": message}, status=status, headers=headers or None)


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
    limited, headers = _rate_limit(request, identity)
    if identity is None:
        response: web.StreamResponse = web.json_response(
            {"errors": "Unauthorized: the access token is missing, invalid or expired."},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="Procore", error="invalid_token"'},
        )
    elif limited is not None:
        counters.rate_limited += 1
        response = api_error(429, "Rate limit exceeded.", **{"Retry-After": str(limited)})
    elif faults.api_5xx and app[RANDOM_KEY].random() < faults.api_5xx:
        counters.faults_injected["api_5xx"] += 1
        status = app[RANDOM_KEY].choice((500, 503))
        response = api_error(
            status, "Injected fault: please retry.", **{"Retry-After": str(faults.retry_after)}
        )
    else:
        request["identity"] = identity
        scoped = _scope(request)
        if isinstance(scoped, web.Response):
            response = scoped
        else:
            request["company_id"] = scoped
            if request.match_info.route.handler is not create_upload:
                await app[STATE_KEY].sync_storage()
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                if exc.status < 400:
                    raise
                response = api_error(exc.status, exc.reason)
    response.headers.update(headers)
    return response


def _authenticate(request: web.Request) -> Identity | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, token_text = auth.partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = request.app[API_STATE_KEY].tokens.get(token_text.strip())
    if token is None or token.expires <= request.app[STATE_KEY].clock.now():
        return None
    return Identity(token.client_id)


def _rate_limit(
    request: web.Request, identity: Identity | None
) -> tuple[int | None, dict[str, str]]:
    """Count the call; return (Retry-After seconds if over a limit, rate-limit headers)."""
    config, api = request.app[CONFIG_KEY], request.app[API_STATE_KEY]
    now = request.app[STATE_KEY].clock.now()
    key = identity.client_id if identity else "anonymous"
    if key not in api.windows:
        api.windows[key] = (RateWindow(3600.0), RateWindow(config.spike_window))
    hourly, spike = api.windows[key]
    hourly.roll(now)
    spike.roll(now)
    candidates = [
        (limit, window)
        for limit, window in ((config.hourly_limit, hourly), (config.spike_limit, spike))
        if limit is not None
    ]
    for limit, window in candidates:
        if window.count >= limit:
            retry = max(1, math.ceil(window.reset - now))
            return retry, _rate_headers(limit, 0, window.reset)
    hourly.hit(now)
    spike.hit(now)
    if not candidates:
        return None, _rate_headers(
            DISABLED_RATE_LIMIT, DISABLED_RATE_LIMIT - hourly.count, hourly.reset
        )
    limit, window = min(candidates, key=lambda c: c[0] - c[1].count)
    return None, _rate_headers(limit, limit - window.count, window.reset)


def _rate_headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "X-Rate-Limit-Limit": str(limit),
        "X-Rate-Limit-Remaining": str(max(0, remaining)),
        "X-Rate-Limit-Reset": str(math.ceil(reset)),
    }


def _scope(request: web.Request) -> int | web.Response:
    """The company id from the header, checked against the project/company in path or query."""
    config = request.app[CONFIG_KEY]
    header = request.headers.get("Procore-Company-Id")
    if header is None or not header.strip():
        return api_error(400, "Procore-Company-Id header is required.")
    try:
        company_id = int(header)
    except ValueError:
        return api_error(400, "Procore-Company-Id header must be an integer.")
    company = config.company(company_id)
    if company is None:
        return api_error(404, f"Company {company_id} not found.")
    scopes = [(m.group(1), int(m.group(2))) for m in SCOPE_RE.finditer(request.path)]
    if "project_id" in request.query:
        try:
            scopes.append(("projects", int(request.query["project_id"])))
        except ValueError:
            return api_error(400, "project_id must be an integer.")
    for kind, ident in scopes:
        if kind == "companies" and ident != company_id:
            if config.company(ident) is None:
                return api_error(404, f"Company {ident} not found.")
            return api_error(
                403, f"Procore-Company-Id {company_id} does not match company {ident}."
            )
        if kind == "projects" and ident not in company.projects:
            return api_error(404, f"Project {ident} not found in company {company_id}.")
    return company_id


# ---- Create Upload ---------------------------------------------------------------------------


async def create_upload(request: web.Request) -> web.Response:
    config, state = request.app[CONFIG_KEY], request.app[STATE_KEY]
    identity: Identity = request["identity"]
    company = config.company(request["company_id"])
    assert company is not None  # the middleware checked it
    v11 = request.path.startswith("/rest/v1.1/")
    body: object = {}
    if request.can_read_body:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return api_error(400, "Request body must be JSON.")
    if not isinstance(body, dict):
        return api_error(400, "Request body must be a JSON object.")
    if isinstance(body.get("upload"), dict):
        body = body["upload"]
        assert isinstance(body, dict)
    segments: list[dict[str, object]] = []
    if "segments" in body:
        if not v11:
            return api_error(422, "Segmented uploads need /rest/v1.1/.")
        try:
            segments = plan_segments(config, body["segments"])
        except ValueError as exc:
            return web.json_response({"errors": {"segments": [str(exc)]}}, status=422)
    filename = body.get("response_filename")
    if filename is not None and not isinstance(filename, str):
        return api_error(400, "response_filename must be a string.")
    if v11 and not filename:
        return web.json_response({"errors": {"response_filename": ["can't be blank"]}}, status=422)
    size = body.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        return api_error(400, "size must be a non-negative integer.")
    if size is not None and size > config.max_upload_size:
        return api_error(422, f"size exceeds the maximum of {config.max_upload_size} bytes.")
    content_type = body.get("response_content_type") or "application/octet-stream"
    attachment = body.get("attachment_content_disposition", True) is not False
    now = state.clock.now()
    uuid = new_ulid(now)
    key = company.key_for(uuid)
    extra: tuple[tuple[str, str], ...] = ()
    if company.variant:
        extra = (("success_action_status", "201"), ("x-amz-meta-upload-uuid", uuid))
    post = PostRequest(
        bucket=company.bucket,
        key=key,
        content_type=str(content_type),
        content_disposition=content_disposition(filename or uuid, attachment=attachment),
        min_size=size if size is not None else 0,
        max_size=size if size is not None else config.max_upload_size,
        extra_fields=extra,
    )
    project = SCOPE_RE.search(request.path)
    record = UploadRecord(
        uuid=uuid,
        owner=identity.client_id,
        company_id=company.id,
        project_id=int(project.group(2)) if project and project.group(1) == "projects" else None,
        created=now,
        expires=now + config.upload_lifetime,
        bucket=company.bucket,
        key=key,
        response_filename=filename,
        size_hint=size if not segments else sum(int(str(seg["size"])) for seg in segments),
        segments=segments,
    )
    if segments:
        state.add_upload(record)
        answers = segment_answers(request, company, record)
        return web.json_response({"uuid": uuid, "segments": answers, "status": "ready"}, status=201)
    url, fields = request.app[SIGNER_KEY](request, company, post, now)
    state.add_upload(record)
    return web.json_response({"uuid": uuid, "url": url, "fields": fields}, status=201)


def local_signer(config: EmulatorConfig) -> Signer:
    """Sign for the emulator's own storage at `{origin}/s3/{bucket}`."""

    def sign(
        request: web.Request, company: CompanyConfig, post: PostRequest, now: float
    ) -> tuple[str, dict[str, str]]:
        session = company.variant
        fields = presigned_post(
            post,
            access_key=config.session_access_key if session else config.access_key,
            secret_key=config.session_secret_key if session else config.secret_key,
            session_token=config.session_token if session else None,
            region=config.region,
            now=now,
            expires_in=config.upload_lifetime,
        )
        return f"{request.url.origin()}/s3/{company.bucket}", fields

    return sign


def add_api_routes(app: web.Application) -> None:
    app.router.add_post("/oauth/token", oauth_token)
    for prefix in ("/rest/v1.1", "/rest/v1.0", "/vapid"):
        app.router.add_post(prefix + "/projects/{project_id:\\d+}/uploads", create_upload)
        app.router.add_post(prefix + "/companies/{company_id:\\d+}/uploads", create_upload)
