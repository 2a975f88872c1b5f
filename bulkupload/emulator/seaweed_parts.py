"""v2.1 parts and v1.1 segments in SeaweedFS: the `PartStore` of `unified.remote`, by S3
multipart uploads.

Every call is SigV4-signed with the emulator's storage keys; a failed or unexpected answer is
Procore's published 503 for the API call that needed it (the client tries again later).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import aiohttp
from aiohttp import web

from .checksums import Digest
from .config import EmulatorConfig
from .part_bodies import plain_etag
from .sigv4 import presign_url, sign_headers
from .unified.remote import PartsRefused, RemoteObject

S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
READ_CHUNK = 1024 * 1024


class StorageTrouble(RuntimeError):
    """SeaweedFS answered an S3 call with neither what the call is for nor a refusal it
    expects (a lookup: neither the object nor its absence)."""


@dataclass(slots=True)
class SeaweedParts:
    """Multipart uploads in the companies' buckets of one SeaweedFS."""

    session: aiohttp.ClientSession
    endpoint: str
    config: EmulatorConfig
    background: set[asyncio.Task[None]] = field(default_factory=set)

    async def begin(self, company_id: int, key: str, headers: dict[str, str]) -> RemoteObject:
        company = self.config.company(company_id)
        assert company is not None  # the middleware checked the scope
        remote = RemoteObject(company.bucket, key, "")
        url = f"{self.object_url(remote)}?uploads"
        body = await self._call("POST", url, headers)
        s3_upload_id = _find(body, "UploadId")
        if not s3_upload_id:
            raise _unavailable() from StorageTrouble(f"CreateMultipartUpload: {body[:300]!r}")
        return RemoteObject(remote.bucket, remote.key, s3_upload_id)

    def part_url(
        self, remote: RemoteObject, number: int, headers: dict[str, str], expires_in: int
    ) -> str:
        url = f"{self.object_url(remote)}?partNumber={number}&{_upload_query(remote)}"
        return presign_url(
            "PUT",
            url,
            headers=headers,
            access_key=self.config.access_key,
            secret_key=self.config.secret_key,
            region=self.config.region,
            now=time.time(),
            expires_in=expires_in,
        )

    async def etags(self, remote: RemoteObject) -> dict[int, str]:
        found: dict[int, str] = {}
        marker = "0"
        while True:
            query = f"{_upload_query(remote)}&part-number-marker={marker}"
            status, body = await self._answer("GET", f"{self.object_url(remote)}?{query}")
            if status == 404:
                return {}  # completed or aborted: S3 holds no parts for it any more
            if status != 200:
                raise _unavailable() from StorageTrouble(f"ListParts: {status} {body[:300]!r}")
            try:
                root = ET.fromstring(body)
                ns = S3_NS if root.tag.startswith(S3_NS) else ""
                for part in root.iter(f"{ns}Part"):
                    # SeaweedFS lists a part PUT twice as two entries; the later one is kept.
                    number = int(part.findtext(f"{ns}PartNumber") or 0)
                    found[number] = plain_etag(part.findtext(f"{ns}ETag") or "")
            except (ET.ParseError, ValueError) as exc:
                raise _unavailable() from exc
            marker = root.findtext(f"{ns}NextPartNumberMarker") or ""
            if root.findtext(f"{ns}IsTruncated") != "true" or not marker:
                return found

    async def finish(self, remote: RemoteObject, etags: list[str]) -> None:
        parts = "".join(
            f"<Part><PartNumber>{number}</PartNumber><ETag>&quot;{escape(etag)}&quot;</ETag></Part>"
            for number, etag in enumerate(etags, start=1)
        )
        body = f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()
        url = f"{self.object_url(remote)}?{_upload_query(remote)}"
        status, answer = await self._answer("POST", url, payload=body)
        if status == 404 and await self._completed_from(remote, etags):
            return  # completed by an earlier call whose answer was lost: the same parts
        if status in (400, 404):  # InvalidPart, InvalidPartOrder, NoSuchUpload (a part missing)
            raise PartsRefused(answer[:300].decode(errors="replace"))
        if status != 200 or b"<Error>" in answer:  # S3 may answer 200 with an error body
            trouble = StorageTrouble(f"CompleteMultipartUpload: {status} {answer[:300]!r}")
            raise _unavailable() from trouble
        made = plain_etag(_find(answer, "ETag"))
        if made and made != multipart_etag(etags):
            # SeaweedFS answers 200 to a completion repeated with any ETags, naming the object
            # it completed before: not from these parts.
            raise PartsRefused(f"completed before from other parts ({made})")

    async def digests(self, remote: RemoteObject, names: tuple[str, ...]) -> dict[str, str]:
        digests = [hashlib.new(name) for name in names]
        try:
            status = await self._read_into(self.object_url(remote), digests)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _unavailable() from exc
        if status != 200:
            raise _unavailable() from StorageTrouble(f"GetObject {remote.key}: {status}")
        return {name: digest.hexdigest() for name, digest in zip(names, digests, strict=True)}

    async def _read_into(self, url: str, digests: Sequence[Digest]) -> int:
        """GET the object at `url` into `digests`; the answer's status."""
        async with self.session.get(url, headers=self._signed("GET", url)) as response:
            if response.status == 200:
                async for chunk in response.content.iter_chunked(READ_CHUNK):
                    for digest in digests:
                        digest.update(chunk)
            return response.status

    def discard(self, remote: RemoteObject, *, completed: bool) -> None:
        # Not known complete: abort the multipart upload, and delete an object it may have
        # become all the same (a completion whose answer was lost).
        url = self.object_url(remote)
        urls = [url] if completed else [f"{url}?{_upload_query(remote)}", url]
        task = asyncio.get_running_loop().create_task(self._delete(urls))
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _delete(self, urls: list[str]) -> None:
        for url in urls:
            try:
                async with self.session.delete(url, headers=self._signed("DELETE", url)):
                    pass
            except (aiohttp.ClientError, TimeoutError):
                pass  # the bytes of a deleted upload stay in SeaweedFS; nothing reads them

    async def _completed_from(self, remote: RemoteObject, etags: list[str]) -> bool:
        """Whether the object exists, completed from parts with these ETags."""
        wanted = multipart_etag(etags)
        if wanted is None:
            return False
        try:
            status, headers, _ = await s3_request(
                self.session, self.config, "HEAD", self.object_url(remote)
            )
        except (aiohttp.ClientError, TimeoutError):
            return False
        return status == 200 and plain_etag(headers.get("ETag", "")) == wanted

    async def _call(
        self, method: str, url: str, headers: Mapping[str, str] = {}, payload: bytes = b""
    ) -> bytes:
        """The body of a 200 answer to a signed S3 call; anything else is a 503 to raise."""
        status, body = await self._answer(method, url, headers, payload)
        if status != 200:
            raise _unavailable() from StorageTrouble(f"{method} {url}: {status} {body[:300]!r}")
        return body

    async def _answer(
        self, method: str, url: str, headers: Mapping[str, str] = {}, payload: bytes = b""
    ) -> tuple[int, bytes]:
        """(status, body) of a signed S3 call; a failed connection is a 503 to raise."""
        try:
            status, _, body = await s3_request(
                self.session, self.config, method, url, headers=headers, payload=payload
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _unavailable() from exc
        return status, body

    def _signed(self, method: str, url: str, payload: bytes = b"") -> dict[str, str]:
        return s3_headers(self.config, method, url, payload)

    def object_url(self, remote: RemoteObject) -> str:
        return f"{self.endpoint}/{remote.bucket}/{remote.key}"


async def s3_request(
    session: aiohttp.ClientSession,
    config: EmulatorConfig,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] = {},
    payload: bytes = b"",
) -> tuple[int, Mapping[str, str], bytes]:
    """(status, headers, body) of an S3 call signed with the emulator's storage keys; a failed
    connection raises aiohttp's error."""
    signed = {**headers, **s3_headers(config, method, url, payload)}
    async with session.request(method, url, headers=signed, data=payload) as response:
        return response.status, response.headers, await response.read()


def s3_headers(
    config: EmulatorConfig, method: str, url: str, payload: bytes = b""
) -> dict[str, str]:
    """SigV4 headers for an S3 call with the emulator's storage keys, signed now."""
    return sign_headers(
        method,
        url,
        access_key=config.access_key,
        secret_key=config.secret_key,
        region=config.region,
        now=time.time(),
        payload=payload,
    )


def multipart_etag(etags: list[str]) -> str | None:
    """S3's ETag of an object completed from parts with these ETags (MD5 hex): the MD5 of the
    parts' binary MD5s, then the number of parts; None when one is no MD5 hex."""
    try:
        joined = b"".join(bytes.fromhex(etag) for etag in etags)
    except ValueError:
        return None
    return f"{hashlib.md5(joined).hexdigest()}-{len(etags)}"


def _upload_query(remote: RemoteObject) -> str:
    return "uploadId=" + urllib.parse.quote(remote.s3_upload_id, safe="")


def _find(body: bytes, name: str) -> str:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return ""
    ns = S3_NS if root.tag.startswith(S3_NS) else ""
    return root.findtext(f"{ns}{name}") or ""


def _unavailable() -> web.HTTPServiceUnavailable:
    """Procore's published answer when its storage fails it."""
    return web.HTTPServiceUnavailable(reason="Storage did not answer.")
