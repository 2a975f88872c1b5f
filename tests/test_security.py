"""What bulkupload refuses: plain http off loopback, TLS that does not verify, oversized answers.

Everything runs on 127.0.0.1. URLs on `storage.example.invalid` cannot resolve, and the storage
sessions used here carry a resolver that records and refuses every lookup, so a refused URL is
proven never to have been looked up or connected to.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

import bulkupload
from bulkupload import cli, runner
from bulkupload.config import check_url
from bulkupload.emulator.server import RunningEmulator
from bulkupload.errors import (
    AnswerTooLarge,
    ApiError,
    AuthError,
    ConfigError,
    InsecureApi,
)
from bulkupload.models import FileEntry, Target
from bulkupload.procore.answers import MAX_ANSWER_BYTES
from bulkupload.procore.auth import ClientCredentials, StaticToken
from bulkupload.procore.client import ApiClient
from bulkupload.procore.sessions import make_api_session
from bulkupload.retry import INSTANT
from bulkupload.urls import url_refusal
from tests.create_upload import planned, post_protocol
from tests.trees import manifest_rel, read_manifest

MIB = 1 << 20
TARGET = Target("project", 42)
INVALID_HOST = "storage.example.invalid"


# ── helpers ───────────────────────────────────────────────────────────────────────────────
class RefusingResolver(AbstractResolver):
    """Records every lookup and answers none: a name never resolves, nothing leaves the host."""

    def __init__(self, lookups: list[str]) -> None:
        self.lookups = lookups

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        raise OSError(f"test resolver: no lookups allowed ({host})")

    async def close(self) -> None:
        return None


@dataclass
class ConnectionSpy:
    """Storage sessions that record lookups, connection attempts and the headers of each request."""

    lookups: list[str] = field(default_factory=list)
    connects: int = 0
    sent: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def session(self, concurrency: int = 4) -> aiohttp.ClientSession:
        trace = aiohttp.TraceConfig()

        async def on_connect(*_: object) -> None:
            self.connects += 1

        async def on_headers(_s: object, _c: object, params: Any) -> None:
            self.sent.append((params.method, dict(params.headers)))

        trace.on_connection_create_start.append(on_connect)
        trace.on_request_headers_sent.append(on_headers)
        connector = aiohttp.TCPConnector(
            resolver=RefusingResolver(self.lookups), limit=concurrency + 4
        )
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300)
        return aiohttp.ClientSession(connector=connector, timeout=timeout, trace_configs=[trace])


class ServedApp:
    """An aiohttp app on 127.0.0.1 in its own thread (the CLI under test runs its own loop)."""

    def __init__(self, app: web.Application, ssl_context: ssl.SSLContext | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ssl_context)
        self._loop.run_until_complete(site.start())
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.port = int(server.sockets[0].getsockname()[1])
        self.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def __enter__(self) -> ServedApp:
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()


def proxy_app(upstream: RunningEmulator, *, storage_origin: str | None = None) -> web.Application:
    """Procore as seen through a different name: the emulator signs storage URLs for the Host it
    is asked under, so it hands out `http://storage.example.invalid:PORT/...`; `storage_origin`
    replaces that origin in every answer (a Create Upload naming some other storage host)."""
    seen_as = f"{INVALID_HOST}:{upstream.base_url.rsplit(':', 1)[1]}"
    hop = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}

    async def forward(request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in hop}
        headers["Host"] = seen_as
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method,
                upstream.base_url + request.path_qs,
                headers=headers,
                data=await request.read(),
                allow_redirects=False,
            ) as answer,
        ):
            body = await answer.read()
            back = {k: v for k, v in answer.headers.items() if k.lower() not in hop | {"date"}}
        if storage_origin is not None:
            body = body.replace(f"http://{seen_as}".encode(), storage_origin.encode())
        return web.Response(status=answer.status, body=body, headers=back)

    app = web.Application(client_max_size=64 * MIB)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str
    records: list[dict[str, Any]]
    seconds: float


def run_cli(api: str, src: Path, work: Path, emulator: RunningEmulator, *flags: str) -> CliRun:
    manifest = work / "manifest.jsonl"
    argv = [
        *("--base-url", api, "--login-url", api, "--project", "42"),
        *("--manifest", str(manifest), "--state", str(work / "state.sqlite")),
        *("--progress", "none", "--no-attach", "--retries", "3", str(src), *flags),
    ]
    env = {
        "PROCORE_CLIENT_ID": emulator.client_id,
        "PROCORE_CLIENT_SECRET": emulator.client_secret,
        "PROCORE_COMPANY_ID": "1",
    }
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run(argv, env)
    seconds = time.monotonic() - started
    records = read_manifest(manifest) if manifest.exists() else []
    return CliRun(code, out.getvalue(), err.getvalue(), records, seconds)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> ConnectionSpy:
    """The run's storage session, spied on (the API session stays the real one)."""
    found = ConnectionSpy()
    monkeypatch.setattr(runner, "make_storage_session", found.session)
    return found


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1 (trusted by nobody)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    where = tmp_path_factory.mktemp("tls")
    key, cert = where / "key.pem", where / "cert.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
def tls_server(self_signed: ssl.SSLContext) -> Iterator[tuple[ServedApp, list[str]]]:
    """A TLS server that would accept anything; `hits` lists requests that got through."""
    hits: list[str] = []

    async def anything(request: web.Request) -> web.Response:
        hits.append(f"{request.method} {request.path}")
        return web.Response(status=204, headers={"ETag": '"x"'})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    with ServedApp(app, ssl_context=self_signed) as served:
        yield served, hits


def small_tree(tmp_path: Path, size: int = 1000) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "report.pdf").write_bytes(b"%PDF" + bytes(size - 4))
    return src


def api_client(session: Any, base: str | TestServer, **options: Any) -> ApiClient:
    """A client with a fixed token and retries that never sleep."""
    url = base if isinstance(base, str) else str(base.make_url("")).rstrip("/")
    return ApiClient(session, url, company_id=1, tokens=StaticToken("t"), policy=INSTANT, **options)


def entry_for(path: Path) -> FileEntry:
    st = path.stat()
    return FileEntry(path=str(path), rel=path.name, size=st.st_size, mtime_ns=st.st_mtime_ns)


# ── the one rule ──────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    ("url", "allow_http", "refused"),
    [
        ("https://api.procore.com", False, False),
        ("http://127.0.0.1:9000/s3/b", False, False),
        ("http://[::1]:9000/", False, False),
        ("http://localhost/x", False, False),
        (f"http://{INVALID_HOST}/bucket?X-Amz-Signature=secret", False, True),
        (f"http://{INVALID_HOST}/bucket", True, False),
        ("ftp://files.example.invalid/x", True, True),
        ("https:///no-host", False, True),
    ],
)
def test_one_rule_for_every_url(url: str, allow_http: bool, refused: bool) -> None:
    reason = url_refusal(url, allow_http=allow_http)
    assert (reason is not None) == refused
    if reason is not None:
        assert "secret" not in reason  # a signed query never reaches a message
    # The settings check is the same rule, worded for the token.
    if refused:
        with pytest.raises(ConfigError):
            check_url(url, allow_http=allow_http)
    else:
        check_url(url, allow_http=allow_http)


def test_api_and_login_hosts_pass_the_rule_before_any_connection() -> None:
    session = SimpleNamespace()  # never used: the refusal comes first
    with pytest.raises(InsecureApi, match=re.escape("plain http to api.example.invalid")):
        api_client(session, "http://api.example.invalid")
    with pytest.raises(InsecureApi, match=re.escape("plain http to login.example.invalid")):
        ClientCredentials(session, "http://login.example.invalid", "id", "secret")  # type: ignore[arg-type]
    # --allow-http lets them through (nothing is connected by constructing).
    api_client(session, "http://api.example.invalid", allow_http=True)
    ClientCredentials(session, "http://login.example.invalid", "i", "s", allow_http=True)  # type: ignore[arg-type]


def test_tls_verification_is_never_switched_off() -> None:
    source = Path(bulkupload.__file__).parent
    pattern = re.compile(r"ssl\s*=\s*False|verify_ssl|CERT_NONE|check_hostname\s*=\s*False")
    offenders = [
        str(path.relative_to(source))
        for path in source.rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


# ── storage URLs ──────────────────────────────────────────────────────────────────────────
def test_plain_http_storage_from_create_upload_fails_the_file_at_once(
    emulator: RunningEmulator, spy: ConnectionSpy, tmp_path: Path
) -> None:
    src = small_tree(tmp_path)
    with ServedApp(proxy_app(emulator)) as api:
        run = run_cli(api.url, src, tmp_path, emulator)
    assert run.code == 1, run.stderr
    [record] = run.records
    assert manifest_rel(record) == "report.pdf"
    assert record["status"] == "failed"
    assert (
        f"refusing to send file bytes over plain http to {INVALID_HOST}: "
        "use https or --allow-http" in record["error"]
    )
    assert record["attempts"] == 1
    assert ", 0 retries" in run.stdout
    assert (spy.lookups, spy.connects, spy.sent) == ([], 0, [])
    assert emulator.counters()["storage_requests"] == 0


def test_plain_http_segment_urls_fail_the_file_before_any_put(
    make_emulator: Callable[..., RunningEmulator], spy: ConnectionSpy, tmp_path: Path
) -> None:
    emulator = make_emulator(min_segment_size=5 * MIB)
    src = small_tree(tmp_path, 6 * MIB)
    with ServedApp(proxy_app(emulator)) as api:
        run = run_cli(
            api.url,
            src,
            tmp_path,
            emulator,
            "--segment-threshold",
            "1MiB",
            "--segment-size",
            "5MiB",
        )
    assert run.code == 1, run.stderr
    [record] = run.records
    assert record["status"] == "failed"
    assert f"over plain http to {INVALID_HOST}" in record["error"]
    assert record["attempts"] == 1
    assert ", 0 retries" in run.stdout
    assert (spy.lookups, spy.connects, spy.sent) == ([], 0, [])
    assert len(emulator.uploads()) == 1  # the segmented upload was created, never fed
    assert emulator.counters()["storage_requests"] == 0


def test_self_signed_storage_fails_the_file_after_one_attempt(
    emulator: RunningEmulator,
    spy: ConnectionSpy,
    tls_server: tuple[ServedApp, list[str]],
    tmp_path: Path,
) -> None:
    storage, hits = tls_server
    src = small_tree(tmp_path)
    with ServedApp(proxy_app(emulator, storage_origin=storage.url)) as api:
        run = run_cli(api.url, src, tmp_path, emulator)
    assert run.code == 1, run.stderr
    [record] = run.records
    assert record["status"] == "failed"
    assert "TLS certificate verification failed for 127.0.0.1" in record["error"]
    assert "bulkupload never disables verification" in record["error"]
    assert record["attempts"] == 1
    assert ", 0 retries" in run.stdout
    assert spy.connects == 1  # one handshake, no second try
    assert hits == []  # no request got past the handshake
    assert run.seconds < 20


# ── the API and login hosts over TLS ──────────────────────────────────────────────────────
async def test_self_signed_api_is_a_fatal_tls_error_not_retried(
    tls_server: tuple[ServedApp, list[str]],
) -> None:
    server, hits = tls_server
    async with make_api_session(4) as session:
        api = api_client(session, server.url)
        with pytest.raises(
            InsecureApi, match=re.escape("TLS certificate verification failed for 127.0.0.1")
        ):
            await api.request("GET", "/rest/v1.0/me")
        assert (api.stats.calls, hits) == (1, [])  # one call: never retried
        tokens = ClientCredentials(session, server.url, "id", "secret")
        with pytest.raises(InsecureApi, match="never disables verification"):
            await tokens.token()
    assert hits == []


def test_self_signed_api_ends_the_run_with_exit_2(
    emulator: RunningEmulator, tls_server: tuple[ServedApp, list[str]], tmp_path: Path
) -> None:
    server, _ = tls_server
    run = run_cli(server.url, small_tree(tmp_path), tmp_path, emulator)
    assert run.code == 2
    assert "TLS certificate verification failed for 127.0.0.1" in run.stderr
    assert run.seconds < 20


def test_https_to_a_plain_http_server_is_a_handshake_error_with_exit_2(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """Was: "internal error: AttributeError" (aiohttp's SSL connector error has no `reason`)."""
    https = emulator.base_url.replace("http://", "https://")
    run = run_cli(https, small_tree(tmp_path), tmp_path, emulator)
    assert run.code == 2, run.stdout + run.stderr
    assert "TLS handshake with 127.0.0.1 failed" in run.stderr
    assert "internal error" not in run.stdout + run.stderr


# ── oversized answers ─────────────────────────────────────────────────────────────────────
# 64 KiB blocks: the server (in this process, so traced too) then buffers little per
# connection, and the memory measured is the client's.
BLOCK = (b'{"uuid": "u", "url": "https://s3.example/", "fields": {"k": "' + b"a" * MIB)[: 64 << 10]


async def huge_answer(request: web.Request, *, declared: bool) -> web.StreamResponse:
    """50 MB of JSON, streamed from one reused 64 KiB block."""
    await request.read()
    answer = web.StreamResponse(status=201, headers={"Content-Type": "application/json"})
    if declared:
        answer.content_length = 50 * MIB
    await answer.prepare(request)
    with contextlib.suppress(ConnectionError, aiohttp.ClientConnectionResetError):
        for _ in range(50 * 16):
            await answer.write(BLOCK)
        await answer.write_eof()
    return answer


@pytest.fixture
async def huge_api() -> AsyncIterator[Callable[[bool], Awaitable[str]]]:
    servers: list[TestServer] = []

    async def start(declared: bool) -> str:
        app = web.Application()

        async def handler(request: web.Request) -> web.StreamResponse:
            return await huge_answer(request, declared=declared)

        app.router.add_route("*", "/{tail:.*}", handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_oversized_answers_fail_the_call_within_the_memory_cap(
    huge_api: Callable[[bool], Awaitable[str]], declared: bool
) -> None:
    base = await huge_api(declared)
    concurrency = 8
    async with make_api_session(concurrency) as session, aiohttp.ClientSession() as storage:
        api = api_client(session, base)
        protocol = post_protocol(api, storage, TARGET)

        async def one() -> BaseException:
            try:
                await protocol.prepare(planned("a.pdf", 1))
            except Exception as exc:
                return exc
            raise AssertionError("a 50 MB answer was accepted")

        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            errors = await asyncio.gather(*(one() for _ in range(concurrency)))
            peak = tracemalloc.get_traced_memory()[1] - before
        finally:
            tracemalloc.stop()
    for exc in errors:
        assert isinstance(exc, AnswerTooLarge), exc
        assert exc.call == "POST /rest/v1.1/projects/{id}/uploads"
        assert "POST /rest/v1.1/projects/{id}/uploads" in str(exc)
        assert "larger than 8 MiB" in str(exc)
    assert api.stats.calls == concurrency  # one call each: an oversized answer is not retried
    # Each call holds at most the cap (plus a read buffer); 50 MB answers never pile up.
    assert peak < concurrency * MAX_ANSWER_BYTES + 16 * MIB, peak / MIB
    if declared:
        assert peak < 8 * MIB, peak / MIB  # refused on the header: nothing read


async def test_oversized_token_answer_is_an_auth_error(
    huge_api: Callable[[bool], Awaitable[str]],
) -> None:
    base = await huge_api(False)
    async with make_api_session(2) as session:
        tokens = ClientCredentials(session, base, "id", "secret")
        with pytest.raises(AuthError, match=r"POST /oauth/token is larger than 8 MiB"):
            await tokens.token()


# ── multipart API writes and the failing call ─────────────────────────────────────────────
@dataclass
class FormApi:
    """Parses multipart bodies; answers 503 `fail_first` times, then 201."""

    fail_first: int = 1
    seen: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        reader = await request.multipart()
        fields = []
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)
            fields.append((part.name or "", await part.text()))
        self.seen.append((request.content_type, fields))
        if len(self.seen) <= self.fail_first:
            return web.json_response({"errors": "try later"}, status=503)
        return web.json_response({"id": 7}, status=201)


async def test_form_is_sent_as_multipart_in_order_fresh_per_attempt() -> None:
    form_api = FormApi()
    app = web.Application()
    app.router.add_post("/rest/v1.0/files", form_api.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    form = {
        "file[parent_id]": "12",
        "file[name]": 'Plan "A" — ünïcødé.pdf',
        "file[upload_uuid]": "01JABC",
    }
    try:
        async with make_api_session(2) as session:
            api = api_client(session, server)
            answer = await api.request("POST", "/rest/v1.0/files", form=form, params={"p": "1"})
            with pytest.raises(ValueError, match="json or form"):
                await api.request("POST", "/rest/v1.0/files", json={}, form=form)
    finally:
        await server.close()
    assert (answer.status, answer.data, answer.call) == (201, {"id": 7}, "POST /rest/v1.0/files")
    assert len(form_api.seen) == 2  # the 503 was retried with a body built afresh
    for content_type, fields in form_api.seen:
        assert content_type == "multipart/form-data"
        assert fields == list(form.items())


async def test_api_errors_name_the_failing_call() -> None:
    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"errors": {"name": ["has already been taken"]}}, status=422)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with make_api_session(2) as session:
            api = api_client(session, server)
            with pytest.raises(ApiError) as failed:
                await api.request("PATCH", "/rest/v1.0/files/12345", params={"project_id": "42"})
    finally:
        await server.close()
    assert failed.value.call == "PATCH /rest/v1.0/files/{id}"
    assert failed.value.message == "name has already been taken"  # unchanged for catch sites
    assert str(failed.value) == (
        "Procore API 422 (PATCH /rest/v1.0/files/{id}): name has already been taken"
    )
