"""One POST per file: what reaches storage, what a user is told when it does not, and the bytes
the progress display counts (back to zero after a failure)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import given
from hypothesis import strategies as st

from bulkupload.emulator.server import RunningEmulator
from bulkupload.errors import (
    ApiError,
    FileChanged,
    FileUnreadable,
    FileVanished,
    InsecureStorage,
    NetworkError,
    NotFound,
    PolicyExpired,
    StorageError,
    StorageUnavailable,
)
from bulkupload.messages import Planned
from bulkupload.models import FileEntry, Target
from bulkupload.protocols import PostTicket, V1Post
from bulkupload.protocols.v1_post import multipart_name
from tests.protocols.conftest import (
    MIB,
    TARGET,
    Run,
    assert_stored,
    emulator_run,
    entry_for,
    md5_of,
    run_against,
    write_file,
)

FIELDS = (
    ("key", "uploads/01J/${filename}"),
    ("Content-Type", "image/png"),
    ("policy", "eyJleHBpcmF0aW9uIjoi"),
    ("x-amz-credential", "AKIA/20261129/us-east-1/s3/aws4_request"),
    ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
    ("x-amz-date", "20261129T000000Z"),
    ("zz-first-in-alphabet-last-here", "ünïcødé value"),
    ("x-amz-signature", "abc123"),
)
UUID = "01J0000000000000000000000"


# ── a storage host that parses every form it is sent ─────────────────────────────────────
@dataclass
class Received:
    headers: dict[str, str]
    names: list[str]
    values: dict[str, str]
    filename: str | None
    file_type: str | None
    md5: str
    size: int


@dataclass
class Sink:
    """Parses each multipart POST and answers as told (204 with the MD5 as ETag by default)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    answer: Callable[[Received], web.Response] = lambda r: web.Response(
        status=204, headers={"ETag": f'"{r.md5}"'}
    )

    async def handle(self, request: web.Request) -> web.Response:
        reader = await request.multipart()
        names: list[str] = []
        values: dict[str, str] = {}
        md5, size, filename, file_type = hashlib.md5(), 0, None, None
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)
            names.append(part.name or "")
            if part.name == "file":
                filename, file_type = part.filename, part.headers.get("Content-Type")
                while chunk := await part.read_chunk(1 << 16):
                    md5.update(chunk)
                    size += len(chunk)
            else:
                values[part.name or ""] = (await part.read()).decode("utf-8")
        got = Received(
            dict(request.headers), names, values, filename, file_type, md5.hexdigest(), size
        )
        self.received.append(got)
        return self.answer(got)


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    state = Sink()
    app = web.Application(client_max_size=1 << 30)
    app.router.add_post("/bucket", state.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state.url = str(server.make_url("/bucket"))
    try:
        yield state
    finally:
        await server.close()


def ticket_for(
    entry: FileEntry, url: str, fields: tuple[tuple[str, str], ...] = FIELDS
) -> PostTicket:
    item = Planned(entry=entry, prior=None, started_at="2026-12-01T00:00:00Z")
    return PostTicket(
        item=item, protocol="v1.1 POST", created=time.monotonic(), uuid=UUID, url=url, fields=fields
    )


async def post(run: Run, ticket: PostTicket) -> tuple[str, int]:
    """Send `ticket` as the pipeline would; the stored MD5 and the attempts made."""
    stored = await V1Post(run.transport, TARGET).send(ticket, run.meter())
    assert stored.upload_id == ticket.uuid and stored.item is ticket.item
    return stored.md5, stored.attempts


# ── what arrives ──────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("size", [0, 1, 65_536, 5 * MIB + 7])
async def test_bytes_and_fields_arrive_as_s3_requires(
    tmp_path: Path, sink: Sink, size: int
) -> None:
    entry = write_file(tmp_path / "photo.png", size)
    async with run_against(sink.url) as run:
        md5, attempts = await post(run, ticket_for(entry, sink.url))
    [got] = sink.received
    assert got.headers.get("Content-Length") is not None
    assert "chunked" not in got.headers.get("Transfer-Encoding", "")
    assert "Authorization" not in got.headers
    assert got.names == [name for name, _ in FIELDS] + ["file"]
    assert got.values == dict(FIELDS)
    assert got.file_type == "image/png"
    assert got.size == size
    assert got.md5 == md5_of(tmp_path / "photo.png") == md5
    assert attempts == 1
    assert run.recorder.bytes_counted == size
    assert all(n > 0 for n in run.recorder.moved)


async def test_file_part_type_defaults_to_octet_stream(tmp_path: Path, sink: Sink) -> None:
    entry = write_file(tmp_path / "a.bin", 10)
    async with run_against(sink.url) as run:
        await post(run, ticket_for(entry, sink.url, (("key", "k"), ("policy", "p"))))
    assert sink.received[-1].file_type == "application/octet-stream"
    assert sink.received[-1].names == ["key", "policy", "file"]


async def test_awkward_names_are_sent_safely(tmp_path: Path, sink: Sink) -> None:
    name = 'Plan "final" déjà vu 🏗️.pdf'
    entry = write_file(tmp_path / name, 1000)
    async with run_against(sink.url) as run:
        await post(run, ticket_for(entry, sink.url))
    got = sink.received[-1]
    assert got.size == 1000
    assert got.filename is not None
    assert got.filename.isascii() and '"' not in got.filename
    assert got.filename.startswith("Plan _final_ deja vu")


@given(st.text())
def test_multipart_name_is_always_header_safe(name: str) -> None:
    safe = multipart_name(name)
    assert safe and safe.isascii() and safe.isprintable()
    assert '"' not in safe and "\\" not in safe


@pytest.mark.parametrize("api_version", ["1.1", "1.0"])
@pytest.mark.parametrize("size", [3, 3 * MIB + 1])
async def test_stored_at_the_emulator_under_the_name_users_see(
    emulator: RunningEmulator, tmp_path: Path, api_version: str, size: int
) -> None:
    name = 'Plan "final" déjà vu 🏗️.pdf'
    entry = write_file(tmp_path / name, size)
    async with emulator_run(emulator) as run:
        protocol = V1Post(run.transport, TARGET, api_version=api_version)
        assert protocol.name == f"v{api_version} POST"
        ticket = await protocol.prepare(Planned(entry, None, "now"))
        stored = await protocol.send(ticket, run.meter())
    assert_stored(emulator, stored.upload_id, tmp_path / name)
    assert stored.md5 == md5_of(tmp_path / name)
    [upload] = emulator.uploads()
    assert upload["response_filename"] == name
    assert emulator.counters()["api_calls_by_route"] == {
        f"POST /rest/v{api_version}/projects/{{id}}/uploads": 1
    }
    assert run.recorder.bytes_counted == size


# ── the file as it is on disk ─────────────────────────────────────────────────────────────
async def send_at_emulator(emulator: RunningEmulator, run: Run, entry: FileEntry) -> None:
    """Create Upload for `entry` as it was listed; `prepare_done` lets the test change the file."""
    protocol = V1Post(run.transport, TARGET)
    ticket = await protocol.prepare(Planned(entry, None, "now"))
    await protocol.send(ticket, run.meter())


@pytest.mark.parametrize("size", [10, 3 * MIB])
async def test_vanished_or_changed_before_sending_sends_nothing(
    emulator: RunningEmulator, tmp_path: Path, size: int
) -> None:
    path = tmp_path / "f"
    entry = write_file(path, size)
    async with emulator_run(emulator) as run:
        protocol = V1Post(run.transport, TARGET)
        ticket = await protocol.prepare(Planned(entry, None, "now"))
        with path.open("ab") as f:
            f.write(b"more")
        with pytest.raises(FileChanged, match=r"^f: changed since it was listed"):
            await protocol.send(ticket, run.meter())
        path.unlink()
        with pytest.raises(FileVanished, match=r"^f: no longer exists$"):
            await protocol.send(ticket, run.meter())
    assert emulator.counters()["storage_requests"] == 0
    assert run.recorder.retries("storage") == 0


async def test_directory_in_place_of_a_file_is_unreadable(tmp_path: Path, sink: Sink) -> None:
    (tmp_path / "d").mkdir()
    async with run_against(sink.url) as run:
        with pytest.raises(FileUnreadable, match="Is a directory"):
            await post(run, ticket_for(entry_for(tmp_path / "d"), sink.url))
    assert sink.received == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
async def test_unreadable_by_permission(tmp_path: Path, sink: Sink) -> None:
    entry = write_file(tmp_path / "secret", 10)
    (tmp_path / "secret").chmod(0)
    async with run_against(sink.url) as run:
        with pytest.raises(FileUnreadable, match="Permission denied"):
            await post(run, ticket_for(entry, sink.url))
    assert sink.received == []


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda path: path.open("ab").write(b"more"), "grew during upload"),
        (lambda path: os.truncate(path, 1024), "shrank during upload"),
    ],
)
async def test_file_changing_mid_send_is_refused_and_progress_rewinds(
    emulator: RunningEmulator, tmp_path: Path, change: Callable[[Path], object], said: str
) -> None:
    path = tmp_path / "moving"
    entry = write_file(path, 4 * MIB)
    async with emulator_run(emulator) as run:
        run.recorder.on_first_bytes = lambda: change(path)  # another program, while we send
        with pytest.raises(FileChanged, match=said):
            await send_at_emulator(emulator, run, entry)
    assert any(n > 0 for n in run.recorder.moved)
    assert run.recorder.bytes_counted == 0
    assert emulator.objects() == []  # no complete body was stored


# ── what storage answers ──────────────────────────────────────────────────────────────────
def error_document(code: str, message: str) -> bytes:
    text = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return f"<?xml version='1.0'?>{text}".encode()


def s3_error(status: int, code: str, message: str) -> Callable[[Received], web.Response]:
    body = error_document(code, message)
    return lambda _: web.Response(
        status=status, body=body, content_type="application/xml", headers={"Retry-After": "3"}
    )


@pytest.mark.parametrize(
    ("status", "code", "message", "error", "tries"),
    [
        (403, "AccessDenied", "Invalid according to Policy: Policy expired.", PolicyExpired, 1),
        (403, "AccessDenied", "Invalid according to Policy: Extra input fields", StorageError, 1),
        (400, "EntityTooLarge", "Your proposed upload exceeds the maximum", StorageError, 1),
        (503, "SlowDown", "Please reduce your request rate.", StorageUnavailable, 3),
    ],
)
async def test_storage_errors_are_mapped_and_only_5xx_retried(
    tmp_path: Path,
    sink: Sink,
    status: int,
    code: str,
    message: str,
    error: type[StorageError],
    tries: int,
) -> None:
    sink.answer = s3_error(status, code, message)
    entry = write_file(tmp_path / "f", 100)
    async with run_against(sink.url, retries=2) as run:
        meter = run.meter()
        with pytest.raises(StorageError) as info:
            await V1Post(run.transport, TARGET).send(ticket_for(entry, sink.url), meter)
    assert type(info.value) is error
    assert (info.value.status, info.value.code, info.value.message) == (status, code, message)
    assert len(sink.received) == meter.attempts == tries
    assert run.recorder.retries("storage") == tries - 1  # the events are the count
    assert run.recorder.bytes_counted == 0  # the next attempt starts from zero
    if status == 503:
        assert info.value.retry_after == 3.0


async def test_an_answer_sent_before_the_body_was_read_is_the_answer(tmp_path: Path) -> None:
    """S3 may refuse a big body after its first bytes and close the connection: the refusal
    is what the user is told, not a broken pipe."""
    refusal = error_document("AccessDenied", "Invalid according to Policy: Policy expired.")

    async def refuse_early(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(64 << 10)
        head = f"HTTP/1.1 403 Forbidden\r\nContent-Length: {len(refusal)}\r\n"
        writer.write(head.encode() + b"Connection: close\r\n\r\n" + refusal)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(refuse_early, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/bucket"
    entry = write_file(tmp_path / "f", 16 * MIB)
    try:
        async with run_against(url) as run:
            with pytest.raises(PolicyExpired):
                await post(run, ticket_for(entry, url))
    finally:
        server.close()
        await server.wait_closed()
    assert run.recorder.bytes_counted == 0


async def test_emulator_5xx_are_retried_and_counted_as_storage_retries(
    make_emulator: Callable[..., RunningEmulator], tmp_path: Path
) -> None:
    emulator = make_emulator(fault_storage_5xx=0.5, seed=3)
    emulator.set_faults(retry_after=0)
    paths = [tmp_path / f"f{i}" for i in range(6)]
    async with emulator_run(emulator, retries=30) as run:
        for i, path in enumerate(paths):
            await send_at_emulator(emulator, run, write_file(path, 1000 + i, seed=i))
    injected = emulator.counters()["faults_injected"]["storage_5xx"]
    assert injected > 0
    assert run.recorder.retries("storage") == injected
    assert {o["md5"] for o in emulator.objects()} == {md5_of(p) for p in paths}
    assert run.recorder.bytes_counted == sum(p.stat().st_size for p in paths)


async def test_expired_policy_at_the_emulator_is_policy_expired(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    entry = write_file(tmp_path / "late.bin", 2 * MIB)
    async with emulator_run(emulator) as run:
        protocol = V1Post(run.transport, TARGET)
        ticket = await protocol.prepare(Planned(entry, None, "now"))
        emulator.advance_clock(7200)  # Procore's instructions last an hour
        with pytest.raises(PolicyExpired, match="Policy expired"):
            await protocol.send(ticket, run.meter())
    assert run.recorder.retries("storage") == 0  # fresh instructions are the pipeline's call
    assert run.recorder.bytes_counted == 0
    assert emulator.objects() == []


async def test_md5_etag_mismatch_is_an_error(tmp_path: Path, sink: Sink) -> None:
    sink.answer = lambda _: web.Response(status=204, headers={"ETag": '"' + "0" * 32 + '"'})
    entry = write_file(tmp_path / "f", 100)
    async with run_against(sink.url) as run:
        with pytest.raises(StorageError, match="BadDigest"):
            await post(run, ticket_for(entry, sink.url))
    assert run.recorder.bytes_counted == 0


async def test_multipart_etag_and_xml_200_are_accepted(tmp_path: Path, sink: Sink) -> None:
    sink.answer = lambda _: web.Response(
        status=201,
        text="<PostResponse><ETag>x</ETag></PostResponse>",
        headers={"ETag": '"abc-3"'},
    )
    entry = write_file(tmp_path / "f", 100)
    async with run_against(sink.url) as run:
        md5, _ = await post(run, ticket_for(entry, sink.url))
    assert md5 == md5_of(tmp_path / "f")


async def test_unreachable_storage_is_a_network_error(tmp_path: Path) -> None:
    entry = write_file(tmp_path / "f", 2 * MIB)
    async with run_against("http://127.0.0.1:9", retries=1) as run:
        meter = run.meter()
        ticket = ticket_for(entry, "http://127.0.0.1:9/b")
        # Plain words, as for the API: not aiohttp's class name and message.
        refused = r"storage POST to 127\.0\.0\.1 failed \(connection refused"
        with pytest.raises(NetworkError, match=refused):
            await V1Post(run.transport, TARGET).send(ticket, meter)
    assert meter.attempts == 2
    assert run.recorder.retries("storage") == 1
    assert run.recorder.bytes_counted == 0


async def test_connection_dropped_mid_body_rewinds_progress(
    make_emulator: Callable[..., RunningEmulator], tmp_path: Path
) -> None:
    emulator = make_emulator(fault_reset=1.0)  # storage resets every connection partway in
    entry = write_file(tmp_path / "f", 8 * MIB)
    async with emulator_run(emulator, retries=1) as run:
        with pytest.raises(NetworkError):
            await send_at_emulator(emulator, run, entry)
    assert emulator.counters()["faults_injected"]["reset"] == 2
    assert any(n > 0 for n in run.recorder.moved)
    assert run.recorder.bytes_counted == 0
    assert emulator.objects() == []


async def test_a_session_carrying_credentials_is_refused(tmp_path: Path, sink: Sink) -> None:
    entry = write_file(tmp_path / "f", 1)
    async with (
        aiohttp.ClientSession(headers={"Authorization": "Bearer t"}) as leaky,
        run_against(sink.url, storage=leaky) as run,
    ):
        with pytest.raises(ValueError, match="credentials"):
            await post(run, ticket_for(entry, sink.url))
    assert sink.received == []


async def test_plain_http_off_loopback_is_refused_before_connecting(tmp_path: Path) -> None:
    entry = write_file(tmp_path / "f", 10)
    url = "http://storage.example.invalid/bucket?X-Amz-Signature=secret"
    async with run_against("http://127.0.0.1:9") as run:
        meter = run.meter()
        with pytest.raises(
            InsecureStorage, match=r"plain http to storage\.example\.invalid"
        ) as info:
            await V1Post(run.transport, TARGET).send(ticket_for(entry, url), meter)
    assert "secret" not in str(info.value)
    assert (meter.attempts, run.recorder.retries("storage")) == (1, 0)  # never retried


# ── Create Upload and the ticket ──────────────────────────────────────────────────────────
async def test_a_ticket_goes_stale_after_the_instruction_max_age(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    entry = write_file(tmp_path / "f", 10)
    async with emulator_run(emulator) as run:
        protocol = V1Post(run.transport, TARGET, instruction_max_age=600)
        ticket = await protocol.prepare(Planned(entry, None, "now"))
    assert isinstance(ticket, PostTicket) and ticket.protocol == protocol.name
    assert abs(ticket.created - time.monotonic()) < 60
    # Half a second either side: `created + 600 - created` need not be exactly 600 in floats.
    assert not protocol.stale(ticket, ticket.created + 599.5)
    assert protocol.stale(ticket, ticket.created + 600.5)


async def test_unknown_project_is_not_found_for_the_pipeline_to_map(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    entry = write_file(tmp_path / "f", 10)
    async with emulator_run(emulator) as run:
        protocol = V1Post(run.transport, Target("project", 999))
        with pytest.raises(NotFound):
            await protocol.prepare(Planned(entry, None, "now"))


async def test_an_unusable_create_upload_answer_names_the_call(tmp_path: Path) -> None:
    async def create(request: web.Request) -> web.Response:
        return web.json_response({"uuid": "u"}, status=201)  # no url, no fields

    app = web.Application()
    app.router.add_post("/rest/v1.1/projects/42/uploads", create)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    entry = write_file(tmp_path / "f", 10)
    try:
        async with run_against(str(server.make_url("")).rstrip("/")) as run:
            with pytest.raises(ApiError, match="no url") as info:
                await V1Post(run.transport, TARGET).prepare(Planned(entry, None, "now"))
    finally:
        await server.close()
    assert info.value.call == "POST /rest/v1.1/projects/{id}/uploads"
