"""Uploads v1.0 and v1.1 (project and company): every real answer validates against the contract.

Create, Show and Update are driven over HTTP; each status and body the emulator sends is checked
against the schema the contract publishes for that operation and status.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from emulator_testkit import Api, check_answer, check_request, post_form

from bulkupload.emulator.server import RunningEmulator

MIN = 64 * 1024
SCOPES = [
    ("V10", "Projects", "ProjectId", "/rest/v1.0/projects/42"),
    ("V11", "Projects", "ProjectId", "/rest/v1.1/projects/42"),
    ("V10", "Companies", "CompanyId", "/rest/v1.0/companies/1"),
    ("V11", "Companies", "CompanyId", "/rest/v1.1/companies/1"),
]


def ops(version: str, kind: str, ident: str) -> tuple[str, str, str]:
    base = f"Rest{version}{kind}{ident}Uploads"
    return base + "Post", base + "UuidGet", base + "UuidPatch"


def segment(data: bytes) -> dict[str, Any]:
    return {
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
    }


@pytest.fixture
async def api(make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession) -> Api:
    client = Api(make_emulator(min_segment_size=MIN), http)
    await client.login()
    return client


async def other(api: Api) -> Api:
    stranger = Api(api.emulator, api.session)
    await stranger.login("other-client-id", "other-client-secret")
    return stranger


@pytest.mark.parametrize(("version", "kind", "ident", "base"), SCOPES)
async def test_single_post_upload_create_and_show(
    api: Api, version: str, kind: str, ident: str, base: str
) -> None:
    create, show, update = ops(version, kind, ident)
    body = {"response_filename": "plan.pdf", "response_content_type": "application/pdf", "size": 3}
    check_request(create, body)
    status, created, headers = await api.call(base + "/uploads", body)
    assert status == 201, created
    check_answer(create, status, created, headers)
    assert set(created) == {"uuid", "url", "fields"}

    status, shown, headers = await api.get(f"{base}/uploads/{created['uuid']}")
    assert status == 200, shown
    check_answer(show, status, shown, headers)
    assert shown == created  # Show answers what Create answered
    assert (await post_form(api.session, created["url"], created["fields"], b"abc"))[0] == 204
    status, shown, _ = await api.get(f"{base}/uploads/{created['uuid']}")
    assert (status, shown) == (200, created)

    # Completing a single-POST upload is not something Update does.
    patch = {"segments": [{"etag": "x"}]}
    check_request(update, patch)
    status, refused, _ = await api.call_method("PATCH", f"{base}/uploads/{created['uuid']}", patch)
    assert status == 422
    check_answer(update, status, refused)


@pytest.mark.parametrize(("version", "kind", "ident", "base"), SCOPES)
async def test_segmented_upload_create_show_update(
    api: Api, version: str, kind: str, ident: str, base: str
) -> None:
    create, show, update = ops(version, kind, ident)
    pieces = [b"a" * MIN, b"tail"]
    body = {"response_filename": "big.bin", "segments": [segment(p) for p in pieces]}
    body["segments"][1].pop("md5")  # md5 is optional per segment
    check_request(create, body)
    status, created, headers = await api.call(base + "/uploads", body)
    assert status == 201, created  # v1.0 takes segments too: its published schema has them
    check_answer(create, status, created, headers)
    assert created["status"] == "ready"
    assert "md5" not in created["segments"][1]  # absent, never null

    etags = []
    for answer, data in zip(created["segments"], pieces, strict=True):
        sent = {k: v for k, v in answer["headers"].items() if k != "content-length"}
        async with api.session.put(answer["url"], data=data, headers=sent) as response:
            assert response.status == 200, await response.text()
            etags.append(response.headers["ETag"].strip('"'))

    uuid = created["uuid"]
    status, shown, headers = await api.get(f"{base}/uploads/{uuid}")
    assert status == 200
    check_answer(show, status, shown, headers)
    assert shown["status"] == "ready"
    assert [s["etag"] for s in shown["segments"]] == etags

    patch = {"segments": [{**segment(p), "etag": e} for p, e in zip(pieces, etags, strict=True)]}
    check_request(update, patch)
    status, done, headers = await api.call_method("PATCH", f"{base}/uploads/{uuid}", patch)
    assert status == 200, done
    check_answer(update, status, done, headers)
    assert done["status"] == "complete"
    # The tutorial's form (ETags only) is accepted too, and completing twice is harmless.
    only_etags = {"segments": [{"etag": e} for e in etags]}
    status, again, _ = await api.call_method("PATCH", f"{base}/uploads/{uuid}", only_etags)
    assert (status, again) == (200, done)
    status, shown, _ = await api.get(f"{base}/uploads/{uuid}")
    check_answer(show, status, shown)
    assert shown["status"] == "complete"
    [record] = api.emulator.uploads()
    assert record["md5"] == hashlib.md5(b"".join(pieces)).hexdigest()


@pytest.mark.parametrize(("version", "kind", "ident", "base"), SCOPES)
async def test_refusals_validate_and_use_published_statuses(
    api: Api, version: str, kind: str, ident: str, base: str
) -> None:
    create, show, update = ops(version, kind, ident)
    for bad in ({"response_filename": 7}, {"size": -1}, {"colour": "red"}, {"segments": []}):
        status, refused, _ = await api.call(base + "/uploads", bad)
        assert status == 400, (bad, refused)
        check_answer(create, status, refused)
    status, refused, _ = await api.call(base + "/uploads", {}, headers={"Procore-Company-Id": "1"})
    assert status == 401
    check_answer(create, status, refused)

    data = b"z" * 10
    status, created, _ = await api.call(
        base + "/uploads", {"response_filename": "s", "segments": [segment(data)]}
    )
    assert status == 201
    path = f"{base}/uploads/{created['uuid']}"
    stranger = await other(api)
    status, refused, _ = await stranger.get(path)
    assert status == 403  # only the identity that created an upload may use it
    check_answer(show, status, refused)
    status, refused, _ = await stranger.call_method("PATCH", path, {"segments": [{"etag": "e"}]})
    assert status == 403
    check_answer(update, status, refused)
    status, refused, _ = await api.get(f"{base}/uploads/01NOSUCHUPLOAD0000000000000")
    assert status == 404
    check_answer(show, status, refused)

    for bad_body in ({"segments": "all"}, {"segments": [{"etag": 1}]}, {"parts": []}):
        status, refused, _ = await api.call_method("PATCH", path, bad_body)
        assert status == 400, bad_body
        check_answer(update, status, refused)
    status, refused, _ = await api.call_method("PATCH", path, {"segments": [{"etag": "e"}]})
    assert status == 422  # the segment was never uploaded
    check_answer(update, status, refused)
    api.emulator.advance_clock(8 * 24 * 3600)  # unattached for over a week: deleted
    await api.login()
    status, refused, _ = await api.call_method("PATCH", path, {"segments": [{"etag": "e"}]})
    assert status == 410
    check_answer(update, status, refused)


async def test_an_upload_is_seen_only_in_the_scope_it_was_created_in(api: Api) -> None:
    body = {"response_filename": "a"}
    status, created, _ = await api.call("/rest/v1.1/projects/42/uploads", body)
    assert status == 201
    uuid = created["uuid"]
    assert (await api.get(f"/rest/v1.0/projects/42/uploads/{uuid}"))[0] == 200
    assert (await api.get(f"/rest/v1.1/projects/100/uploads/{uuid}"))[0] == 404
    assert (await api.get(f"/rest/v1.1/companies/1/uploads/{uuid}"))[0] == 404
