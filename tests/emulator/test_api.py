"""OAuth, Create Upload, auth/company checks, rate limits and API faults over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
import pytest
from emulator_testkit import Api, multipart

from bulkupload.emulator.server import RunningEmulator


async def test_oauth_accepts_json_and_multipart_and_refuses_wrong_secret(
    emulator: RunningEmulator, http: aiohttp.ClientSession
) -> None:
    url = emulator.base_url + "/oauth/token"
    good = {
        "grant_type": "client_credentials",
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
    }
    async with http.post(url, json=good) as response:
        assert response.status == 200
        body = await response.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 5400
    # The docs' `curl -F` form: multipart/form-data.
    form_body, content_type = multipart([(k, v.encode(), None) for k, v in good.items()])
    async with http.post(url, data=form_body, headers={"Content-Type": content_type}) as response:
        assert response.status == 200
    async with http.post(url, json={**good, "client_secret": "wrong"}) as response:
        assert response.status == 401
    async with http.post(url, json={**good, "client_id": "nobody"}) as response:
        assert response.status == 401
    async with http.post(url, json={**good, "grant_type": "password"}) as response:
        assert response.status == 400
    assert emulator.counters()["oauth_calls"] == 5
    assert emulator.counters()["api_calls"] == 0


async def test_create_upload_answers_uuid_url_and_fields(api: Api) -> None:
    status, body, headers = await api.call(
        "/rest/v1.1/projects/42/uploads", {"response_filename": "plan.pdf"}
    )
    assert status == 201
    assert len(body["uuid"]) == 26
    assert body["url"].endswith("/s3/procore-company-1")
    fields = body["fields"]
    assert next(iter(fields)) == "key"
    assert list(fields)[-1] == "x-amz-signature"
    assert fields["key"] == f"uploads/{body['uuid']}"
    assert fields["Content-Disposition"] == 'attachment; filename="plan.pdf"'
    for name in ("policy", "x-amz-credential", "x-amz-algorithm", "x-amz-date"):
        assert name in fields
    assert "success_action_status" not in fields
    assert {"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"} <= set(headers)


async def test_field_set_url_and_key_vary_by_company(api: Api) -> None:
    plain = await api.create_upload(project=42, company=1)
    variant = await api.create_upload(project=200, company=2)
    assert plain.url != variant.url
    assert set(plain.fields) != set(variant.fields)
    assert variant.fields["success_action_status"] == "201"
    assert "x-amz-security-token" in variant.fields
    assert variant.fields["key"] == f"companies/2/direct/{variant.uuid}"


async def test_every_create_upload_path(api: Api) -> None:
    paths = [
        "/rest/v1.1/projects/42/uploads",
        "/rest/v1.1/companies/1/uploads",
        "/rest/v1.0/projects/100/uploads",
        "/rest/v1.0/companies/1/uploads",
        "/vapid/projects/42/uploads",
        "/vapid/companies/1/uploads",
    ]
    for path in paths:
        status, body, _ = await api.call(path, {"response_filename": "a.txt"})
        assert status == 201, (path, body)
    status, _, _ = await api.call("/rest/v1.0/projects/42/uploads", {})
    assert status == 201  # response_filename is optional before v1.1
    status, body, _ = await api.call("/rest/v1.1/projects/42/uploads", {})
    assert status == 400  # the contract publishes 400 (not 422) for Create Upload
    assert "response_filename" in body["errors"]
    uploads = api.emulator.uploads()
    assert len(uploads) == 7
    assert {u["owner"] for u in uploads} == {api.emulator.client_id}
    by_route = api.emulator.counters()["api_calls_by_route"]
    assert by_route["POST /rest/v1.1/projects/{id}/uploads"] == 2
    assert by_route["POST /vapid/companies/{id}/uploads"] == 1


async def test_company_header_and_scope_errors(api: Api) -> None:
    path = "/rest/v1.1/projects/42/uploads"
    body = {"response_filename": "a"}
    status, data, _ = await api.call(path, body, company=None)
    assert status == 400
    assert "Procore-Company-Id" in data["errors"]
    status, data, _ = await api.call("/rest/v1.1/projects/200/uploads", body, company=1)
    assert status == 404
    status, data, _ = await api.call("/rest/v1.1/projects/999/uploads", body, company=1)
    assert status == 404
    status, data, _ = await api.call("/rest/v1.1/companies/2/uploads", body, company=1)
    assert status == 403
    status, data, _ = await api.call(path, body, company=77)
    assert status == 404


async def test_missing_unknown_or_expired_token_gets_401(api: Api) -> None:
    path = "/rest/v1.1/projects/42/uploads"
    body = {"response_filename": "a"}
    status, _, _ = await api.call(path, body, headers={"Procore-Company-Id": "1"})
    assert status == 401
    bad = {"Procore-Company-Id": "1", "Authorization": "Bearer nope"}
    status, _, _ = await api.call(path, body, headers=bad)
    assert status == 401
    status, _, _ = await api.call(path, body)
    assert status == 201
    api.emulator.advance_clock(5401)
    status, _, _ = await api.call(path, body)
    assert status == 401
    await api.login()
    status, _, _ = await api.call(path, body)
    assert status == 201


async def test_spike_limit_answers_429_with_headers(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    emulator = make_emulator(spike_limit=3, hourly_limit=100)
    api = Api(emulator, http)
    await api.login()
    remaining = []
    for _ in range(3):
        status, _, headers = await api.call(
            "/rest/v1.1/projects/42/uploads", {"response_filename": "a"}
        )
        assert status == 201
        assert headers["X-Rate-Limit-Limit"] == "3"  # the spike window is closer to its limit
        remaining.append(int(headers["X-Rate-Limit-Remaining"]))
        assert int(headers["X-Rate-Limit-Reset"]) >= int(time.time())
    assert remaining == [2, 1, 0]
    status, _body, headers = await api.call(
        "/rest/v1.1/projects/42/uploads", {"response_filename": "a"}
    )
    assert status == 429
    assert 1 <= int(headers["Retry-After"]) <= 10
    assert headers["X-Rate-Limit-Remaining"] == "0"
    assert emulator.counters()["rate_limited"] == 1
    emulator.advance_clock(10)
    status, _, headers = await api.call(
        "/rest/v1.1/projects/42/uploads", {"response_filename": "a"}
    )
    assert status == 201


async def test_hourly_limit(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    emulator = make_emulator(hourly_limit=2)
    api = Api(emulator, http)
    await api.login()
    for _ in range(2):
        status, _, _ = await api.call("/rest/v1.1/projects/42/uploads", {"response_filename": "a"})
        assert status == 201
    status, _, headers = await api.call(
        "/rest/v1.1/projects/42/uploads", {"response_filename": "a"}
    )
    assert status == 429
    assert headers["X-Rate-Limit-Limit"] == "2"
    assert int(headers["Retry-After"]) <= 3600


async def test_a_shrunk_hourly_window_resets_on_the_emulators_clock(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    emulator = make_emulator(hourly_limit=2, hourly_window=60.0)
    api = Api(emulator, http)
    await api.login()
    for _ in range(2):
        status, _, _ = await api.call("/rest/v1.1/projects/42/uploads", {"response_filename": "a"})
        assert status == 201
    call = ("/rest/v1.1/projects/42/uploads", {"response_filename": "a"})
    status, _, headers = await api.call(*call)
    assert status == 429 and int(headers["Retry-After"]) <= 60
    emulator.advance_clock(61)
    status, _, headers = await api.call(*call)
    assert status == 201 and headers["X-Rate-Limit-Remaining"] == "1"


async def test_api_5xx_fault_with_retry_after(api: Api) -> None:
    settings = api.emulator.set_faults(api_5xx=1.0, retry_after=2)
    assert settings["api_5xx"] == 1.0
    status, _, headers = await api.call(
        "/rest/v1.1/projects/42/uploads", {"response_filename": "a"}
    )
    assert status in (500, 503)
    assert headers["Retry-After"] == "2"
    assert "X-Rate-Limit-Limit" in headers
    api.emulator.set_faults(api_5xx=0.0)
    status, _, _ = await api.call("/rest/v1.1/projects/42/uploads", {"response_filename": "a"})
    assert status == 201
    assert api.emulator.counters()["faults_injected"]["api_5xx"] == 1


async def test_api_latency(api: Api) -> None:
    api.emulator.set_faults(api_latency=0.3)
    started = time.monotonic()
    status, _, _ = await api.call("/rest/v1.1/projects/42/uploads", {"response_filename": "a"})
    assert status == 201
    assert time.monotonic() - started >= 0.3


async def test_counters_reset_and_bad_fault_settings(api: Api) -> None:
    await api.create_upload()
    assert api.emulator.counters()["api_calls"] == 1
    assert api.emulator.reset_counters()["api_calls"] == 0
    async with api.session.post(
        api.emulator.base_url + "/_emulator/faults", json={"api_5xx": 2}
    ) as response:
        assert response.status == 400
    async with api.session.get(api.emulator.base_url + "/_emulator/") as response:
        assert "GET /_emulator/uploads" in (await response.json())["endpoints"]


async def test_lost_answer_does_the_work_and_drops_the_connection(
    make_emulator: Callable[..., RunningEmulator],
) -> None:
    emulator = make_emulator(fault_api_lost=1.0)
    # A fresh connection per request, so nothing can retry a dropped one behind our back.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        api = Api(emulator, http)
        await api.login()  # OAuth is never lost
        with pytest.raises(aiohttp.ClientError):
            await api.call("/rest/v1.1/projects/42/uploads", {"response_filename": "lost.pdf"})
        [record] = emulator.uploads()  # the upload was created all the same
        assert record["response_filename"] == "lost.pdf"
        assert emulator.counters()["faults_injected"] == {"api_lost": 1}
        assert emulator.set_faults(api_lost=0.0)["api_lost"] == 0.0  # admin is never lost
        status, shown, _ = await api.get(f"/rest/v1.1/projects/42/uploads/{record['uuid']}")
        assert status == 200
        assert shown["uuid"] == record["uuid"]
        emulator.set_faults(api_lost=0.5)
        async with http.post(
            emulator.base_url + "/_emulator/faults", json={"api_lost": 2}
        ) as response:
            assert response.status == 400  # a probability
    assert emulator.counters()["faults_injected"] == {"api_lost": 1}
