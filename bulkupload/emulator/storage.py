"""The emulator's own S3: strict POST Object handling, bytes streamed to disk with MD5 on the way.

`POST /s3/{bucket}` takes the multipart form a Create Upload answer describes and checks it the way
AWS does (see `policy.check_post`), answering S3-style XML errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import socket
import struct
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from aiohttp import BodyPartReader, MultipartReader, web

from .checksums import ChecksumRefused, Digest, expected_from
from .config import CONFIG_KEY, FAULTS_KEY
from .core import STATE_KEY, StoredObject
from .policy import CheckedPolicy, PolicyViolation, check_post

CHUNK = 1024 * 1024
MAX_FIELD_BYTES = 64 * 1024
DATA_DIR_KEY: web.AppKey[Path] = web.AppKey("emulator_data_dir", Path)
BANDWIDTH_KEY: web.AppKey[BandwidthCap] = web.AppKey("emulator_bandwidth", object)  # type: ignore[arg-type]
S3_CODE_KEY: web.ResponseKey[str] = web.ResponseKey("s3_code", str)
RANDOM_KEY: web.AppKey[random.Random] = web.AppKey("emulator_random", random.Random)


class BandwidthCap:
    """One byte budget shared by every storage connection (bytes per second, None = off)."""

    def __init__(self) -> None:
        self._next_free = 0.0

    async def spend(self, nbytes: int, rate: float | None) -> None:
        if not rate:
            return
        now = time.monotonic()
        start = max(now, self._next_free)
        self._next_free = start + nbytes / rate
        delay = self._next_free - now
        if delay > 0:
            await asyncio.sleep(delay)


def s3_error(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None
) -> web.Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"<RequestId>{os.urandom(8).hex().upper()}</RequestId></Error>"
    )
    response = web.Response(
        status=status, text=body, content_type="application/xml", headers=headers
    )
    response[S3_CODE_KEY] = code
    return response


class Rejected(Exception):
    """Raised anywhere in a storage request to answer with an S3 error."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def reject(status: int, code: str, message: str) -> Rejected:
    return Rejected(s3_error(status, code, message))


StorageHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def counted(handler: StorageHandler) -> StorageHandler:
    """Count a storage request and its outcome; turn `Rejected` into its S3 error answer."""

    async def run(request: web.Request) -> web.StreamResponse:
        counters = request.app[STATE_KEY].counters
        counters.storage_requests += 1
        counters.storage_in_flight += 1
        counters.storage_peak_in_flight = max(
            counters.storage_peak_in_flight, counters.storage_in_flight
        )
        try:
            response = await handler(request)
        except Rejected as rejected:
            response = rejected.response
        except ConnectionResetError:
            # The injected reset already closed the socket: nothing will reach the client.
            return web.Response(status=500)
        finally:
            counters.storage_in_flight -= 1
        if response.status < 300:
            counters.storage_success += 1
        else:
            counters.storage_errors[response.get(S3_CODE_KEY, str(response.status))] += 1
        return response

    return run


async def storage_prelude(request: web.Request) -> web.Response | None:
    """Checks and faults shared by POST Object and segment PUTs; a Response ends the request."""
    app = request.app
    config, state, faults, rng = app[CONFIG_KEY], app[STATE_KEY], app[FAULTS_KEY], app[RANDOM_KEY]
    counters = state.counters
    if "Authorization" in request.headers:
        counters.storage_authorization_headers += 1
        raise reject(
            400,
            "InvalidArgument",
            "Requests to storage must not carry an Authorization header "
            "(only one auth mechanism allowed).",
        )
    if faults.storage_latency:
        await asyncio.sleep(faults.storage_latency)
    if faults.storage_clock_step:
        state.clock.advance(faults.storage_clock_step)
    if faults.storage_5xx and rng.random() < faults.storage_5xx:
        counters.faults_injected["storage_5xx"] += 1
        status, code = rng.choice(((500, "InternalError"), (503, "SlowDown")))
        return s3_error(
            status,
            code,
            "Injected fault: please retry.",
            headers={"Retry-After": str(faults.retry_after)},
        )
    if request.headers.get("Transfer-Encoding", "").lower() == "chunked" or (
        request.content_length is None
    ):
        raise reject(
            411, "MissingContentLength", "You must provide the Content-Length HTTP header."
        )
    bucket = request.match_info["bucket"]
    if bucket not in {company.bucket for company in config.companies}:
        raise reject(404, "NoSuchBucket", "The specified bucket does not exist.")
    return None


@counted
async def post_object(request: web.Request) -> web.StreamResponse:
    """POST Object: form fields, then `file` last; 204/201 with the ETag, or an S3 error."""
    early = await storage_prelude(request)
    if early is not None:
        return early
    bucket = request.match_info["bucket"]
    if not request.content_type.startswith("multipart/form-data"):
        raise reject(
            412,
            "PreconditionFailed",
            "Bucket POST must be of the enclosure-type multipart/form-data.",
        )
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError) as exc:
        raise reject(
            400, "MalformedPOSTRequest", f"The body is not valid multipart: {exc}"
        ) from None
    fields: dict[str, str] = {}
    try:
        while True:
            part = await reader.next()
            if part is None:
                raise reject(
                    400, "InvalidArgument", "POST requires exactly one file upload per request."
                )
            if not isinstance(part, BodyPartReader):
                raise reject(400, "MalformedPOSTRequest", "Nested multipart is not allowed.")
            name = (part.name or "").lower()
            if name == "file":
                return await _receive_file(request, bucket, fields, part, reader)
            fields[name] = await _read_field(part)
    except ValueError as exc:
        raise reject(
            400, "MalformedPOSTRequest", f"The body is not valid multipart: {exc}"
        ) from None


async def _read_field(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(MAX_FIELD_BYTES):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise reject(
                400, "MaxPostPreDataLengthExceeded", "Your POST form fields are too large."
            )
    return data.decode("utf-8", "replace")


async def _receive_file(
    request: web.Request,
    bucket: str,
    fields: dict[str, str],
    part: BodyPartReader,
    reader: MultipartReader,
) -> web.StreamResponse:
    app = request.app
    config, state = app[CONFIG_KEY], app[STATE_KEY]
    now = state.clock.now()
    try:
        checked = check_post(fields, bucket=bucket, now=now, credentials=config.credentials())
    except PolicyViolation as violation:
        raise reject(violation.status, violation.code, violation.message) from None
    try:
        expected = expected_from(fields)
    except ChecksumRefused as refused:
        raise reject(refused.status, refused.code, refused.message) from None
    # S3's rule: conditions saw the key as sent; the object is stored under the substituted one.
    key = fields["key"].replace("${filename}", part.filename or "")
    record = state.find_upload_by_key(bucket, key)
    if record is not None and record.expires <= now:
        raise reject(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    loop = asyncio.get_running_loop()
    fd, tmp_path = await loop.run_in_executor(None, open_temp, app[DATA_DIR_KEY] / "tmp")
    try:
        digest = hashlib.md5()
        checksum = expected.digest()
        digests: list[Digest] = [digest] if checksum is None else [digest, checksum]
        size = await stream_to_disk(request, part.read_chunk, fd, checked.max_size, digests)
        md5 = digest.hexdigest()
        _check_tail(await reader.next() is not None, size, checked)
        try:
            expected.verify(digest.digest(), checksum)
        except ChecksumRefused as refused:
            raise reject(refused.status, refused.code, refused.message) from None
    except BaseException:
        # Synchronous on purpose: a reset connection cancels this task, and a cancelled executor
        # job might never run; closing and unlinking one file is quick.
        discard_temp(fd, tmp_path)
        raise
    name = hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()
    final = app[DATA_DIR_KEY] / "objects" / name
    await loop.run_in_executor(None, finish_temp, fd, tmp_path, final)
    stored = StoredObject(bucket=bucket, key=key, size=size, md5=md5, path=str(final))
    state.objects[(bucket, key)] = stored
    if record is not None:
        record.stored = stored
    response = _success(request, bucket, key, md5, fields)
    response.headers.update(expected.response_headers(checksum))
    return response


async def stream_to_disk(
    request: web.Request,
    read: Callable[[int], Awaitable[bytes]],
    fd: int,
    max_size: int,
    digests: Sequence[Digest],
) -> int:
    """Copy `read(n)` chunks to `fd` (~1 MiB per hand-off), updating `digests`; return the size.

    One write is in flight while the next chunk is read, so memory stays at about two chunks.
    Past `max_size` bytes are counted but not written (the answer will be EntityTooLarge).
    """
    app = request.app
    faults, state = app[FAULTS_KEY], app[STATE_KEY]
    reset_after: int | None = None
    if faults.reset and app[RANDOM_KEY].random() < faults.reset:
        # Partway: half the body, at most 1 MiB in, so even small files see the reset.
        reset_after = max(1, min((request.content_length or 2) // 2, CHUNK))
    loop = asyncio.get_running_loop()
    size = 0
    batch: list[bytes] = []
    batched = 0
    pending: asyncio.Future[tuple[None, None]] | None = None
    try:
        while True:
            chunk = await read(CHUNK)
            if chunk:
                size += len(chunk)
                await app[BANDWIDTH_KEY].spend(len(chunk), faults.storage_bandwidth)
                if reset_after is not None and size >= reset_after:
                    state.counters.faults_injected["reset"] += 1
                    reset_connection(request)
                    raise ConnectionResetError("injected connection reset")
                if size <= max_size:
                    batch.append(chunk)
                    batched += len(chunk)
            # Hand ~1 MiB at a time to the writer thread: fewer thread hops than per chunk.
            if batch and (batched >= CHUNK or not chunk):
                if pending is not None:
                    await pending
                # Hashing and writing run side by side (both release the GIL).
                pending = asyncio.gather(
                    loop.run_in_executor(None, _hash, digests, batch),
                    loop.run_in_executor(None, _write, fd, batch),
                )
                batch, batched = [], 0
            if not chunk:
                break
    finally:
        if pending is not None:
            await asyncio.shield(pending)
    return size


def _check_tail(more_parts: bool, size: int, checked: CheckedPolicy) -> None:
    if more_parts:
        raise reject(400, "InvalidArgument", "The file must be the last field in the form.")
    if size > checked.max_size:
        raise reject(
            400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size."
        )
    if size < checked.min_size:
        raise reject(
            400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size."
        )


def _success(
    request: web.Request, bucket: str, key: str, md5: str, fields: dict[str, str]
) -> web.Response:
    """S3's success answer: a 303 to `success_action_redirect` (or legacy `redirect`) when it is
    a usable URL, else the `success_action_status` (200, 201 with XML, or 204)."""
    headers = {"ETag": f'"{md5}"'}
    redirect = fields.get("success_action_redirect", fields.get("redirect"))
    target = urllib.parse.urlsplit(redirect) if redirect else None
    if redirect and target is not None and target.scheme in ("http", "https") and target.netloc:
        query = urllib.parse.urlencode({"bucket": bucket, "key": key, "etag": f'"{md5}"'})
        headers["Location"] = redirect + ("&" if target.query else "?") + query
        return web.Response(status=303, headers=headers)
    action_status = fields.get("success_action_status")
    location = f"{request.url.origin()}/s3/{bucket}/{urllib.parse.quote(key, safe='/')}"
    headers["Location"] = location
    if action_status == "201":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<PostResponse><Location>{escape(location)}</Location><Bucket>{escape(bucket)}</Bucket>"
            f"<Key>{escape(key)}</Key><ETag>&quot;{md5}&quot;</ETag></PostResponse>"
        )
        return web.Response(status=201, text=body, content_type="application/xml", headers=headers)
    return web.Response(status=200 if action_status == "200" else 204, headers=headers)


def reset_connection(request: web.Request) -> None:
    """Close the socket with SO_LINGER 0 so the client sees a TCP RST mid-body."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def open_temp(tmp_dir: Path) -> tuple[int, str]:
    tmp_dir.mkdir(parents=True, exist_ok=True)
    path = tmp_dir / os.urandom(12).hex()
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), str(path)


def _hash(digests: Sequence[Digest], chunks: list[bytes]) -> None:
    for digest in digests:
        for chunk in chunks:
            digest.update(chunk)


def _write(fd: int, chunks: list[bytes]) -> None:
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view) :]


def discard_temp(fd: int, path: str) -> None:
    os.close(fd)
    Path(path).unlink(missing_ok=True)


def finish_temp(fd: int, tmp_path: str, final: Path) -> None:
    os.close(fd)
    final.parent.mkdir(parents=True, exist_ok=True)
    Path(tmp_path).replace(final)


def add_storage_routes(app: web.Application) -> None:
    app.router.add_post("/s3/{bucket}", post_object)
    app.router.add_post("/s3/{bucket}/", post_object)
