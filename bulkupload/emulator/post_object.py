"""S3 POST Object on the emulator's own storage: the multipart form a Create Upload answer
describes, checked the way AWS does (see `policy_check.check_post`), the file last, S3's answers.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from xml.sax.saxutils import escape

from aiohttp import BodyPartReader, MultipartReader, web

from .checksums import ChecksumRefused, Digest, expected_from
from .config import CONFIG_KEY
from .core import StoredObject
from .policy_check import CheckedPolicy, PolicyViolation, check_post
from .s3_errors import reject
from .state import STATE_KEY
from .storage_gate import counted, known_bucket, storage_prelude
from .streaming import DATA_DIR_KEY, object_path, stream_to_disk, temp_file

MAX_FIELD_BYTES = 64 * 1024


@counted
async def post_object(request: web.Request) -> web.StreamResponse:
    """POST Object: form fields, then `file` last; 204/201 with the ETag, or an S3 error."""
    early = await storage_prelude(request)
    if early is not None:
        return early
    bucket = known_bucket(request)
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
    final = object_path(app[DATA_DIR_KEY], bucket, key)
    async with temp_file(app[DATA_DIR_KEY], final) as fd:
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
    stored = StoredObject(bucket=bucket, key=key, size=size, md5=md5, path=str(final))
    state.objects[(bucket, key)] = stored
    if record is not None:
        record.stored = stored
    response = _success(request, bucket, key, md5, fields)
    response.headers.update(expected.response_headers(checksum))
    return response


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


def add_post_object_routes(app: web.Application) -> None:
    app.router.add_post("/s3/{bucket}", post_object)
    app.router.add_post("/s3/{bucket}/", post_object)
