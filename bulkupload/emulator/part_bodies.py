"""One part's bytes PUT to storage (v1.1 segments, v2.1 parts): the headers S3 checks, the body
streamed to disk and checked against the part's size, SHA-256 and MD5; parts joined in order, or
only hashed in order (v2.1 keeps them as the object's pieces)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from .checksums import ChecksumRefused, Digest, Expected, expected_from
from .core import PartSpec
from .s3_errors import reject
from .streaming import CHUNK, DATA_DIR_KEY, stream_to_disk, temp_file


@dataclass(frozen=True, slots=True)
class ReceivedPart:
    etag: str  # the MD5 hex of the bytes, unquoted
    headers: dict[str, str]  # the 200 answer's headers (ETag, any x-amz-checksum-* echoed)


def md5_header(md5_hex: str) -> str:
    """The `Content-MD5` value (base64 of the digest) for an MD5 given in hex."""
    return base64.b64encode(binascii.unhexlify(md5_hex)).decode()


def plain_etag(etag: str) -> str:
    """An ETag as S3 compares it: quotes and case aside."""
    return etag.strip().strip('"').lower()


def s3_part_headers(spec: PartSpec) -> dict[str, str]:
    """What a PUT of the part to S3's own presigned UploadPart URL must carry, for S3 to check
    its bytes: its SHA-256 (as S3's `x-amz-checksum-sha256`, base64) and, when given, its MD5."""
    sha256 = base64.b64encode(binascii.unhexlify(spec.sha256)).decode()
    headers = {"x-amz-checksum-sha256": sha256}
    if spec.md5 is not None:
        headers["Content-MD5"] = md5_header(spec.md5)
    return headers


async def receive_part(request: web.Request, spec: PartSpec, final: Path) -> ReceivedPart:
    """Check the headers, stream the body to `final`, check the bytes; `Rejected` on a miss.

    Call it once the URL itself (signature, expiry, upload) has been accepted.
    """
    if request.headers.get("x-amz-content-sha256", "").lower() != spec.sha256:
        raise reject(400, "XAmzContentSHA256Mismatch", "x-amz-content-sha256 must be as signed.")
    if request.content_length != spec.size:
        raise reject(400, "InvalidArgument", f"Content-Length must be {spec.size}.")
    if spec.md5 is not None and request.headers.get("Content-MD5") != md5_header(spec.md5):
        raise reject(400, "InvalidDigest", "Content-MD5 is missing or not as given.")
    promised = _promised(request)
    md5_digest, sha_digest = hashlib.md5(), hashlib.sha256()
    checksum = promised.digest()
    digests: list[Digest] = [md5_digest, sha_digest]
    if checksum is not None:
        digests.append(checksum)
    data_dir = request.app[DATA_DIR_KEY]
    async with temp_file(data_dir, final) as fd:
        size = await stream_to_disk(request, request.content.read, fd, spec.size, digests)
        _check_bytes(size, md5_digest.hexdigest(), sha_digest.hexdigest(), spec)
        try:
            promised.verify(md5_digest.digest(), checksum)
        except ChecksumRefused as refused:
            raise reject(refused.status, refused.code, refused.message) from None
    etag = md5_digest.hexdigest()
    return ReceivedPart(etag, {"ETag": f'"{etag}"', **promised.response_headers(checksum)})


def _promised(request: web.Request) -> Expected:
    """Like any S3 PUT: a Content-MD5 or x-amz-checksum-* header is checked on the bytes too."""
    try:
        return expected_from(
            {
                name.lower(): value
                for name, value in request.headers.items()
                if name.lower() == "content-md5" or name.lower().startswith("x-amz-checksum-")
            }
        )
    except ChecksumRefused as refused:
        raise reject(refused.status, refused.code, refused.message) from None


def _check_bytes(size: int, md5: str, sha256: str, spec: PartSpec) -> None:
    if size != spec.size:
        raise reject(400, "IncompleteBody", "The body is shorter than Content-Length.")
    if sha256 != spec.sha256:
        raise reject(400, "XAmzContentSHA256Mismatch", "The body's SHA-256 is not as signed.")
    if spec.md5 is not None and md5 != spec.md5:
        raise reject(400, "BadDigest", "The Content-MD5 you specified did not match.")


def assemble_parts(parts: list[Path], final: Path, digests: Sequence[Digest]) -> int:
    """Join `parts` into `final` (1 MiB at a time), updating `digests`; each part is deleted
    once joined, so a big object needs its own size on disk plus one part, not twice its size.

    Blocking: run it in an executor. Returns the object's size.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    with final.open("wb") as out:
        return _feed(parts, digests, out.write, unlink=True)


def hash_files(paths: Sequence[Path], digests: Sequence[Digest]) -> int:
    """Update `digests` with the files' bytes, in order (1 MiB at a time); their total size.

    Blocking: run it in an executor. OSError (FileNotFoundError...) when a file cannot be read.
    """
    return _feed(paths, digests, None, unlink=False)


def _feed(
    paths: Sequence[Path],
    digests: Sequence[Digest],
    write: Callable[[bytes], object] | None,
    *,
    unlink: bool,
) -> int:
    """Read `paths` in order into `digests` (and `write`); delete each one read if `unlink`.

    The first digest (MD5 in every caller: the slowest) is updated in a helper thread, while
    this one reads the next chunk and updates the others (hashlib lets go of the GIL): the MD5
    alone sets the pace, two cores on a big object, about 2 MiB of memory.
    """
    size = 0
    first, rest = digests[:1], digests[1:]
    with ThreadPoolExecutor(1) as helper:
        pending: Future[None] | None = None
        for path in paths:
            with path.open("rb") as source:
                while chunk := source.read(CHUNK):
                    if pending is not None:
                        pending.result()
                    pending = helper.submit(_update, first, chunk) if first else None
                    _update(rest, chunk)
                    size += len(chunk)
                    if write is not None:
                        write(chunk)
            if unlink:
                path.unlink(missing_ok=True)
        if pending is not None:
            pending.result()
    return size


def _update(digests: Sequence[Digest], chunk: bytes) -> None:
    for digest in digests:
        digest.update(chunk)
