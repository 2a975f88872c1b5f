"""One storage request (a POST of a form or a PUT of a segment) and the one reading of its answer.

Storage answers like S3 whatever protocol sent the bytes, so one mapping serves them all: an
`<Error>` document becomes StorageError, PolicyExpired (fresh instructions are needed) or
StorageUnavailable (worth another try); a success gives the ETag, checked against the MD5 we
sent when it is one. aiohttp's errors are mapped here once too: a TLS failure is InsecureStorage
(never retried), anything else on the way a NetworkError, and a file problem met while the body
was written is raised as itself.
"""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
import anyio
from multidict import CIMultiDictProxy

from bulkupload.errors import (
    InsecureStorage,
    NetworkError,
    PolicyExpired,
    StorageError,
    StorageUnavailable,
)
from bulkupload.procore.answers import MAX_STORAGE_ANSWER_BYTES, read_capped, retry_after_seconds
from bulkupload.procore.unreachable import cause_words
from bulkupload.protocols.body import FileRange
from bulkupload.urls import check_storage_url, tls_failure, url_host

__all__ = [
    "StorageReceipt",
    "parse_s3_error",
    "refuse_credentials",
    "send_body",
    "storage_network_error",
    "storage_receipt",
]

_MD5_ETAG = re.compile(r"[0-9a-fA-F]{32}")


def parse_s3_error(body: bytes) -> tuple[str, str]:
    """S3's `<Error><Code>..</Code><Message>..</Message></Error>`, read without an XML parser;
    the message falls back to the start of the body as one line."""
    text = body.decode("utf-8", "replace")
    code = re.search(r"<Code>(.*?)</Code>", text, re.S)
    message = re.search(r"<Message>(.*?)</Message>", text, re.S)
    plain = " ".join(text.split())[:300]
    return (
        html.unescape(code.group(1).strip()) if code else "",
        html.unescape(message.group(1).strip()) if message else plain,
    )


@dataclass(frozen=True, slots=True)
class StorageReceipt:
    """What storage said after it stored bytes: its status, the ETag (unquoted) and our MD5."""

    status: int
    etag: str | None
    md5: str


def storage_receipt(
    status: int, headers: CIMultiDictProxy[str] | dict[str, str], body: bytes, md5: str
) -> StorageReceipt:
    """What storage's answer means for bytes whose MD5 is `md5`; raises unless it stored them.

    Expired is one rule for a POST policy ("Invalid according to Policy: Policy expired") and a
    presigned PUT ("Request has expired"): a 403 whose message says expired.
    """
    if 200 <= status < 300:
        etag = (headers.get("ETag") or "").strip().strip('"') or None
        # A multipart or encrypted object's ETag is no MD5; a plain one must be ours (when we
        # know ours: a v2.1 part is checked by its SHA-256 alone).
        if md5 and etag and _MD5_ETAG.fullmatch(etag) and etag.lower() != md5:
            raise StorageError(status, "BadDigest", f"storage stored MD5 {etag}, we sent {md5}")
        return StorageReceipt(status=status, etag=etag, md5=md5)
    code, message = parse_s3_error(body)
    if status == 403 and "expired" in message.lower():
        raise PolicyExpired(status, code or "AccessDenied", message)
    if status >= 500:
        raise StorageUnavailable(
            status,
            code or "ServiceUnavailable",
            message,
            retry_after=retry_after_seconds(headers),
        )
    raise StorageError(status, code or f"HTTP{status}", message or f"HTTP {status}")


def storage_network_error(
    method: str, url: str, exc: BaseException
) -> InsecureStorage | NetworkError:
    """What a failed storage request means: a TLS failure (this file fails, never retried) or a
    network error (retried). Names the host only: a storage URL's query is signed."""
    host = url_host(url)
    if (tls := tls_failure(exc, host)) is not None:
        return InsecureStorage(tls, host=host)
    return NetworkError(f"storage {method} to {host} failed ({cause_words(exc)})", host=host)


def refuse_credentials(session: aiohttp.ClientSession) -> None:
    """The token never leaves the API host: a storage session carrying credentials is a bug."""
    if "Authorization" in session.headers or session.auth is not None:
        raise ValueError("the storage session must not carry credentials")


async def send_body(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: FileRange,
    *,
    headers: Sequence[tuple[str, str]] = (),
    allow_http: bool = False,
    slots: anyio.CapacityLimiter | None = None,
) -> StorageReceipt:
    """One storage request with `body`: one attempt, never authenticated, never redirected.

    `url` passes the connection rule before anything is opened or connected (InsecureStorage).
    Raises FileVanished/FileUnreadable/FileChanged, PolicyExpired, StorageUnavailable,
    StorageError, NetworkError or InsecureStorage; whatever fails takes the body's bytes back
    off its meter. The body is closed when this returns. `slots`: the run's budget of storage
    requests in flight, held for the whole request.
    """
    refuse_credentials(session)
    check_storage_url(url, allow_http=allow_http)
    async with slots if slots is not None else contextlib.nullcontext():
        return await _send(session, method, url, body, headers)


async def _send(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: FileRange,
    headers: Sequence[tuple[str, str]],
) -> StorageReceipt:
    try:
        await body.open()
        try:
            # No redirects: S3's TemporaryRedirect cannot be followed with a body sent once.
            async with session.request(
                method, url, data=body, headers=list(headers), allow_redirects=False
            ) as resp:
                answer, _ = await read_capped(resp, MAX_STORAGE_ANSWER_BYTES)
                status, answer_headers = resp.status, resp.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            if body.failure is not None:
                raise body.failure from exc
            raise storage_network_error(method, url, exc) from exc
        return storage_receipt(status, answer_headers, answer, body.md5)
    except BaseException:
        body.rewind()
        raise
    finally:
        await body.close()
