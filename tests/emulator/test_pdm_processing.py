"""What happens to uploads over time: filename scraping on the naming-standard project, ML of
PDFs (in progress for some reads or seconds, user values winning), 24 h deletion; and the API
middleware's refusals (429, injected 500, 401) in Document Management's error body."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
from emulator_testkit import Api, check_answer
from pdm_testkit import FIELDS, LIST, PATCH, PDF, SHOW, SUBMIT, Pdm, connect, field_of, reasons

from bulkupload.emulator.server import RunningEmulator


async def statuses(pdm: Pdm, upload_id: str) -> dict[str, str]:
    status, body = await pdm.show(upload_id)
    assert status == 200, body
    check_answer(SHOW, status, body)
    found: dict[str, str] = body["data"]["integration_statuses"]
    return found


async def test_the_naming_standard_fills_fields_and_files_revisions_together(api: Api) -> None:
    pdm = Pdm(api, project=100)
    await pdm.learn()
    needed = [pdm.set("type", "SPC"), pdm.set("status", "OPN")]
    first = await pdm.ready("A-101_B.docx", *needed, data=b"rev B")
    assert await statuses(pdm, first) == {
        "ml": "not_applicable",
        "filename_scraping": "in_progress",
    }
    assert await statuses(pdm, first) == {"ml": "not_applicable", "filename_scraping": "completed"}
    status, body = await pdm.show(first)
    scraped = {
        name: (field_of(body["data"], name)["values"], field_of(body["data"], name)["label_source"])
        for name in ("discipline", "number", "revision", "name")
    }
    assert scraped["discipline"][0][0]["label"] == "Architectural"
    assert {name: values[0]["label"] for name, (values, _) in scraped.items()} == {
        "discipline": "Architectural",
        "number": "101",
        "revision": "B",
        "name": "A-101",
    }
    assert {source for _, source in scraped.values()} == {"FILENAME_SCRAPING"}
    assert body["data"]["match_criteria"] == "A-101|text/plain"
    assert (await pdm.submit_ready(first))[0] == 201
    second = await pdm.ready("A-101_C.docx", *needed, data=b"rev C")
    manual = await pdm.ready("A-102_A.docx", *needed, pdm.set("revision", "Z"), data=b"z")
    status, body = await pdm.submit_ready(second, manual)
    assert (status, body["data"]["failures"]) == (201, [])
    containers = {c["match_criteria"]: c for c in api.emulator.pdm_documents(100)}
    revisions = containers["A-101|text/plain"]["revisions"]
    assert [(r["version"], r["metadata"]["revision"]) for r in revisions] == [(1, "B"), (2, "C")]
    [z] = containers["A-102|text/plain"]["revisions"]
    assert (z["metadata"]["revision"], z["sources"]["revision"]) == ("Z", "MANUAL")  # user wins


async def test_a_name_off_the_standard_fails_scraping(api: Api) -> None:
    pdm = Pdm(api, project=100)
    await pdm.learn()
    upload_id = await pdm.ready("floor plan.txt", pdm.set("type", "RPT"))
    await pdm.event(upload_id)
    status, body = await pdm.show(upload_id)
    assert body["data"]["integration_statuses"]["filename_scraping"] == "error"
    assert field_of(body["data"], "number")["label_source"] == "SCRAPING_FAILED"
    status, body = await pdm.submit_ready(upload_id)
    assert status == 422
    check_answer(SUBMIT, status, body)
    [problem] = body["error"]["details"]
    assert problem["missing_fields"] == ["name", "status", "revision"]


async def test_ml_runs_on_pdfs_for_some_reads_and_user_values_win(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    api = await connect(make_emulator, http, pdm_processing_reads=2)
    pdm = Pdm(api)
    await pdm.learn()
    guessed = await pdm.ready("Level 1 Plan.pdf")
    given = await pdm.ready("given.pdf", pdm.set("type", "RPT"))
    status, body = await pdm.show(guessed)
    event = body["data"]["latest_event_id"]
    seen = [body["data"]["integration_statuses"]["ml"], (await statuses(pdm, guessed))["ml"]]
    seen.append((await statuses(pdm, guessed))["ml"])
    assert seen == ["in_progress", "in_progress", "completed"]
    status, body = await pdm.show(guessed)
    assert body["data"]["latest_event_id"] != event  # ML changed the upload
    kind = field_of(body["data"], "type")
    assert (kind["values"][0]["label"], kind["label_source"]) == ("Drawing", "ML")
    assert 0 <= kind["confidence_score"] <= 1
    description = field_of(body["data"], "description")
    assert description["values"] == [{"label": "Level 1 Plan"}]
    await pdm.event(given)
    status, body = await pdm.show(given)
    kind = field_of(body["data"], "type")
    assert (kind["values"][0]["label"], kind["label_source"]) == ("Report", "MANUAL")
    # Now a Drawing, it falls under the conditional rule: Discipline and Number are required.
    status, body = await pdm.submit_ready(guessed)
    assert status == 422
    assert body["error"]["details"][0]["missing_fields"][-2:] == ["discipline", "number"]


async def test_ml_ends_on_the_emulators_clock_and_its_fault_is_an_error(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    api = await connect(make_emulator, http, pdm_processing_reads=100, fault_pdm_ml_error=1.0)
    pdm = Pdm(api)
    await pdm.learn()
    upload_id = await pdm.ready("a.pdf")
    assert (await statuses(pdm, upload_id))["ml"] == "in_progress"
    api.emulator.advance_clock(10)
    assert (await statuses(pdm, upload_id))["ml"] == "error"
    _, body = await pdm.show(upload_id)
    assert field_of(body["data"], "type")["label_source"] == "ML_FAILED"
    assert api.emulator.counters()["faults_injected"]["pdm_ml_error"] == 1


async def test_uploads_not_submitted_within_24_hours_are_gone(api: Api) -> None:
    pdm = Pdm(api)
    await pdm.learn()
    upload_id = await pdm.ready("late.txt", pdm.set("name", "Late"))
    [orphan] = await pdm.create("orphan.pdf")
    event = await pdm.event(upload_id)
    api.emulator.advance_clock(24 * 3600 - 60)
    await api.login()  # the token has expired meanwhile
    assert (await pdm.show(upload_id))[0] == 200
    api.emulator.advance_clock(60)
    status, body = await pdm.show(upload_id)
    # Gone (410, which the contract lists for show), where a submitted one is not found (404).
    assert (status, reasons(body)) == (410, ["UPLOAD_EXPIRED"])
    status, listed, _ = await pdm.get("document_uploads")
    assert listed["data"] == []
    status, body = await pdm.patch({"id": upload_id, "upload_status": "COMPLETED"})
    assert body["data"] == {"success": [], "failed": []}
    status, body = await pdm.submit({"id": upload_id, "upload_latest_event_id": event})
    assert (status, reasons(body)) == (422, ["UPLOAD_NOT_FOUND"])
    states = {r["id"]: r["state"] for r in api.emulator.pdm_uploads(42)}
    assert states == {upload_id: "expired", orphan: "expired"}


async def test_middleware_refusals_take_the_pdm_error_body(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    api = await connect(make_emulator, http, spike_limit=2, seed=1)
    pdm = Pdm(api)
    assert [(await pdm.get("fields"))[0] for _ in range(2)] == [200, 200]
    status, body, headers = await pdm.get("fields")
    assert status == 429
    check_answer(FIELDS, status, body, headers)
    assert body["error"]["code"] == "TOO_MANY_REQUESTS" and "Retry-After" in headers
    api.emulator.advance_clock(11)
    api.emulator.set_faults(api_5xx=1.0)
    for _ in range(4):  # 500 or 503 elsewhere; Document Management publishes only 500
        status, body = await pdm.patch({"id": "01JP000000X000000000000000"})
        assert status == 500
        check_answer(PATCH, status, body)
        api.emulator.advance_clock(11)
    api.emulator.set_faults(api_5xx=0.0)
    api.token = "expired"
    status, body, headers = await pdm.get("document_uploads")
    assert (status, body["error"]["code"]) == (401, "INVALID_TOKEN")
    check_answer(LIST, status, body, headers)
    counted = api.emulator.counters()["api_calls_by_route"]
    route = "PATCH /rest/v2.0/companies/{id}/projects/{id}/document_management/document_uploads"
    assert counted[route] == 4


async def test_a_pdf_submitted_straight_after_completed_keeps_what_it_had(api: Api) -> None:
    """ML still running at submission: the revision is made of the fields as they are."""
    pdm = Pdm(api)
    await pdm.learn()
    upload_id = await pdm.ready("now.pdf", *pdm.report("Now", "1"), data=PDF)
    [record] = api.emulator.pdm_uploads(42)
    event = record["latest_event_id"]
    status, body = await pdm.submit({"id": upload_id, "upload_latest_event_id": event})
    assert (status, body["data"]["failures"]) == (201, [])
    [container] = api.emulator.pdm_documents(42)
    assert "description" not in container["revisions"][0]["metadata"]
