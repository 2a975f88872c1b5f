"""PUTs of v2.1 parts to their presigned URLs: the headers given, the ETag answered, every refusal
S3 would make, and the storage faults and counters that apply to every storage request."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

from emulator_testkit import Api, s3_code
from unified_testkit import BIG, Unified, create_body


def etag_of(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


async def test_parts_put_with_the_given_headers_answer_their_md5_as_etag(api: Api) -> None:
    v21 = Unified(api)
    pieces = [BIG, b"the last part"]
    data = await v21.start(pieces)
    api.emulator.reset_counters()
    assert await v21.send(data, pieces) == [etag_of(piece) for piece in pieces]
    counters = api.emulator.counters()
    assert (counters["storage_requests"], counters["storage_success"]) == (2, 2)
    assert counters["storage_authorization_headers"] == 0
    assert counters["api_calls"] == 0  # storage PUTs are no API calls
    [record] = api.emulator.v21_uploads()
    assert (record["parts_received"], record["status"]) == (2, "ready")


async def test_a_part_put_again_is_the_last_one_sent(api: Api) -> None:
    v21 = Unified(api)
    data = await v21.start([b"abc"])
    [segment] = data["segments"]
    for _ in range(2):
        status, text, headers = await v21.put(segment, b"abc")
        assert status == 200, text
    status, done = await v21.patch(data["upload_id"], [headers["ETag"]])
    assert (status, done["data"]["status"]) == (200, "available")
    [record] = api.emulator.v21_uploads()
    assert record["md5"] == hashlib.md5(b"abc").hexdigest()


async def test_refusals_of_a_part_put(api: Api) -> None:
    v21 = Unified(api)
    data = await v21.start([b"abcd"])
    [segment] = data["segments"]
    counters = api.emulator.reset_counters

    counters()
    status, text, _ = await v21.put(segment, b"abcd", Authorization=f"Bearer {api.token}")
    assert (status, s3_code(text)) == (400, "InvalidArgument")
    assert "Only one auth mechanism allowed" in text
    assert api.emulator.counters()["storage_authorization_headers"] == 1

    status, text, _ = await v21.put(segment, b"abc")  # one byte short of the part's size
    assert (status, s3_code(text)) == (400, "InvalidArgument")
    status, text, _ = await v21.put(segment, b"abce")
    assert (status, s3_code(text)) == (400, "XAmzContentSHA256Mismatch")
    other = {**segment, "headers": {**segment["headers"], "x-amz-content-sha256": "0" * 64}}
    status, text, _ = await v21.put(other, b"abcd")
    assert (status, s3_code(text)) == (400, "XAmzContentSHA256Mismatch")
    tampered = {**segment, "url": segment["url"].replace("sig=", "sig=0")}
    status, text, _ = await v21.put(tampered, b"abcd")
    assert (status, s3_code(text)) == (403, "SignatureDoesNotMatch")
    later = {**segment, "url": segment["url"].replace("expires_at=", "expires_at=9")}
    status, text, _ = await v21.put(later, b"abcd")
    assert (status, s3_code(text)) == (403, "SignatureDoesNotMatch")

    async def chunks() -> AsyncIterator[bytes]:
        yield b"abcd"

    async with api.session.put(
        segment["url"], data=chunks(), headers=segment["headers"]
    ) as response:
        assert (response.status, s3_code(await response.text())) == (411, "MissingContentLength")

    api.emulator.advance_clock(3600)
    status, text, _ = await v21.put(segment, b"abcd")
    assert (status, s3_code(text)) == (403, "AccessDenied")
    assert "Request has expired" in text
    errors = api.emulator.counters()["storage_errors"]
    assert errors == {
        "InvalidArgument": 2,
        "XAmzContentSHA256Mismatch": 2,
        "SignatureDoesNotMatch": 2,
        "MissingContentLength": 1,
        "AccessDenied": 1,
    }
    [record] = api.emulator.v21_uploads()
    assert record["parts_received"] == 0  # nothing refused was kept


async def test_bytes_that_are_not_the_md5_given_are_a_bad_digest(api: Api) -> None:
    v21 = Unified(api)
    body = create_body([b"abcd"])
    body["segments"][0]["md5"] = hashlib.md5(b"other").hexdigest()  # the SHA-256 is right
    status, answer = await v21.create(body)
    assert status == 201, answer
    [segment] = answer["data"]["segments"]
    status, text, _ = await v21.put(segment, b"abcd")
    assert (status, s3_code(text)) == (400, "BadDigest")
    without = {
        **segment,
        "headers": {"x-amz-content-sha256": segment["headers"]["x-amz-content-sha256"]},
    }
    status, text, _ = await v21.put(without, b"abcd")
    assert (status, s3_code(text)) == (400, "InvalidDigest")  # the header given is required


async def test_a_completed_or_deleted_upload_takes_no_parts(api: Api) -> None:
    v21 = Unified(api)
    data = await v21.start([b"abcd"])
    [segment] = data["segments"]
    etags = await v21.send(data, [b"abcd"])
    assert (await v21.patch(data["upload_id"], etags))[0] == 200
    status, text, _ = await v21.put(segment, b"abcd")
    assert (status, s3_code(text)) == (404, "NoSuchUpload")

    data = await v21.start([b"efgh"])
    api.emulator.advance_clock(24 * 3600 - 120)
    await api.login()  # the token has expired meanwhile
    status, shown = await v21.status(data["upload_id"])  # renews the URL: valid for an hour
    assert status == 200, shown
    [segment] = shown["data"]["segments"]
    api.emulator.advance_clock(180)  # the URL is still good, the upload is gone
    status, text, _ = await v21.put(segment, b"efgh")
    assert (status, s3_code(text)) == (404, "NoSuchUpload")


async def test_storage_faults_apply_to_part_puts(api: Api) -> None:
    v21 = Unified(api)
    data = await v21.start([b"abcd"])
    [segment] = data["segments"]
    api.emulator.reset_counters()
    api.emulator.set_faults(storage_5xx=1.0, retry_after=3)
    status, text, headers = await v21.put(segment, b"abcd")
    assert status in (500, 503)
    assert s3_code(text) in ("InternalError", "SlowDown")
    assert headers["Retry-After"] == "3"
    counters = api.emulator.counters()
    assert counters["faults_injected"] == {"storage_5xx": 1}
    assert sum(counters["storage_errors"].values()) == 1
    assert counters["storage_peak_in_flight"] == 1

    api.emulator.set_faults(storage_5xx=0.0, storage_clock_step=3600)
    status, text, _ = await v21.put(segment, b"abcd")  # the request itself outlived the URL
    assert (status, s3_code(text)) == (403, "AccessDenied")
    api.emulator.set_faults(storage_clock_step=0)
    status, shown = await v21.status(data["upload_id"])
    assert status == 200, shown
    status, text, _ = await v21.put(shown["data"]["segments"][0], b"abcd")
    assert status == 200, text
