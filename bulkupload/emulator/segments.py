"""Segmented uploads: a signed PUT URL per segment, checked on arrival (uploads.py completes them).

The PUT URLs are "presigned-ish": an HMAC over bucket, key, part, upload id, SHA-256 and expiry
in the query string, checked like S3 checks a presigned URL (signature, expiry, exact headers).
When a real S3 keeps the parts (`EmulatorState.part_store`, `--storage seaweedfs`), the URLs are
its own presigned UploadPart URLs instead, of the multipart upload Create started, and S3 checks
the PUTs itself.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import urllib.parse

from aiohttp import web

from .config import CONFIG_KEY, CompanyConfig, EmulatorConfig
from .core import PartSpec, UploadRecord
from .part_bodies import md5_header, receive_part, s3_part_headers
from .s3_errors import reject
from .state import STATE_KEY
from .storage_gate import counted, known_bucket, storage_prelude
from .streaming import DATA_DIR_KEY

HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def segment_signature(
    secret: str, bucket: str, key: str, part: int, upload_id: str, sha256: str, expires: int
) -> str:
    message = "\n".join(["PUT", bucket, key, str(part), upload_id, sha256, str(expires)])
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def plan_segments(config: EmulatorConfig, raw: object) -> list[dict[str, object]]:
    """Validate the `segments` of a Create Upload body; ValueError says what is wrong."""
    if not isinstance(raw, list) or not raw:
        raise ValueError("segments must be a non-empty list")
    planned: list[dict[str, object]] = []
    for index, segment in enumerate(raw):
        fields = segment if isinstance(segment, dict) else {}
        unknown = sorted(set(fields) - {"size", "sha256", "md5", "etag"})
        if unknown:
            raise ValueError(f"segment {index}: unknown key(s) {', '.join(unknown)}")
        size, sha256, md5 = fields.get("size"), fields.get("sha256"), fields.get("md5")
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise ValueError(f"segment {index}: size must be a positive integer")
        last = index == len(raw) - 1
        if size > config.max_segment_size or (not last and size < config.min_segment_size):
            raise ValueError(
                f"segment {index}: size must be {config.min_segment_size} to "
                f"{config.max_segment_size} bytes (only the last may be smaller)"
            )
        if not isinstance(sha256, str) or not HEX64.match(sha256.lower()):
            raise ValueError(f"segment {index}: sha256 (64 hex digits) is required")
        if md5 is not None and (not isinstance(md5, str) or not HEX32.match(md5.lower())):
            raise ValueError(f"segment {index}: md5 must be 32 hex digits")
        planned.append(
            {
                "size": size,
                "sha256": sha256.lower(),
                "md5": md5.lower() if isinstance(md5, str) else None,
                "etag": None,
                "path": None,
            }
        )
    return planned


def segment_answers(
    request: web.Request, company: CompanyConfig, record: UploadRecord
) -> list[dict[str, object]]:
    """The per-segment part of the Create Upload answer: URL and the exact headers to send."""
    config, state = request.app[CONFIG_KEY], request.app[STATE_KEY]
    expires = int(record.expires)
    store = state.part_store
    if store is not None and record.remote is not None:
        # S3's own presigned UploadPart, held to real time (not to the emulator's clock).
        expires_in = max(1, int(record.expires - state.clock.now()))
        remote_answers = []
        for number, segment in enumerate(record.segments, start=1):
            headers = s3_part_headers(_spec(segment))
            url = store.part_url(record.remote, number, headers, expires_in)
            remote_answers.append({**_described(segment), "url": url, "headers": headers})
        return remote_answers
    answers = []
    for number, segment in enumerate(record.segments, start=1):
        sha256, md5 = str(segment["sha256"]), segment["md5"]
        query = urllib.parse.urlencode(
            {
                "partNumber": number,
                "uploadId": record.uuid,
                "X-Amz-Expires": expires,
                "X-Amz-Signature": segment_signature(
                    config.secret_key,
                    company.bucket,
                    record.key,
                    number,
                    record.uuid,
                    sha256,
                    expires,
                ),
            }
        )
        headers = {"x-amz-content-sha256": sha256, "content-length": str(segment["size"])}
        if isinstance(md5, str):
            headers["content-md5"] = md5_header(md5)
        answer = _described(segment)
        answer["url"] = f"{request.url.origin()}/s3/{company.bucket}/{record.key}?{query}"
        answer["headers"] = headers
        answers.append(answer)
    return answers


def _described(segment: dict[str, object]) -> dict[str, object]:
    """What an answer repeats of a segment Create was told of."""
    answer: dict[str, object] = {"size": segment["size"], "sha256": segment["sha256"]}
    if isinstance(segment["md5"], str):  # published as a string: absent rather than null
        answer["md5"] = segment["md5"]
    return answer


def _spec(segment: dict[str, object]) -> PartSpec:
    md5 = segment["md5"]
    return PartSpec(
        int(str(segment["size"])), str(segment["sha256"]), md5 if isinstance(md5, str) else None
    )


@counted
async def put_segment(request: web.Request) -> web.StreamResponse:
    """PUT one segment's bytes: signature, expiry, length, SHA-256 and MD5 are all checked."""
    app = request.app
    config, state = app[CONFIG_KEY], app[STATE_KEY]
    early = await storage_prelude(request)
    if early is not None:
        return early
    bucket, key, query = known_bucket(request), request.match_info["key"], request.query
    record = state.find_upload(query.get("uploadId", ""))
    try:
        number = int(query.get("partNumber", ""))
        expires = int(query.get("X-Amz-Expires", ""))
    except ValueError:
        raise reject(400, "InvalidArgument", "partNumber and X-Amz-Expires are required.") from None
    if record is None or (record.bucket, record.key) != (bucket, key):
        raise reject(404, "NoSuchUpload", "The specified upload does not exist.")
    if not 1 <= number <= len(record.segments):
        raise reject(400, "InvalidArgument", "partNumber is out of range.")
    segment = record.segments[number - 1]
    sha256 = str(segment["sha256"])
    expected = segment_signature(
        config.secret_key, bucket, key, number, record.uuid, sha256, expires
    )
    if not hmac.compare_digest(expected, query.get("X-Amz-Signature", "")):
        raise reject(403, "SignatureDoesNotMatch", "The request signature does not match.")
    now = state.clock.now()
    if now >= expires or now >= record.expires:
        raise reject(403, "AccessDenied", "Request has expired")
    spec = _spec(segment)
    final = app[DATA_DIR_KEY] / "parts" / f"{record.uuid}.{number}"
    received = await receive_part(request, spec, final)
    segment["etag"] = received.etag
    segment["path"] = str(final)
    return web.Response(status=200, headers=received.headers)


def add_segment_routes(app: web.Application) -> None:
    app.router.add_put("/s3/{bucket}/{key:.+}", put_segment)
