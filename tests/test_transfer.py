"""The storage POST against a real aiohttp server on 127.0.0.1 that parses what arrives."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import given
from hypothesis import strategies as st

from bulkupload.errors import (
    FileChanged,
    FileUnreadable,
    FileVanished,
    NetworkError,
    PolicyExpired,
    StorageError,
    StorageUnavailable,
)
from bulkupload.models import FileEntry, UploadInstruction
from bulkupload.procore.client import make_storage_session
from bulkupload.transfer import multipart_name, send_to_storage

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


@dataclass
class Received:
    """What the sink saw for one request."""

    headers: dict[str, str]
    names: list[str]
    values: dict[str, str]
    filename: str | None
    file_type: str | None
    md5: str
    size: int


@dataclass
class Sink:
    """A storage host: parses each multipart POST, answers as told."""

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
async def sink() -> AsyncIterator[tuple[Sink, str]]:
    state = Sink()
    app = web.Application(client_max_size=1 << 30)
    app.router.add_post("/bucket", state.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield state, str(server.make_url("/bucket"))
    finally:
        await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with make_storage_session(4) as s:
        yield s


def entry_for(path: Path, rel: str | None = None) -> FileEntry:
    st = path.stat()
    return FileEntry(str(path), rel or path.name, st.st_size, st.st_mtime_ns)


def instruction(url: str, fields: tuple[tuple[str, str], ...] = FIELDS) -> UploadInstruction:
    return UploadInstruction(uuid="01J0000000000000000000000", url=url, fields=fields, created=0.0)


def write_file(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


@pytest.mark.parametrize("size", [0, 1, 65_536, 5 * 1024 * 1024 + 7])
async def test_bytes_and_fields_arrive_as_s3_requires(
    tmp_path: Path, sink: tuple[Sink, str], session: aiohttp.ClientSession, size: int
) -> None:
    state, url = sink
    data = write_file(tmp_path / "photo.png", size)
    progress: list[int] = []
    receipt = await send_to_storage(
        session, instruction(url), entry_for(tmp_path / "photo.png"), on_progress=progress.append
    )
    got = state.received[-1]
    assert got.headers.get("Content-Length") is not None
    assert "chunked" not in got.headers.get("Transfer-Encoding", "")
    assert "Authorization" not in got.headers
    assert got.names == [name for name, _ in FIELDS] + ["file"]
    assert got.values == dict(FIELDS)
    assert got.file_type == "image/png"
    assert got.size == size
    assert got.md5 == hashlib.md5(data).hexdigest() == receipt.md5 == receipt.etag
    assert receipt.status == 204
    assert sum(progress) == size


async def test_file_part_type_defaults_to_octet_stream(
    tmp_path: Path, sink: tuple[Sink, str], session: aiohttp.ClientSession
) -> None:
    state, url = sink
    write_file(tmp_path / "a.bin", 10)
    fields = (("key", "k"), ("policy", "p"))
    await send_to_storage(session, instruction(url, fields), entry_for(tmp_path / "a.bin"))
    assert state.received[-1].file_type == "application/octet-stream"
    assert state.received[-1].names == ["key", "policy", "file"]


async def test_awkward_names_are_sent_safely(
    tmp_path: Path, sink: tuple[Sink, str], session: aiohttp.ClientSession
) -> None:
    state, url = sink
    name = 'Plan "final" déjà vu 🏗️.pdf'
    write_file(tmp_path / name, 1000)
    await send_to_storage(session, instruction(url), entry_for(tmp_path / name))
    got = state.received[-1]
    assert got.size == 1000
    assert got.filename is not None
    assert got.filename.isascii() and '"' not in got.filename
    assert got.filename.startswith("Plan _final_ deja vu")


@given(st.text())
def test_multipart_name_is_always_header_safe(name: str) -> None:
    safe = multipart_name(name)
    assert safe and safe.isascii() and safe.isprintable()
    assert '"' not in safe and "\\" not in safe


async def test_vanished_file(
    tmp_path: Path, sink: tuple[Sink, str], session: aiohttp.ClientSession
) -> None:
    _, url = sink
    write_file(tmp_path / "gone", 10)
    entry = entry_for(tmp_path / "gone")
    (tmp_path / "gone").unlink()
    with pytest.raises(FileVanished):
        await send_to_storage(session, instruction(url), entry)


async def test_file_changed_since_listing(
    tmp_path: Path, sink: tuple[Sink, str], session: aiohttp.ClientSession
) -> None:
    state, url = sink
    write_file(tmp_path / "f", 10)
    entry = entry_for(tmp_path / "f")
    write_file(tmp_path / "f", 11)
    with pytest.raises(FileChanged):
        await send_to_storage(session, instruction(url), entry)
    assert state.received == []


async def test_directory_in_place_of_a_file_is_unreadable(
    tmp_path: Path, sink: tuple[Sink, str], session: aiohttp.ClientSession
) -> None:
    _, url = sink
    (tmp_path / "d").mkdir()
    with pytest.raises(FileUnreadable):
        await send_to_storage(session, instruction(url), entry_for(tmp_path / "d"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
async def test_unreadable_by_permission(
    tmp_path: Path, sink: tuple[Sink, str], session: aiohttp.ClientSession
) -> None:
    _, url = sink
    write_file(tmp_path / "secret", 10)
    (tmp_path / "secret").chmod(0)
    with pytest.raises(FileUnreadable):
        await send_to_storage(session, instruction(url), entry_for(tmp_path / "secret"))


async def test_file_that_grows_mid_send_is_refused_and_progress_rewinds(
    tmp_path: Path, sink: tuple[Sink, str], session: aiohttp.ClientSession
) -> None:
    state, url = sink
    path = tmp_path / "growing"
    write_file(path, 4 * 1024 * 1024)
    entry = entry_for(path)
    progress: list[int] = []
    appended = threading.Event()

    def on_progress(n: int) -> None:
        progress.append(n)
        if not appended.is_set():
            with path.open("ab") as f:  # another program appends while we send
                f.write(b"more")
            appended.set()

    with pytest.raises(FileChanged):
        await send_to_storage(
            session, instruction(url), entry, chunk_size=1 << 20, on_progress=on_progress
        )
    assert sum(progress) == 0
    assert all(r.size != entry.size for r in state.received)  # no complete body was stored


async def test_file_that_shrinks_mid_send_is_refused(
    tmp_path: Path, sink: tuple[Sink, str], session: aiohttp.ClientSession
) -> None:
    _, url = sink
    path = tmp_path / "shrinking"
    write_file(path, 4 * 1024 * 1024)
    entry = entry_for(path)

    def on_progress(n: int) -> None:
        if n > 0:
            os.truncate(path, 1024)

    with pytest.raises(FileChanged):
        await send_to_storage(session, instruction(url), entry, on_progress=on_progress)


def s3_error(status: int, code: str, message: str) -> Callable[[Received], web.Response]:
    body = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return lambda _: web.Response(
        status=status, text=body, content_type="application/xml", headers={"Retry-After": "3"}
    )


@pytest.mark.parametrize(
    ("status", "code", "message", "error"),
    [
        (403, "AccessDenied", "Invalid according to Policy: Policy expired.", PolicyExpired),
        (403, "AccessDenied", "Invalid according to Policy: Extra input fields", StorageError),
        (400, "EntityTooLarge", "Your proposed upload exceeds the maximum", StorageError),
        (503, "SlowDown", "Please reduce your request rate.", StorageUnavailable),
    ],
)
async def test_storage_errors_are_mapped(
    tmp_path: Path,
    sink: tuple[Sink, str],
    session: aiohttp.ClientSession,
    status: int,
    code: str,
    message: str,
    error: type[StorageError],
) -> None:
    state, url = sink
    state.answer = s3_error(status, code, message)
    write_file(tmp_path / "f", 100)
    progress: list[int] = []
    with pytest.raises(StorageError) as info:
        await send_to_storage(
            session, instruction(url), entry_for(tmp_path / "f"), on_progress=progress.append
        )
    assert type(info.value) is error
    assert (info.value.status, info.value.code, info.value.message) == (status, code, message)
    assert sum(progress) == 0  # the next attempt starts from zero
    if status == 503:
        assert info.value.retry_after == 3.0


async def test_md5_etag_mismatch_is_an_error(
    tmp_path: Path, sink: tuple[Sink, str], session: aiohttp.ClientSession
) -> None:
    state, url = sink
    state.answer = lambda _: web.Response(status=204, headers={"ETag": '"' + "0" * 32 + '"'})
    write_file(tmp_path / "f", 100)
    with pytest.raises(StorageError, match="BadDigest"):
        await send_to_storage(session, instruction(url), entry_for(tmp_path / "f"))


async def test_multipart_etag_and_xml_200_are_accepted(
    tmp_path: Path, sink: tuple[Sink, str], session: aiohttp.ClientSession
) -> None:
    state, url = sink
    state.answer = lambda _: web.Response(
        status=201,
        text="<PostResponse><ETag>x</ETag></PostResponse>",
        headers={"ETag": '"abc-3"'},
    )
    write_file(tmp_path / "f", 100)
    receipt = await send_to_storage(session, instruction(url), entry_for(tmp_path / "f"))
    assert (receipt.status, receipt.etag) == (201, "abc-3")


async def test_unreachable_storage_is_a_network_error(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    write_file(tmp_path / "f", 2 * 1024 * 1024)
    progress: list[int] = []
    with pytest.raises(NetworkError):
        await send_to_storage(
            session,
            instruction("http://127.0.0.1:9/bucket"),
            entry_for(tmp_path / "f"),
            on_progress=progress.append,
        )
    assert sum(progress) == 0


async def test_connection_dropped_mid_body_rewinds_progress(tmp_path: Path) -> None:
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(3 * 1024 * 1024)
        writer.transport.abort()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    write_file(tmp_path / "f", 8 * 1024 * 1024)
    progress: list[int] = []
    try:
        async with make_storage_session(1) as session:
            with pytest.raises(NetworkError):
                await send_to_storage(
                    session,
                    instruction(f"http://127.0.0.1:{port}/bucket"),
                    entry_for(tmp_path / "f"),
                    on_progress=progress.append,
                )
    finally:
        server.close()
        await server.wait_closed()
    assert any(n > 0 for n in progress)
    assert sum(progress) == 0


async def test_a_session_carrying_credentials_is_refused(
    tmp_path: Path, sink: tuple[Sink, str]
) -> None:
    state, url = sink
    write_file(tmp_path / "f", 1)
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer t"}) as leaky:
        with pytest.raises(ValueError, match="credentials"):
            await send_to_storage(leaky, instruction(url), entry_for(tmp_path / "f"))
    assert state.received == []
