"""What the protocol tests share: a run's transport pointed at an emulator (or any loopback
server), an event recorder standing in for the progress display, files to send, and a small
fake Procore for answers the emulator never gives."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bulkupload.emulator.server import RunningEmulator
from bulkupload.events import BytesMoved, Event, EventBus, Retried
from bulkupload.models import FileEntry, Target
from bulkupload.procore.auth import ClientCredentials, StaticToken, TokenSource
from bulkupload.procore.client import ApiClient
from bulkupload.procore.sessions import make_api_session, make_storage_session
from bulkupload.protocols import Meter, Transport
from bulkupload.retry import Policies

MIB = 1 << 20
TARGET = Target("project", 42)


@dataclass
class Recorder:
    """Every event of a run, as a progress display or the run's statistics would see them.

    `on_first_bytes` runs once, when the first file bytes are reported on their way: the place
    for a test to change a file, or the emulator's clock, while it is being sent.
    """

    events: list[Event] = field(default_factory=list)
    on_first_bytes: Callable[[], object] | None = None

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if isinstance(event, BytesMoved) and event.size > 0 and self.on_first_bytes is not None:
            hook, self.on_first_bytes = self.on_first_bytes, None
            hook()

    @property
    def moved(self) -> list[int]:
        return [e.size for e in self.events if isinstance(e, BytesMoved)]

    @property
    def bytes_counted(self) -> int:
        """Bytes the display shows on their way: back to 0 when a transfer failed."""
        return sum(self.moved)

    def retries(self, kind: str) -> int:
        return sum(1 for e in self.events if isinstance(e, Retried) and e.kind == kind)


@dataclass
class Run:
    """A transport as the pipeline builds one, with the recorder subscribed to its events."""

    transport: Transport
    recorder: Recorder

    def meter(self) -> Meter:
        return Meter(self.transport.events)


@asynccontextmanager
async def run_against(
    base_url: str,
    *,
    tokens: Callable[[aiohttp.ClientSession], TokenSource] | None = None,
    retries: int = 5,
    chunk_size: int = MIB,
    storage: aiohttp.ClientSession | None = None,
) -> AsyncIterator[Run]:
    """A transport to the API at `base_url` and a storage session; retries never sleep."""
    policies = Policies.for_run(retries, backoff=False)
    recorder = Recorder()
    async with make_api_session(4) as api_session, make_storage_session(4) as own_storage:
        source = tokens(api_session) if tokens is not None else StaticToken("t")
        api = ApiClient(
            api_session, base_url, company_id=1, tokens=source, policy=policies.api_call
        )
        transport = Transport(
            api=api,
            storage=storage if storage is not None else own_storage,
            policies=policies,
            events=EventBus(recorder),
            chunk_size=chunk_size,
        )
        yield Run(transport, recorder)


def emulator_run(
    emulator: RunningEmulator, *, retries: int = 5, chunk_size: int = MIB
) -> AbstractAsyncContextManager[Run]:
    """`run_against` the emulator, logged in as its demo client."""

    def login(session: aiohttp.ClientSession) -> TokenSource:
        return ClientCredentials(
            session, emulator.login_url, emulator.client_id, emulator.client_secret
        )

    return run_against(emulator.base_url, tokens=login, retries=retries, chunk_size=chunk_size)


def entry_for(path: Path) -> FileEntry:
    st = path.stat()
    return FileEntry(path=str(path), rel=path.name, size=st.st_size, mtime_ns=st.st_mtime_ns)


def write_file(path: Path, size: int, seed: int = 1) -> FileEntry:
    """`size` bytes, different in every MiB, so a range sent from the wrong place would not
    hash the same."""
    block = hashlib.sha256(str(seed).encode()).digest() * (MIB // 32)
    with path.open("wb") as f:
        for i in range(0, size, MIB):
            f.write((bytes([i // MIB % 251]) + block)[: min(MIB, size - i)])
    return entry_for(path)


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def assert_stored(emulator: RunningEmulator, upload_id: str, path: Path) -> None:
    """The emulator holds exactly the file's bytes under that upload, and saw no credentials."""
    md5, size = md5_of(path), path.stat().st_size
    [upload] = [u for u in emulator.uploads() if u["uuid"] == upload_id]
    assert (upload["size"], upload["md5"]) == (size, md5)
    assert any(o["key"] == upload["key"] and o["md5"] == md5 for o in emulator.objects())
    assert emulator.counters()["storage_authorization_headers"] == 0


@pytest.fixture
def segment_emulator(make_emulator: Callable[..., RunningEmulator]) -> RunningEmulator:
    """An emulator taking segments of 1 MiB (5 MB in Procore), so tests stay small."""
    return make_emulator(min_segment_size=MIB)


@dataclass
class FakeProcore:
    """Create Upload answering one URL per segment with the signed headers given; PUTs answered
    by `etag` (the body's MD5 by default); PATCH answering `status`."""

    signed: dict[str, str] = field(default_factory=lambda: {"x-amz-content-sha256": "x"})
    storage_origin: str | None = None
    etag: Callable[[bytes], str | None] = lambda body: hashlib.md5(body).hexdigest()
    status: str = "complete"
    puts: list[dict[str, str]] = field(default_factory=list)
    patched: list[object] = field(default_factory=list)
    url: str = ""

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * MIB)
        app.router.add_post("/rest/v1.1/projects/42/uploads", self.create)
        app.router.add_put("/put/{n}", self.put)
        app.router.add_patch("/rest/v1.1/projects/42/uploads/u1", self.complete)
        return app

    async def create(self, request: web.Request) -> web.Response:
        segments = (await request.json())["segments"]
        origin = self.storage_origin or str(request.url.origin())
        answer = [
            {**s, "url": f"{origin}/put/{n}", "headers": self.signed}
            for n, s in enumerate(segments, start=1)
        ]
        return web.json_response({"uuid": "u1", "segments": answer}, status=201)

    async def put(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.puts.append(dict(request.headers))
        etag = self.etag(body)
        return web.Response(headers={"ETag": f'"{etag}"'} if etag is not None else {})

    async def complete(self, request: web.Request) -> web.Response:
        self.patched.append(await request.json())
        return web.json_response({"uuid": "u1", "status": self.status})


@pytest.fixture
async def fake() -> AsyncIterator[FakeProcore]:
    procore = FakeProcore()
    server = TestServer(procore.app(), host="127.0.0.1")
    await server.start_server()
    procore.url = str(server.make_url("")).rstrip("/")
    try:
        yield procore
    finally:
        await server.close()
