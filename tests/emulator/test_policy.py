"""SigV4 POST policy signing and checking, as pure functions."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkupload.emulator.policy_check import PolicyViolation, check_post
from bulkupload.emulator.sigv4 import PostRequest, content_disposition, presigned_post, sign_policy

# AWS S3 API reference, "Example: Browser-Based Upload using HTTP POST (Using AWS Signature
# Version 4)": the base64 policy (CRLF line ends in the JSON) and the signature it publishes.
AWS_EXAMPLE_POLICY = (
    "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7"
    "ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91"
    "c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3Qi"
    "OiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwi"
    "fSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRh"
    "LXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVT"
    "MjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNy"
    "ZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9"
    "LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAi"
    "MjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9"
)
AWS_EXAMPLE_SIGNATURE = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
AWS_EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

NOW = 1_700_000_000.0
CREDS = {"AKIDTEST": ("secret-test", None), "ASIATEST": ("secret-session", "tok")}


def test_reproduces_aws_published_sigv4_post_example() -> None:
    policy = base64.b64decode(AWS_EXAMPLE_POLICY).decode()
    assert policy.startswith('{ "expiration": "2015-12-30T12:00:00.000Z",\r\n')
    signature = sign_policy(AWS_EXAMPLE_POLICY, AWS_EXAMPLE_SECRET, "20151229", "us-east-1")
    assert signature == AWS_EXAMPLE_SIGNATURE


def _fields(**overrides: object) -> dict[str, str]:
    request = PostRequest(
        bucket="b",
        key="uploads/X",
        content_type="text/plain",
        content_disposition=content_disposition("a.txt"),
        min_size=0,
        max_size=100,
    )
    fields = presigned_post(
        request,
        access_key="AKIDTEST",
        secret_key="secret-test",
        region="us-east-1",
        now=NOW,
        expires_in=60,
    )
    return {k.lower(): v for k, v in fields.items()}


def _violation(fields: dict[str, str], now: float = NOW, bucket: str = "b") -> PolicyViolation:
    with pytest.raises(PolicyViolation) as caught:
        check_post(fields, bucket=bucket, now=now, credentials=CREDS)
    return caught.value


def test_signed_fields_pass_and_carry_the_size_range() -> None:
    checked = check_post(_fields(), bucket="b", now=NOW, credentials=CREDS)
    assert (checked.min_size, checked.max_size) == (0, 100)


def test_policy_lists_key_first_and_signature_last() -> None:
    names = list(_fields())
    assert names[0] == "key"
    assert names[-2:] == ["policy", "x-amz-signature"]


def test_rejections_carry_s3_codes() -> None:
    fields = _fields()
    assert _violation({**fields, "x-amz-signature": "0" * 64}).code == "SignatureDoesNotMatch"
    expired = _violation(fields, now=NOW + 61)
    assert (expired.status, expired.code) == (403, "AccessDenied")
    assert expired.message == "Invalid according to Policy: Policy expired."
    wrong_type = _violation({**fields, "content-type": "image/png"})
    assert wrong_type.code == "AccessDenied"
    assert "Policy Condition failed" in wrong_type.message
    assert _violation(fields, bucket="other").code == "AccessDenied"
    extra = _violation({**fields, "acl": "public-read"})
    assert "Extra input fields: acl" in extra.message
    assert _violation(
        {**fields, "x-amz-credential": "NOPE/20231114/us-east-1/s3/aws4_request"}
    ).code == ("InvalidAccessKeyId")
    missing_key = {k: v for k, v in fields.items() if k != "key"}
    assert _violation(missing_key).status == 400


def test_x_ignore_fields_are_allowed() -> None:
    check_post({**_fields(), "x-ignore-me": "1"}, bucket="b", now=NOW, credentials=CREDS)


def test_tampered_policy_breaks_the_signature() -> None:
    fields = _fields()
    policy = json.loads(base64.b64decode(fields["policy"]))
    policy["expiration"] = "2099-01-01T00:00:00.000Z"
    fields["policy"] = base64.b64encode(json.dumps(policy).encode()).decode()
    assert _violation(fields).code == "SignatureDoesNotMatch"


def test_session_credentials_need_their_token() -> None:
    request = PostRequest("b", "k", "text/plain", "attachment", 0, 10)
    fields = presigned_post(
        request,
        access_key="ASIATEST",
        secret_key="secret-session",
        session_token="tok",
        region="us-east-1",
        now=NOW,
        expires_in=60,
    )
    lowered = {k.lower(): v for k, v in fields.items()}
    check_post(lowered, bucket="b", now=NOW, credentials=CREDS)
    del lowered["x-amz-security-token"]
    assert _violation(lowered).code == "InvalidToken"


@given(st.text(min_size=1, max_size=80))
def test_content_disposition_is_ascii_and_keeps_the_name(name: str) -> None:
    value = content_disposition(name)
    assert value.isascii()
    assert value.startswith('attachment; filename="')
    if not name.isascii() or any(c in name for c in '"\\') or not name.isprintable():
        assert "filename*=UTF-8''" in value
