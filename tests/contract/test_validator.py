"""The contract validator on hand-made exchanges, and the recorder on real loopback traffic."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bulkupload.emulator.recording import (
    RECORDING_KEY,
    Exchange,
    Recording,
    recording_middleware,
)
from bulkupload.emulator.server import RunningEmulator
from tests.contract.exceptions import Excepted
from tests.contract.validator import Contract, Violation

RATE = (
    ("X-Rate-Limit-Limit", "3600"),
    ("X-Rate-Limit-Remaining", "3599"),
    ("X-Rate-Limit-Reset", "1"),
)
FOLDER = {"id": 7, "name": "Plans", "parent_id": 1, "updated_at": "2026-06-01T10:00:00Z"}


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract()


def exchange(
    method: str,
    path: str,
    *,
    query: tuple[tuple[str, str], ...] = (),
    content_type: str | None = None,
    body: object = None,
    form: tuple[tuple[str, str], ...] | None = None,
    status: int | None = 200,
    headers: tuple[tuple[str, str], ...] = RATE,
    answer: object = None,
) -> Exchange:
    raw = None if body is None else json.dumps(body).encode()
    if raw is not None and content_type is None:
        content_type = "application/json"
    if form is not None and content_type is None:
        content_type = "multipart/form-data"
    return Exchange(
        method=method,
        path=path,
        query=query,
        request_content_type=content_type,
        request_body=raw,
        request_form=form,
        request_truncated=False,
        status=status,
        response_headers=headers if status is not None else (),
        response_content_type="application/json",
        response_body=None if answer is None else json.dumps(answer).encode(),
    )


def messages(found: tuple[Violation, ...]) -> list[str]:
    return [f"{v.kind} {v.where}: {v.message}" for v in found]


def folder_post(answer: dict[str, Any], status: int = 201) -> Exchange:
    return exchange(
        "POST",
        "/rest/v1.0/folders",
        query=(("project_id", "42"),),
        body={"folder": {"name": "Plans", "parent_id": 1}},
        status=status,
        answer=answer,
    )


def test_a_published_exchange_passes(contract: Contract) -> None:
    outcome = contract.check(folder_post(FOLDER))
    assert outcome.operation == "RestV10FoldersPost"
    assert outcome.violations == ()


def test_oauth_token_in_json_passes(contract: Contract) -> None:
    token = {"access_token": "t", "token_type": "bearer", "expires_in": 5400, "created_at": 1}
    body = {"grant_type": "client_credentials", "client_id": "a", "client_secret": "b"}
    outcome = contract.check(exchange("POST", "/oauth/token", body=body, headers=(), answer=token))
    assert (outcome.operation, outcome.violations) == ("OauthTokenPost", ())


def test_an_invented_response_field_fails(contract: Contract) -> None:
    outcome = contract.check(folder_post({**FOLDER, "document_type": "folder"}))
    assert messages(outcome.violations) == [
        "response $: Additional properties are not allowed ('document_type' was unexpected)"
    ]


def test_an_invented_request_field_fails(contract: Contract) -> None:
    bad = exchange(
        "POST",
        "/rest/v1.1/projects/42/uploads",
        body={"response_filename": "a.pdf", "checksum": "x"},
        status=201,
        answer={"uuid": "U", "url": "http://s3", "fields": {}},
    )
    found = contract.check(bad).violations
    assert [(v.kind, v.where) for v in found] == [("request", "$")]
    assert "'checksum' was unexpected" in found[0].message


def test_an_unpublished_route_fails(contract: Contract) -> None:
    outcome = contract.check(exchange("GET", "/rest/v1.0/projects/42/secret_things", answer=[]))
    assert outcome.operation is None
    assert [v.kind for v in outcome.violations] == ["route"]


def test_vapid_is_checked_as_rest_v1_0(contract: Contract) -> None:
    answer = {"uuid": "U", "url": "http://s3", "fields": {"key": "k"}}
    vapid = exchange("POST", "/vapid/projects/42/uploads", body={}, status=201, answer=answer)
    outcome = contract.check(vapid)
    assert (outcome.operation, outcome.violations) == ("RestV10ProjectsProjectIdUploadsPost", ())


def test_a_multipart_body_is_nested_and_coerced(contract: Contract) -> None:
    form = (
        ("file[parent_id]", "12"),
        ("file[name]", "a.pdf"),
        ("file[upload_uuid]", "01J0000000000000000000000"),
        ("file[unique_name]", "true"),
    )
    good = exchange(
        "POST",
        "/rest/v1.0/files",
        query=(("project_id", "42"),),
        form=form,
        status=201,
        answer={"id": 3, "name": "a.pdf", "parent_id": 12},
    )
    assert contract.check(good).violations == ()

    bad_form = (("file[parent_id]", "twelve"), ("file[upload_uuid]", "U"), ("file[colour]", "red"))
    bad = exchange(
        "POST",
        "/rest/v1.0/files",
        query=(("project_id", "42"),),
        form=bad_form,
        status=201,
        answer={"id": 3, "name": "a.pdf", "parent_id": 12},
    )
    assert sorted((v.where, v.message) for v in contract.check(bad).violations) == [
        ("$.file", "'colour' does not match any of the regexes: '^custom_field_[0-9]+$'"),
        ("$.file.parent_id", "'twelve' is not of type 'integer'"),
    ]


def test_an_off_contract_request_the_server_refused_is_counted_not_failed(
    contract: Contract,
) -> None:
    # Emulator tests send bad requests on purpose to see them refused, as Procore would.
    sent = exchange(
        "POST",
        "/rest/v1.1/projects/42/uploads",
        body={"segments": [{"size": 1, "colour": "red"}]},
        status=400,
        answer={"errors": {"segments": ["sha256 is required"]}},
    )
    outcome = contract.check(sent)
    assert outcome.violations == ()
    assert sorted(v.message for v in outcome.refused) == [
        "'sha256' is a required property",
        "Additional properties are not allowed ('colour' was unexpected)",
    ]


def test_a_json_body_where_only_multipart_is_published_fails(contract: Contract) -> None:
    sent = exchange(
        "PATCH",
        "/rest/v1.0/files/3",
        query=(("project_id", "42"),),
        body={"file": {"upload_uuid": "U"}},
        answer={"id": 3},
    )
    assert [(v.kind, v.where) for v in contract.check(sent).violations] == [
        ("content-type", "Content-Type")
    ]


def test_a_form_urlencoded_token_request_is_not_a_published_form(contract: Contract) -> None:
    form = (("grant_type", "client_credentials"), ("client_id", "a"), ("client_secret", "b"))
    sent = exchange(
        "POST",
        "/oauth/token",
        content_type="application/x-www-form-urlencoded",
        form=form,
        headers=(),
        answer={"access_token": "t"},
    )
    found = contract.check(sent).violations
    assert [v.kind for v in found] == ["content-type"]
    assert "application/json, multipart/form-data" in found[0].message


def test_a_status_the_operation_does_not_list_fails(contract: Contract) -> None:
    # v2.1 Create Upload publishes 201, 400, 429, 500, 503 and no `default`.
    sent = exchange(
        "POST",
        "/rest/v2.1/companies/1/projects/42/uploads",
        body={
            "file_name": "a.pdf",
            "file_size": 1,
            "content_type": "application/pdf",
            "segments": [{"size": 1, "sha256": "0" * 64}],
            "uploader_tool_name": "document_management",
        },
        status=404,
        answer={"error": {"code": "not_found", "message": "no"}},
    )
    assert [(v.kind, v.message) for v in contract.check(sent).violations] == [
        ("status", "status 404 is not published (201, 400, 500, 429, 503)")
    ]


def test_date_times_are_checked(contract: Contract) -> None:
    outcome = contract.check(folder_post({**FOLDER, "updated_at": "1 June 2026"}))
    assert messages(outcome.violations) == [
        "response $.updated_at: '1 June 2026' is not a 'date-time'"
    ]


def test_query_parameters_are_checked(contract: Contract) -> None:
    root = {"id": 1, "name": "root", "parent_id": None, "folders": [], "files": []}
    query = (("exclude_files", "maybe"), ("colour", "red"))
    sent = exchange("GET", "/rest/v1.0/folders", query=query, answer=root)
    assert sorted((v.where, v.message) for v in contract.check(sent).violations) == [
        ("colour", "parameter 'colour' is not published"),
        ("exclude_files", "'maybe' is not of type 'boolean'"),
        ("project_id", "required parameter 'project_id' is missing"),
    ]


def test_published_headers_must_be_present(contract: Contract) -> None:
    sent = folder_post(FOLDER)
    bare = Exchange(**{**_fields(sent), "response_headers": (("X-Rate-Limit-Limit", "x"),)})
    assert sorted((v.where, v.message) for v in contract.check(bare).violations) == [
        ("X-Rate-Limit-Limit", "'x' is not an integer"),
        ("X-Rate-Limit-Remaining", "published header is missing"),
        ("X-Rate-Limit-Reset", "published header is missing"),
    ]


def test_a_lost_answer_is_checked_on_the_request_only(contract: Contract) -> None:
    lost = exchange(
        "POST", "/rest/v1.0/folders", query=(("project_id", "42"),), body={}, status=None
    )
    assert lost.lost
    assert messages(contract.check(lost).violations) == [
        "request $: 'folder' is a required property"
    ]


def test_an_exception_entry_excepts_only_what_it_names() -> None:
    entry = Excepted(
        "RestV10FoldersPost", "response", "$", "test: pretend the docs show it", "document_type"
    )
    excepting = Contract(exceptions={"doc-type": entry})
    outcome = excepting.check(folder_post({**FOLDER, "document_type": "folder"}))
    assert outcome.violations == ()
    assert [reason for _, reason in outcome.excepted] == ["doc-type"]
    other = excepting.check(folder_post({**FOLDER, "colour": "red"}))
    assert len(other.violations) == 1


def _fields(e: Exchange) -> dict[str, Any]:
    return {name: getattr(e, name) for name in Exchange.__dataclass_fields__}


# ---- the recorder, on real HTTP over loopback ---------------------------------------------------


async def test_the_emulator_records_api_calls_but_not_admin_or_storage() -> None:
    emulator = RunningEmulator(record=True)
    try:
        assert emulator.recording is not None
        emulator.counters()  # admin: not recorded
        async with aiohttp.ClientSession() as http:
            form = aiohttp.FormData(
                {
                    "grant_type": "client_credentials",
                    "client_id": emulator.client_id,
                    "client_secret": emulator.client_secret,
                },
                default_to_multipart=True,
            )
            async with http.post(emulator.token_url, data=form) as resp:
                assert resp.status == 200
            async with http.get(emulator.base_url + "/rest/v1.0/folders?project_id=42") as resp:
                assert resp.status == 401  # the API middleware's answer is seen by the recorder
            async with http.post(emulator.base_url + "/s3/bucket", data=b"x") as resp:
                assert resp.status >= 400
        recorded = emulator.recording.drain()
    finally:
        emulator.stop()
    assert [(e.method, e.path, e.status) for e in recorded] == [
        ("POST", "/oauth/token", 200),
        ("GET", "/rest/v1.0/folders", 401),
    ]
    token, unauthorised = recorded
    assert token.request_content_type == "multipart/form-data"
    assert dict(token.request_form or ())["grant_type"] == "client_credentials"
    assert unauthorised.query == (("project_id", "42"),)
    assert dict(unauthorised.response_headers)["WWW-Authenticate"].startswith("Bearer")
    assert Contract().check(token).violations == ()


async def test_the_recorder_marks_a_dropped_connection_lost_and_caps_bodies() -> None:
    async def lose(request: web.Request) -> web.Response:
        await request.json()
        assert request.transport is not None
        request.transport.abort()  # the work is done, the answer never leaves
        return web.json_response({"done": True}, status=201)

    async def big(request: web.Request) -> web.Response:
        return web.json_response({"blob": "x" * 100})

    app = web.Application(middlewares=[recording_middleware])
    app[RECORDING_KEY] = Recording(max_body=64)
    app.router.add_post("/rest/v1.0/folders", lose)
    app.router.add_get("/rest/v1.0/folders", big)
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientError):
            async with http.post(server.make_url("/rest/v1.0/folders"), json={"folder": {}}):
                pass
        async with http.get(server.make_url("/rest/v1.0/folders")) as resp:
            assert resp.status == 200
        await asyncio.sleep(0)
    lost, capped = app[RECORDING_KEY].drain()
    assert (lost.lost, lost.request_body) == (True, b'{"folder": {}}')
    assert (capped.status, capped.response_truncated, len(capped.response_body or b"")) == (
        200,
        True,
        64,
    )
