"""The storage POST: one file streamed as a multipart/form-data body with a known length.

The whole body is one custom `Payload`: the fields and part headers are encoded once, the file is
read in 1 MiB executor reads (small files in one executor call) and hashed on the way, so a body
costs few `send()` calls, S3 gets its Content-Length, and memory stays near one chunk per upload.
The storage URL passes the connection rule (`bulkupload.urls`) before any connection is made.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import os
import re
import unicodedata
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload

from bulkupload.errors import (
    FileChanged,
    FileProblem,
    FileUnreadable,
    FileVanished,
    InsecureStorage,
    NetworkError,
    PolicyExpired,
    StorageError,
    StorageUnavailable,
)
from bulkupload.models import FileEntry, StorageReceipt, UploadInstruction
from bulkupload.procore.answers import MAX_STORAGE_ANSWER_BYTES, read_capped
from bulkupload.urls import check_storage_url, tls_failure, url_host

__all__ = ["multipart_name", "send_to_storage", "storage_network_error"]

_CHUNK = 1 << 20
MD5_ETAG = re.compile(r"[0-9a-fA-F]{32}")


def multipart_name(name: str) -> str:
    """`name` as printable ASCII without quotes or backslashes, for a Content-Disposition header.

    The name users see comes from Create Upload's `response_filename`; this one only has to be safe.
    """
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    safe = "".join(c if c.isprintable() and c not in '"\\' else "_" for c in folded).strip()
    return safe or "file"


def _quote_name(name: str) -> str:
    # HTML's multipart encoding: quotes and line breaks in names are percent-escaped.
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _content_type(fields: tuple[tuple[str, str], ...]) -> str:
    for name, value in fields:
        if name.lower() == "content-type" and value:
            return value
    return "application/octet-stream"


def _encode_parts(
    instruction: UploadInstruction, filename: str, boundary: str
) -> tuple[bytes, bytes]:
    """The bytes before the file (every field in order, then the file part header) and after."""
    dash = f"--{boundary}\r\n".encode()
    parts = [
        dash
        + f'Content-Disposition: form-data; name="{_quote_name(name)}"\r\n\r\n'.encode()
        + value.encode("utf-8")
        + b"\r\n"
        for name, value in instruction.fields
    ]
    parts.append(
        dash
        + f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'.encode()
        + f"Content-Type: {_content_type(instruction.fields)}\r\n\r\n".encode()
    )
    return b"".join(parts), f"\r\n--{boundary}--\r\n".encode()


def check_unchanged(entry: FileEntry, st: os.stat_result, when: str) -> None:
    if st.st_size != entry.size or st.st_mtime_ns != entry.mtime_ns:
        raise FileChanged(
            f"{entry.display_rel}: changed {when} (size {entry.size} -> {st.st_size})"
        )


def _open(entry: FileEntry, small_limit: int) -> tuple[BinaryIO | None, bytes, str]:
    """Open and check the file; a small file is read, hashed and closed in this same call.

    Returns (open file, b"", "") for a big file, or (None, bytes, md5 hex) for a small one.
    """
    try:
        st = Path(entry.path).stat()
        check_unchanged(entry, st, "since it was listed")
        f = open(entry.path, "rb", buffering=0)  # noqa: SIM115 (closed by the payload)
    except FileNotFoundError as exc:
        raise FileVanished(f"{entry.display_rel}: no longer exists") from exc
    except (PermissionError, IsADirectoryError) as exc:
        raise FileUnreadable(f"{entry.display_rel}: {exc.strerror}") from exc
    except OSError as exc:
        raise FileUnreadable(f"{entry.display_rel}: {exc.strerror or exc}") from exc
    if entry.size > small_limit:
        return f, b"", ""
    with f:
        data = read_exactly(f, entry, entry.size + 1)  # one byte more shows growth
        if len(data) != entry.size:
            raise FileChanged(f"{entry.display_rel}: changed while being read")
        check_unchanged(entry, os.fstat(f.fileno()), "while being read")
    return None, data, hashlib.md5(data, usedforsecurity=False).hexdigest()


def read_exactly(f: BinaryIO, entry: FileEntry, n: int) -> bytes:
    try:
        data = f.read(n)
        while data is not None and 0 < len(data) < n:  # short reads: pipes, network filesystems
            more = f.read(n - len(data))
            if not more:
                break
            data += more
    except OSError as exc:
        raise FileUnreadable(f"{entry.display_rel}: read failed: {exc.strerror or exc}") from exc
    return data or b""


class _MultipartBody(Payload):
    """The complete multipart body; writes exactly `size` bytes or fails (never re-sendable)."""

    def __init__(
        self,
        entry: FileEntry,
        head: bytes,
        tail: bytes,
        boundary: str,
        *,
        file: BinaryIO | None,
        data: bytes,
        chunk_size: int,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        super().__init__(b"", content_type=f"multipart/form-data; boundary={boundary}")
        self._entry = entry
        self._head, self._tail = head, tail
        self._file, self._data = file, data
        self._chunk_size = chunk_size
        self._on_progress = on_progress
        self._size = len(head) + entry.size + len(tail)
        self._md5 = hashlib.md5(usedforsecurity=False)
        self.sent = 0  # file bytes handed to the transport
        self.failure: FileProblem | None = None  # why the body stopped short, if it was us

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a streamed upload body cannot be decoded")

    @property
    def md5(self) -> str:
        return self._md5.hexdigest()

    def _progress(self, n: int) -> None:
        self.sent += n
        if self._on_progress is not None:
            self._on_progress(n)

    async def write(self, writer: AbstractStreamWriter) -> None:
        self._consumed = True
        try:
            if self._file is None:
                # Small file already in memory: one write, one send() in the common case.
                await writer.write(self._head + self._data + self._tail)
                self._progress(len(self._data))
                return
            await self._stream(writer, self._file)
        except FileProblem as exc:
            self.failure = exc  # aiohttp wraps it in ClientConnectionError; send_to_storage unwraps
            raise

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        await self.write(writer)

    def _read_chunk(self, f: BinaryIO, n: int) -> bytes:
        data = read_exactly(f, self._entry, n)
        self._md5.update(data)  # hashlib releases the GIL on big buffers: hash in the worker
        return data

    async def _stream(self, writer: AbstractStreamWriter, f: BinaryIO) -> None:
        # One chunk at a time (no read-ahead): memory stays at one chunk per transfer, and
        # read-ahead measured no faster on loopback (MD5 at ~0.7 GB/s per core is the cap).
        loop = asyncio.get_running_loop()
        entry = self._entry
        left = entry.size
        reading: asyncio.Future[bytes] | None = None
        try:
            await writer.write(self._head)
            while left > 0:
                n = min(self._chunk_size, left)
                reading = loop.run_in_executor(None, self._read_chunk, f, n)
                data = await reading
                if not data:
                    raise FileChanged(f"{entry.display_rel}: shrank during upload")
                left -= len(data)
                await writer.write(data)
                self._progress(len(data))
            extra, st = await loop.run_in_executor(None, _tail_check, f)
            if extra:
                raise FileChanged(f"{entry.display_rel}: grew during upload")
            check_unchanged(entry, st, "during upload")
            await writer.write(self._tail)  # only a complete, unchanged file gets a valid body
        finally:
            if reading is not None and not reading.done():
                # Cancelled mid-read: close the file when the worker is done, not under it.
                reading.add_done_callback(lambda _: f.close())
            else:
                f.close()


def _tail_check(f: BinaryIO) -> tuple[bytes, os.stat_result]:
    return f.read(1) or b"", os.fstat(f.fileno())


def parse_s3_error(body: bytes) -> tuple[str, str]:
    """S3's `<Error><Code>..</Code><Message>..</Message></Error>`, read without an XML parser."""
    text = body.decode("utf-8", "replace")
    code = re.search(r"<Code>(.*?)</Code>", text, re.S)
    message = re.search(r"<Message>(.*?)</Message>", text, re.S)
    plain = " ".join(text.split())[:300]
    return (
        html.unescape(code.group(1).strip()) if code else "",
        html.unescape(message.group(1).strip()) if message else plain,
    )


def storage_network_error(
    verb: str, url: str, exc: BaseException
) -> InsecureStorage | NetworkError:
    """What a failed storage request means: a TLS failure (this file fails, never retried) or a
    network error (retried)."""
    host = url_host(url)
    if (tls := tls_failure(exc, host)) is not None:
        return InsecureStorage(tls, host=host)
    return NetworkError(f"storage {verb} failed: {type(exc).__name__}: {exc}")


def _retry_after(headers: Any) -> float | None:
    try:
        return max(float(headers.get("Retry-After")), 0.0)
    except (TypeError, ValueError):
        return None


def storage_receipt(status: int, headers: Any, body: bytes, md5: str) -> StorageReceipt:
    if 200 <= status < 300:
        etag = headers.get("ETag")
        etag = etag.strip().strip('"') if etag else None
        if etag and MD5_ETAG.fullmatch(etag) and etag.lower() != md5:
            raise StorageError(status, "BadDigest", f"storage stored MD5 {etag}, we sent {md5}")
        return StorageReceipt(status=status, etag=etag, md5=md5)
    code, message = parse_s3_error(body)
    if status == 403 and code == "AccessDenied" and "policy expired" in message.lower():
        raise PolicyExpired(status, code, message)
    if status >= 500:
        raise StorageUnavailable(
            status, code or "ServiceUnavailable", message, retry_after=_retry_after(headers)
        )
    raise StorageError(status, code or f"HTTP{status}", message or f"HTTP {status}")


async def send_to_storage(
    session: aiohttp.ClientSession,
    instruction: UploadInstruction,
    entry: FileEntry,
    *,
    chunk_size: int = _CHUNK,
    on_progress: Callable[[int], None] | None = None,
    allow_http: bool = False,
) -> StorageReceipt:
    """POST `entry`'s bytes to storage as `instruction` says: one attempt, never authenticated.

    `on_progress(n)` gets file bytes as they are sent; a failed attempt reports minus what it
    counted. Raises FileVanished/FileUnreadable/FileChanged, PolicyExpired, StorageUnavailable,
    StorageError, NetworkError, or InsecureStorage (plain http to a host other than loopback
    without `allow_http`, refused before connecting; or a TLS certificate that does not verify),
    which is never worth another try. Retrying means calling again: the body is built per call.
    """
    if "Authorization" in session.headers or session.auth is not None:
        raise ValueError("the storage session must not carry credentials")
    check_storage_url(instruction.url, allow_http=allow_http)
    loop = asyncio.get_running_loop()
    file, data, small_md5 = await loop.run_in_executor(None, _open, entry, chunk_size)
    boundary = uuid.uuid4().hex
    head, tail = _encode_parts(instruction, multipart_name(entry.name), boundary)
    body = _MultipartBody(
        entry,
        head,
        tail,
        boundary,
        file=file,
        data=data,
        chunk_size=chunk_size,
        on_progress=on_progress,
    )
    try:
        try:
            # A redirect (S3's TemporaryRedirect) cannot be followed: the body is not re-sendable.
            async with session.post(instruction.url, data=body, allow_redirects=False) as resp:
                answer, _ = await read_capped(resp, MAX_STORAGE_ANSWER_BYTES)
                status, headers = resp.status, resp.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            if body.failure is not None:
                raise body.failure from exc
            raise storage_network_error("POST", instruction.url, exc) from exc
        md5 = small_md5 or body.md5
        return storage_receipt(status, headers, answer, md5)
    except BaseException:
        if body.sent and on_progress is not None:
            on_progress(-body.sent)  # the next attempt sends these bytes again
        raise
    finally:
        if file is not None and not body.consumed:
            file.close()  # the request failed before the body was written
