"""v2.1 Create Upload, project and company level: the 201 answer, and a 400 with a v2 error body
for each rule of the published request (every exchange is also checked by the contract plugin)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from emulator_testkit import Api, check_answer, check_request
from unified_testkit import (
    BIG,
    COMPANY,
    FLOOR,
    MIB,
    PROJECT,
    Unified,
    create_body,
    describe,
    reason_codes,
)

SHA = "ab" * 32
OPS = {
    PROJECT: "RestV21CompaniesCompanyIdProjectsProjectIdUploadsPost",
    COMPANY: "RestV21CompaniesCompanyIdUploadsPost",
}


@pytest.mark.parametrize("base", [PROJECT, COMPANY])
async def test_create_answers_a_presigned_url_per_part(api: Api, base: str) -> None:
    body = create_body([BIG, b"tail"], uploader_tool_name="document_management")
    check_request(OPS[base], body)
    created_at = api.emulator.state.clock.now()
    status, answer = await Unified(api, base).create(body)
    assert status == 201, answer
    check_answer(OPS[base], status, answer)
    data = answer["data"]
    assert isinstance(data["upload_id"], str) and data["upload_id"]
    assert data["status"] == "ready"
    assert (data["file_name"], data["file_size"]) == ("plan.pdf", len(BIG) + 4)
    assert data["content_type"] == "application/pdf"
    assert data["uploader_tool_name"] == "document_management"
    assert abs(data["upload_expires_at"] - (created_at + 24 * 3600)) <= 2
    first, last = data["segments"]
    assert first["headers"] == {
        "x-amz-content-sha256": hashlib.sha256(BIG).hexdigest(),
        "Content-MD5": base64.b64encode(hashlib.md5(BIG).digest()).decode(),
    }
    assert last["headers"]["x-amz-content-sha256"] == hashlib.sha256(b"tail").hexdigest()
    assert first["url"] != last["url"]
    assert abs(first["url_expires_at"] - (created_at + 3600)) <= 2  # the default lifetime
    [record] = api.emulator.v21_uploads()
    assert record["project_id"] == (42 if base == PROJECT else None)
    assert (record["owner"], record["parts"], record["parts_received"]) == (
        api.emulator.client_id,
        2,
        0,
    )
    assert record["associated_to"] is None


async def test_optional_fields_shape_the_answer(api: Api) -> None:
    """No tool named: none answered (published as a string, so absent rather than null); no md5:
    no Content-MD5 to send; url_expires_in sets the URLs' lifetime."""
    body = {
        "file_name": "a.txt",
        "file_size": 3,
        "content_type": "text/plain",
        "segments": [describe(b"abc", md5=False)],
        "url_expires_in": 60,
        "custom_metadata": {"origin": "test"},
        "analytics": {"application": {"client_sdk_name": "bulkupload"}},
    }
    now = api.emulator.state.clock.now()
    status, answer = await Unified(api).create(body)
    assert status == 201, answer
    data = answer["data"]
    assert "uploader_tool_name" not in data
    [segment] = data["segments"]
    assert set(segment["headers"]) == {"x-amz-content-sha256"}
    assert abs(segment["url_expires_at"] - (now + 60)) <= 2


async def test_a_single_segment_may_leave_its_size_out(api: Api) -> None:
    """`size` is not required by the published schema: one segment is the whole file."""
    body = create_body([b"abc"])
    del body["segments"][0]["size"]
    status, answer = await Unified(api).create(body)
    assert status == 201, answer


async def test_every_part_but_the_last_must_exceed_5_mib(api: Api) -> None:
    exactly = b"x" * FLOOR
    status, answer = await Unified(api).create(create_body([exactly, b"tail"]))
    assert status == 400
    assert reason_codes(answer) == ["PART_TOO_SMALL"]
    assert answer["error"]["details"][0]["source"] == "segments[0].size"
    status, answer = await Unified(api).create(create_body([BIG, b"tail"]))
    assert status == 201, answer  # one byte more is enough
    status, answer = await Unified(api).create(create_body([b"small last"]))
    assert status == 201, answer


def _with(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    changed = {**body, **changes}
    return {k: v for k, v in changed.items() if v is not DROP}


DROP = object()
GOOD = create_body([b"abc"])
ONE_SEGMENT = GOOD["segments"][0]
TOO_BIG = 104_857_601


@pytest.mark.parametrize(
    ("body", "reason", "source"),
    [
        (_with(GOOD, file_name=DROP), "MISSING_PARAMETER", "file_name"),
        (_with(GOOD, file_name=""), "INVALID_PARAMETER", "file_name"),
        (_with(GOOD, content_type=DROP), "MISSING_PARAMETER", "content_type"),
        (_with(GOOD, file_size=DROP), "MISSING_PARAMETER", "file_size"),
        (
            _with(GOOD, file_size=0, segments=[{**ONE_SEGMENT, "size": 0}]),
            "INVALID_PARAMETER",
            "file_size",
        ),
        (_with(GOOD, file_size="3"), "INVALID_PARAMETER", "file_size"),
        (_with(GOOD, segments=DROP), "MISSING_PARAMETER", "segments"),
        (_with(GOOD, segments=[]), "INVALID_PARAMETER", "segments"),
        (
            _with(GOOD, file_size=10_001, segments=[ONE_SEGMENT] * 10_001),
            "TOO_MANY_PARTS",
            "segments",
        ),
        (
            _with(GOOD, file_size=TOO_BIG, segments=[{**ONE_SEGMENT, "size": TOO_BIG}]),
            "PART_TOO_LARGE",
            "segments[0].size",
        ),
        (_with(GOOD, file_size=4), "SIZE_MISMATCH", "segments"),
        (_with(GOOD, segments=[{"size": 3}]), "MISSING_PARAMETER", "segments[0].sha256"),
        (
            _with(GOOD, segments=[{**ONE_SEGMENT, "sha256": "abc"}]),
            "INVALID_PARAMETER",
            "segments[0].sha256",
        ),
        (
            _with(GOOD, segments=[{**ONE_SEGMENT, "md5": "xyz"}]),
            "INVALID_PARAMETER",
            "segments[0].md5",
        ),
        (
            _with(GOOD, segments=[{**ONE_SEGMENT, "etag": "e"}]),
            "UNKNOWN_PARAMETER",
            "segments[0].etag",
        ),
        (
            _with(GOOD, file_size=MIB + 3, segments=[describe(b"a" * MIB), ONE_SEGMENT]),
            "PART_TOO_SMALL",
            "segments[0].size",
        ),
        (
            _with(GOOD, file_size=FLOOR + 4, segments=[{"sha256": SHA}, ONE_SEGMENT]),
            "MISSING_PARAMETER",
            "segments[0].size",
        ),
        (_with(GOOD, sha256="not hex"), "INVALID_PARAMETER", "sha256"),
        (_with(GOOD, md5=None), "INVALID_PARAMETER", "md5"),
        (_with(GOOD, uploader_tool_name="documents"), "INVALID_PARAMETER", "uploader_tool_name"),
        (_with(GOOD, url_expires_in=59), "INVALID_PARAMETER", "url_expires_in"),
        (_with(GOOD, url_expires_in=3601), "INVALID_PARAMETER", "url_expires_in"),
        (_with(GOOD, response_filename="plan.pdf"), "UNKNOWN_PARAMETER", "response_filename"),
        (
            _with(GOOD, analytics={"device": {"os": "x"}}),
            "INVALID_PARAMETER",
            "analytics.device.os",
        ),
        (_with(GOOD, custom_metadata=[]), "INVALID_PARAMETER", "custom_metadata"),
    ],
)
async def test_each_rule_of_the_request_is_a_400(
    api: Api, body: dict[str, Any], reason: str, source: str
) -> None:
    status, answer = await Unified(api).create(body)
    assert status == 400, answer
    error = answer["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert isinstance(error["message"], str)
    assert {"reason_code": reason, "source": source} in [
        {"reason_code": d["reason_code"], "source": d["source"]} for d in error["details"]
    ]
    assert api.emulator.v21_uploads() == []


async def test_every_problem_is_listed(api: Api) -> None:
    body = _with(GOOD, file_name=DROP, uploader_tool_name="x", url_expires_in=5)
    status, answer = await Unified(api).create(body)
    assert status == 400
    assert sorted(reason_codes(answer)) == [
        "INVALID_PARAMETER",
        "INVALID_PARAMETER",
        "MISSING_PARAMETER",
    ]


async def test_a_body_that_is_no_json_object_is_a_bad_request(api: Api) -> None:
    async with api.session.post(
        api.emulator.base_url + PROJECT,
        data=b"[1, 2]",
        headers={**api.headers(), "Content-Type": "application/json"},
    ) as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "BAD_REQUEST"


async def test_the_most_parts_make_a_body_over_1_mib_and_are_accepted(api: Api) -> None:
    part = describe(BIG)
    body = create_body([b"x"])
    body.update(file_size=part["size"] * 10_000, segments=[part] * 10_000)
    status, answer = await Unified(api).create(body)
    assert status == 201, answer
    assert len(answer["data"]["segments"]) == 10_000
