"""Segmented uploads: create with segments, PUT each with the given headers, PATCH to complete."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import aiohttp
from emulator_testkit import Api, s3_code

from bulkupload.emulator.server import RunningEmulator

MIN = 64 * 1024  # the test emulator's minimum segment size (5 MB by default)


def describe(data: bytes, *, md5: bool = True) -> dict[str, Any]:
    segment: dict[str, Any] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    if md5:
        segment["md5"] = hashlib.md5(data).hexdigest()
    return segment


async def setup(make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession) -> Api:
    api = Api(make_emulator(min_segment_size=MIN), http)
    await api.login()
    return api


async def put(
    http: aiohttp.ClientSession, segment: dict[str, Any], data: bytes, **extra: str
) -> tuple[int, str, Any]:
    headers = {k: v for k, v in segment["headers"].items() if k != "content-length"}
    async with http.put(segment["url"], data=data, headers={**headers, **extra}) as response:
        return response.status, await response.text(), response.headers


async def test_segmented_upload_round_trip(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    api = await setup(make_emulator, http)
    pieces = [b"a" * MIN, b"b" * MIN, b"tail"]
    status, body, _ = await api.call(
        "/rest/v1.1/projects/42/uploads",
        {
            "response_filename": "big.bin",
            "segments": [describe(p, md5=i != 1) for i, p in enumerate(pieces)],
        },
    )
    assert status == 201, body
    assert body["status"] == "ready"
    assert len(body["segments"]) == 3
    assert "content-md5" not in body["segments"][1]["headers"]
    etags = []
    for segment, data in zip(body["segments"], pieces, strict=True):
        status, text, headers = await put(http, segment, data)
        assert status == 200, text
        etags.append({"etag": headers["ETag"]})
    status, done, _ = await api.call_method(
        "PATCH", f"/rest/v1.1/projects/42/uploads/{body['uuid']}", {"segments": etags}
    )
    assert status == 200, done
    assert done["status"] == "complete"
    whole = b"".join(pieces)
    [record] = api.emulator.uploads()
    assert record["used"] is True
    assert record["md5"] == hashlib.md5(whole).hexdigest()
    path = api.emulator.object_path(record["bucket"], record["key"])
    assert path is not None
    assert path.read_bytes() == whole


async def test_segment_rejections(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    api = await setup(make_emulator, http)
    data = b"x" * 1000
    status, body, _ = await api.call(
        "/rest/v1.1/projects/42/uploads", {"response_filename": "s", "segments": [describe(data)]}
    )
    assert status == 201
    [segment] = body["segments"]
    status, text, _ = await put(http, segment, b"y" * 1000)
    assert (status, s3_code(text)) == (400, "XAmzContentSHA256Mismatch")
    status, text, _ = await put(http, segment, data, Authorization="Bearer t")
    assert (status, s3_code(text)) == (400, "InvalidArgument")
    tampered = {**segment, "url": segment["url"].replace("X-Amz-Signature=", "X-Amz-Signature=0")}
    status, text, _ = await put(http, tampered, data)
    assert (status, s3_code(text)) == (403, "SignatureDoesNotMatch")
    status, _, _ = await api.call_method(
        "PATCH", f"/rest/v1.1/projects/42/uploads/{body['uuid']}", {"segments": [{"etag": "x"}]}
    )
    assert status == 422  # nothing uploaded yet
    api.emulator.advance_clock(3601)
    status, text, _ = await put(http, segment, data)
    assert (status, s3_code(text)) == (403, "AccessDenied")


async def test_segment_plan_is_validated(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    api = await setup(make_emulator, http)
    small_first = [describe(b"a" * 10), describe(b"b" * 10)]
    for segments in (small_first, [{"size": 10}], [], [{**describe(b"c"), "colour": "red"}]):
        status, body, _ = await api.call(
            "/rest/v1.1/projects/42/uploads", {"response_filename": "s", "segments": segments}
        )
        assert status == 400, body  # Create Upload's published refusal
        assert "segments" in body["errors"]


async def test_put_with_exactly_the_returned_headers_plus_octet_stream(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    """Procore's tutorial: the returned headers, plus `Content-Type: application/octet-stream`
    when they name none; Content-Length is the returned one; no Authorization."""
    api = await setup(make_emulator, http)
    data = b"q" * 5000
    status, body, _ = await api.call(
        "/rest/v1.0/projects/42/uploads", {"segments": [describe(data)]}
    )
    assert status == 201, body
    [segment] = body["segments"]
    assert "content-type" not in {name.lower() for name in segment["headers"]}
    exact = {**segment["headers"], "Content-Type": "application/octet-stream"}
    async with http.put(segment["url"], data=data, headers=exact) as response:
        assert response.status == 200, await response.text()
        etag = response.headers["ETag"]
    # The returned headers already include content-length; aiohttp sends the same value.
    assert exact["content-length"] == str(len(data))
    status, text, _ = await put(http, segment, data, Authorization=f"Bearer {api.token}")
    assert (status, s3_code(text)) == (400, "InvalidArgument")
    status, done, _ = await api.call_method(
        "PATCH", f"/rest/v1.0/projects/42/uploads/{body['uuid']}", {"segments": [{"etag": etag}]}
    )
    assert (status, done["status"]) == (200, "complete")


async def test_put_checks_an_added_checksum_header(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    api = await setup(make_emulator, http)
    data = b"w" * 3000
    status, body, _ = await api.call(
        "/rest/v1.1/projects/42/uploads",
        {"response_filename": "c", "segments": [describe(data, md5=False)]},
    )
    assert status == 201
    [segment] = body["segments"]
    wrong = base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    status, text, _ = await put(http, segment, data, **{"x-amz-checksum-sha1": wrong})
    assert (status, s3_code(text)) == (400, "BadDigest")
    bad_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    status, text, _ = await put(http, segment, data, **{"Content-MD5": bad_md5})
    assert (status, s3_code(text)) == (400, "BadDigest")
    good = base64.b64encode(hashlib.sha1(data).digest()).decode()
    status, text, headers = await put(http, segment, data, **{"x-amz-checksum-sha1": good})
    assert status == 200, text
    assert headers["x-amz-checksum-sha1"] == good
