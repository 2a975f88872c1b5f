"""S3 POST Object as AWS documents it: policy expiration form, Content-MD5 and x-amz-checksum-*
checked against the bytes, `${filename}` in the key, success_action_redirect, unsigned POSTs.

Each case asserts S3's HTTP status and the `<Code>` of its XML error.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.parse
import zlib
from typing import Any

import aiohttp
import pytest
from emulator_testkit import Api, form, post_form, s3_code

from bulkupload.emulator.checksums import new_digest
from bulkupload.emulator.server import RunningEmulator
from bulkupload.emulator.sigv4 import ALGORITHM, amz_date, iso_expiration, sign_policy

BUCKET = "procore-company-1"
DATA = b"the bytes S3 receives \x00\xff" * 100


def signed(
    emulator: RunningEmulator,
    fields: dict[str, str],
    *,
    expiration: Any = None,
    conditions: list[Any] | None = None,
) -> dict[str, str]:
    """A SigV4 POST form for `fields`; by default every field is an exact condition."""
    config, now = emulator.config, time.time()
    date = amz_date(now)
    form_fields = {
        **fields,
        "x-amz-credential": f"{config.access_key}/{date[:8]}/{config.region}/s3/aws4_request",
        "x-amz-algorithm": ALGORITHM,
        "x-amz-date": date,
    }
    if conditions is None:
        conditions = [{name: value} for name, value in form_fields.items()]
    policy = {
        "expiration": iso_expiration(now + 600) if expiration is None else expiration,
        "conditions": [{"bucket": BUCKET}, *conditions, ["content-length-range", 0, 10**7]],
    }
    b64 = base64.b64encode(json.dumps(policy).encode()).decode()
    form_fields["policy"] = b64
    form_fields["x-amz-signature"] = sign_policy(b64, config.secret_key, date[:8], config.region)
    return form_fields


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def url(emulator: RunningEmulator) -> str:
    return f"{emulator.base_url}/s3/{BUCKET}"


# ---- policy expiration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "expiration",
    [
        "2099-01-01T00:00:00+00:00",  # an offset, not Z
        "2099-01-01 00:00:00Z",  # no T
        "2099-01-01T00:00:00.123456Z",  # microseconds
        "2099-01-01T00:00Z",  # no seconds
        "2099-13-01T00:00:00Z",  # no such month
        4070908800,  # a number
    ],
)
async def test_expiration_not_in_iso_8601_utc_is_an_invalid_policy(
    emulator: RunningEmulator, http: aiohttp.ClientSession, expiration: Any
) -> None:
    fields = signed(emulator, {"key": "uploads/exp"}, expiration=expiration)
    status, text, _ = await post_form(http, url(emulator), fields, DATA)
    assert (status, s3_code(text)) == (400, "InvalidPolicyDocument")
    assert f"Invalid Policy: Invalid 'expiration' value: '{expiration}'" in text
    assert emulator.objects() == []


@pytest.mark.parametrize("expiration", ["2099-01-01T00:00:00Z", "2099-01-01T00:00:00.000Z"])
async def test_expiration_with_or_without_milliseconds_is_accepted(
    emulator: RunningEmulator, http: aiohttp.ClientSession, expiration: str
) -> None:
    fields = signed(emulator, {"key": "uploads/exp"}, expiration=expiration)
    status, text, _ = await post_form(http, url(emulator), fields, DATA)
    assert status == 204, text


# ---- Content-MD5 -----------------------------------------------------------------------------


async def test_content_md5_is_checked_against_the_bytes(
    emulator: RunningEmulator, http: aiohttp.ClientSession
) -> None:
    good = b64(hashlib.md5(DATA).digest())
    fields = signed(emulator, {"key": "uploads/md5", "Content-MD5": good})
    status, text, _ = await post_form(http, url(emulator), fields, DATA)
    assert status == 204, text

    wrong = b64(hashlib.md5(b"other bytes").digest())
    fields = signed(emulator, {"key": "uploads/md5-wrong", "Content-MD5": wrong})
    status, text, _ = await post_form(http, url(emulator), fields, DATA)
    assert (status, s3_code(text)) == (400, "BadDigest")
    for malformed in ("not base64!", b64(b"fifteen bytes!!")):
        fields = signed(emulator, {"key": "uploads/md5-bad", "Content-MD5": malformed})
        status, text, _ = await post_form(http, url(emulator), fields, DATA)
        assert (status, s3_code(text)) == (400, "InvalidDigest"), malformed
    assert [o["key"] for o in emulator.objects()] == ["uploads/md5"]


async def test_content_md5_outside_the_policy_is_an_extra_field(api: Api) -> None:
    """Procore's policy names no Content-MD5: a client adding one is refused before the bytes."""
    upload = await api.create_upload()
    fields = {**upload.fields, "Content-MD5": b64(hashlib.md5(DATA).digest())}
    status, text, _ = await post_form(api.session, upload.url, fields, DATA)
    assert (status, s3_code(text)) == (403, "AccessDenied")
    assert "Extra input fields: content-md5" in text


# ---- x-amz-checksum-* ------------------------------------------------------------------------


def checksum(algorithm: str, data: bytes) -> str:
    digest = new_digest(algorithm)
    digest.update(data)
    return b64(digest.digest())


def test_checksums_match_the_published_check_values() -> None:
    check = b"123456789"
    assert checksum("crc32", check) == b64((0xCBF43926).to_bytes(4, "big"))
    assert checksum("crc32", check) == b64(zlib.crc32(check).to_bytes(4, "big"))
    assert checksum("crc32c", check) == b64((0xE3069283).to_bytes(4, "big"))
    assert checksum("crc64nvme", check) == b64((0xAE8B14860A799888).to_bytes(8, "big"))
    assert checksum("sha256", check) == b64(hashlib.sha256(check).digest())


@pytest.mark.parametrize(
    ("algorithm", "name"),
    [("crc32", "CRC32"), ("crc32c", "CRC32C"), ("sha1", "SHA1"), ("sha256", "SHA256")],
)
async def test_checksum_fields_are_checked_against_the_bytes(
    emulator: RunningEmulator, http: aiohttp.ClientSession, algorithm: str, name: str
) -> None:
    field = f"x-amz-checksum-{algorithm}"
    good = checksum(algorithm, DATA)
    for extra in ({}, {"x-amz-checksum-algorithm": name}):
        fields = signed(emulator, {"key": f"uploads/{algorithm}", **extra, field: good})
        status, text, headers = await post_form(http, url(emulator), fields, DATA)
        assert status == 204, text
        assert headers[field] == good

    fields = signed(emulator, {"key": "uploads/wrong", field: checksum(algorithm, b"other")})
    status, text, _ = await post_form(http, url(emulator), fields, DATA)
    assert (status, s3_code(text)) == (400, "BadDigest")
    assert f"The {name} you specified did not match the calculated checksum." in text

    fields = signed(emulator, {"key": "uploads/bad", field: "@@not base64@@"})
    status, text, _ = await post_form(http, url(emulator), fields, DATA)
    assert (status, s3_code(text)) == (400, "InvalidRequest")
    assert {o["key"] for o in emulator.objects()} == {f"uploads/{algorithm}"}


async def test_checksum_algorithm_must_be_known_single_and_consistent(
    emulator: RunningEmulator, http: aiohttp.ClientSession
) -> None:
    crc, sha = checksum("crc32", DATA), checksum("sha256", DATA)
    for bad in (
        {"x-amz-checksum-algorithm": "MD4"},
        {"x-amz-checksum-crc32": crc, "x-amz-checksum-sha256": sha},
        {"x-amz-checksum-algorithm": "SHA256", "x-amz-checksum-crc32": crc},
    ):
        fields = signed(emulator, {"key": "uploads/alg", **bad})
        status, text, _ = await post_form(http, url(emulator), fields, DATA)
        assert (status, s3_code(text)) == (400, "InvalidRequest"), bad
    assert emulator.objects() == []


# ---- ${filename} -----------------------------------------------------------------------------


async def test_filename_variable_conditions_see_the_key_as_sent(
    emulator: RunningEmulator, http: aiohttp.ClientSession
) -> None:
    fields = signed(emulator, {"key": "uploads/${filename}"})  # eq condition on the literal key
    status, text, headers = await post_form(http, url(emulator), fields, DATA)
    assert status == 204, text
    assert headers["Location"].endswith(f"/s3/{BUCKET}/uploads/blob.bin")
    [stored] = emulator.objects()
    assert stored["key"] == "uploads/blob.bin"  # stored under the substituted key

    # A condition on the substituted key does not hold: S3 compares the key as sent.
    sent = signed(emulator, {"key": "uploads/blob.bin"})
    fields = {**sent, "key": "uploads/${filename}"}
    status, text, _ = await post_form(http, url(emulator), fields, DATA)
    assert (status, s3_code(text)) == (403, "AccessDenied")
    assert "Policy Condition failed" in text


# ---- success_action_redirect -----------------------------------------------------------------


async def post_no_follow(
    http: aiohttp.ClientSession, target: str, fields: dict[str, str]
) -> tuple[int, str, Any]:
    body, content_type = form(fields, DATA)
    async with http.post(
        target, data=body, headers={"Content-Type": content_type}, allow_redirects=False
    ) as response:
        return response.status, await response.text(), response.headers


@pytest.mark.parametrize("field", ["success_action_redirect", "redirect"])
async def test_success_redirect_answers_303_with_bucket_key_and_quoted_etag(
    emulator: RunningEmulator, http: aiohttp.ClientSession, field: str
) -> None:
    done = emulator.base_url + "/_emulator/?from=s3"  # loopback: nothing leaves this machine
    fields = signed(emulator, {"key": "uploads/r b.bin", field: done})
    status, text, headers = await post_no_follow(http, url(emulator), fields)
    assert status == 303, text
    md5 = hashlib.md5(DATA).hexdigest()
    location = urllib.parse.urlsplit(headers["Location"])
    assert headers["Location"].startswith(done + "&")
    assert urllib.parse.parse_qs(location.query) == {
        "from": ["s3"],
        "bucket": [BUCKET],
        "key": ["uploads/r b.bin"],
        "etag": [f'"{md5}"'],
    }
    assert "etag=%22" in location.query  # quoted, url-encoded
    assert headers["ETag"] == f'"{md5}"'


async def test_success_redirect_outside_the_policy_is_an_extra_field(api: Api) -> None:
    upload = await api.create_upload()
    fields = {**upload.fields, "success_action_redirect": api.emulator.base_url + "/_emulator/"}
    status, text, _ = await post_no_follow(api.session, upload.url, fields)
    assert (status, s3_code(text)) == (403, "AccessDenied")
    assert "Extra input fields: success_action_redirect" in text


# ---- unsigned --------------------------------------------------------------------------------


async def test_unsigned_post_to_the_private_bucket_is_access_denied(
    emulator: RunningEmulator, http: aiohttp.ClientSession
) -> None:
    for fields in ({"key": "uploads/anon"}, {"key": "uploads/anon", "Content-Type": "text/plain"}):
        status, text, _ = await post_form(http, url(emulator), fields, DATA)
        assert (status, s3_code(text)) == (403, "AccessDenied")
        assert "<Message>Access Denied</Message>" in text
    # Signed in part (a policy, no signature) is a malformed form, not an anonymous one.
    status, text, _ = await post_form(
        http, url(emulator), {"key": "uploads/anon", "policy": "e30="}, DATA
    )
    assert (status, s3_code(text)) == (400, "InvalidArgument")
    assert emulator.objects() == []
