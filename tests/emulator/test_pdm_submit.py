"""Submitting document uploads as revisions: containers by match criteria and versions, the
201's item failures (stale event id, faults), and the request-level 422s (not found, missing
fields, duplicate revision, workflow conflict then termination, permission)."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import pytest
from emulator_testkit import Api, check_answer, check_request
from pdm_testkit import (
    PDF,
    SHOW,
    SUBMIT,
    SUBMIT21,
    UNKNOWN_ULID,
    connect,
    learned,
    md5,
    reasons,
)

from bulkupload.emulator.server import RunningEmulator


async def test_revisions_of_one_document_share_a_container(api: Api) -> None:
    pdm = await learned(api)
    first = await pdm.ready("plan-a.pdf", *pdm.report("Site plan", "A"), data=PDF + b"A")
    other = await pdm.ready("other.pdf", *pdm.report("Other", "A"))
    status, body = await pdm.submit_ready(first, other)
    assert status == 201
    check_answer(SUBMIT, status, body)
    assert (len(body["data"]["ids"]), body["data"]["failures"]) == (2, [])
    assert body["data"]["failureIds"] == []
    second = await pdm.ready("plan-b.pdf", *pdm.report("Site plan", "B"), data=PDF + b"B")
    status, shown = await pdm.show(second)
    [site_plan] = [
        c for c in api.emulator.pdm_documents(42) if c["match_criteria"].startswith("Site")
    ]
    assert shown["data"]["document_container_id"] == site_plan["id"]
    assert shown["data"]["position_within_container"] == "000002"
    status, again = await pdm.submit_ready(second, version="v2.1")
    assert status == 201
    check_answer(SUBMIT21, status, again)
    assert "failureIds" not in again["data"]
    containers = {c["match_criteria"]: c for c in api.emulator.pdm_documents(42)}
    assert set(containers) == {"Site plan|application/pdf", "Other|application/pdf"}
    revisions = containers["Site plan|application/pdf"]["revisions"]
    assert [(r["version"], r["metadata"]["revision"], r["file_name"]) for r in revisions] == [
        (1, "A", "plan-a.pdf"),
        (2, "B", "plan-b.pdf"),
    ]
    assert [r["md5"] for r in revisions] == [md5(PDF + b"A"), md5(PDF + b"B")]
    assert revisions[1]["id"] == again["data"]["ids"][0]
    assert revisions[0]["metadata"]["type"] == "Report"


async def test_a_consumed_upload_is_gone(api: Api) -> None:
    pdm = await learned(api)
    upload_id = await pdm.ready("a.pdf", *pdm.report("A", "1"))
    event = await pdm.event(upload_id)
    assert (await pdm.submit({"id": upload_id, "upload_latest_event_id": event}))[0] == 201
    status, body = await pdm.show(upload_id)
    assert status == 404
    check_answer(SHOW, status, body)
    assert reasons(body) == ["UPLOAD_NOT_FOUND"]
    status, body = await pdm.submit({"id": upload_id, "upload_latest_event_id": event})
    assert status == 422
    check_answer(SUBMIT, status, body)
    assert [(d["reason_code"], d["source"]) for d in body["error"]["details"]] == [
        ("UPLOAD_NOT_FOUND", upload_id)
    ]
    status, body = await pdm.patch({"id": upload_id, "fields": [pdm.set("number", "1")]})
    assert body["data"] == {"success": [], "failed": []}
    [record] = api.emulator.pdm_uploads()
    assert record["state"] == "submitted" and record["revision_id"]


async def test_a_retry_after_a_lost_submit_answer_finds_the_upload_consumed(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    api = await connect(make_emulator, http, seed=5)
    pdm = await learned(api)
    upload_id = await pdm.ready("a.pdf", *pdm.report("Lost", "1"))
    item = {"id": upload_id, "upload_latest_event_id": await pdm.event(upload_id)}
    api.emulator.set_faults(api_lost=1.0)
    with pytest.raises(aiohttp.ClientError):
        await pdm.submit(item)
    api.emulator.set_faults(api_lost=0.0)
    status, body = await pdm.submit(item)
    assert (status, reasons(body)) == (422, ["UPLOAD_NOT_FOUND"])
    [container] = api.emulator.pdm_documents(42)
    assert container["revisions"][0]["upload_id"] == upload_id  # the first one went through


async def test_a_stale_event_id_fails_its_item_inside_the_201(api: Api) -> None:
    pdm = await learned(api)
    stale_one = await pdm.ready("a.pdf", *pdm.report("A", "1"))
    fresh_one = await pdm.ready("b.pdf", *pdm.report("B", "1"))
    stale = await pdm.event(stale_one)
    await pdm.patch({"id": stale_one, "fields": [pdm.set("number", "9")]})
    items = [
        {"id": stale_one, "upload_latest_event_id": stale},
        {"id": fresh_one, "upload_latest_event_id": await pdm.event(fresh_one)},
    ]
    check_request(SUBMIT, {"uploads": items})
    status, body = await pdm.submit(*items)
    assert status == 201
    check_answer(SUBMIT, status, body)
    [failure] = body["data"]["failures"]
    assert (failure["upload_id"], failure["reason_code"]) == (stale_one, "CONCURRENCY_CONFLICT")
    assert body["data"]["failureIds"] == [stale_one]
    assert len(body["data"]["ids"]) == 1
    status, body = await pdm.submit_ready(stale_one)  # re-read, then it goes
    assert (status, body["data"]["failures"]) == (201, [])


async def test_request_level_refusals_name_each_upload(api: Api) -> None:
    pdm = await learned(api)
    drawing = await pdm.ready("d.pdf", *pdm.report("D", "A", kind="DRW"))
    fine = await pdm.ready("f.pdf", *pdm.report("F", "A"))
    items = [
        {"id": drawing, "upload_latest_event_id": await pdm.event(drawing)},
        {"id": fine, "upload_latest_event_id": await pdm.event(fine)},
        {"id": UNKNOWN_ULID, "upload_latest_event_id": UNKNOWN_ULID},
    ]
    status, body = await pdm.submit(*items)
    assert status == 422
    check_answer(SUBMIT, status, body)
    assert body["error"]["code"] == "VALIDATION_ERROR"
    details = {d["source"]: d for d in body["error"]["details"]}
    assert set(details) == {drawing, UNKNOWN_ULID}
    assert details[drawing]["reason_code"] == "INVALID_INPUT"  # Drawings need more
    assert details[drawing]["missing_fields"] == ["discipline", "number"]
    assert details[UNKNOWN_ULID]["reason_code"] == "UPLOAD_NOT_FOUND"
    assert api.emulator.pdm_documents(42) == []  # nothing was submitted
    status, body = await pdm.submit({"id": "nope", "upload_latest_event_id": "x"})
    assert status == 400
    check_answer(SUBMIT, status, body)


async def test_duplicate_revisions_are_refused_where_the_project_says_so(api: Api) -> None:
    pdm = await learned(api)
    first = await pdm.ready("a.pdf", *pdm.report("Spec", "A"))
    assert (await pdm.submit_ready(first))[0] == 201
    again = await pdm.ready("a2.pdf", *pdm.report("Spec", "A"))
    status, body = await pdm.submit_ready(again)
    assert status == 422
    check_answer(SUBMIT, status, body)
    assert [(d["reason_code"], d["source"]) for d in body["error"]["details"]] == [
        ("DUPLICATE_REVISION", again)
    ]
    twins = [await pdm.ready(f"t{n}.pdf", *pdm.report("Twin", "A")) for n in range(2)]
    status, body = await pdm.submit_ready(*twins)  # within one request too
    assert (status, reasons(body)) == (422, ["DUPLICATE_REVISION"])
    other = await learned(api, project=100)  # duplicates allowed there
    ids = [await other.ready(f"x{n}.pdf", *other.report("Same", "A")) for n in range(2)]
    status, body = await other.submit_ready(*ids)
    assert (status, len(body["data"]["ids"])) == (201, 2)


async def test_a_workflow_conflict_is_resolved_by_terminating(api: Api) -> None:
    pdm = await learned(api, project=200, company=2)
    first = await pdm.ready("w1.pdf", *pdm.report("Workflowed", "A"))
    assert (await pdm.submit_ready(first))[0] == 201
    second = await pdm.ready("w2.pdf", *pdm.report("Workflowed", "B"))
    event = await pdm.event(second)
    status, body = await pdm.submit({"id": second, "upload_latest_event_id": event})
    assert status == 422
    check_answer(SUBMIT, status, body)
    [conflict] = body["error"]["details"]
    assert (conflict["reason_code"], conflict["source"]) == ("WORKFLOW_CONFLICT", second)
    [existing] = conflict["existing_revisions_with_workflows"]
    assert (existing["name"], existing["revision"], existing["status"]) == ("w1.pdf", "A", "Open")
    assert conflict["conflicting_uploads_with_workflow"] == [
        {"id": second, "name": "w2.pdf", "revision": "B"}
    ]
    closed = pdm.values["status"]["CLS"]
    item = {
        "id": second,
        "upload_latest_event_id": event,
        "termination_reason": "Superseded",
        "terminated_revision_status_id": closed,
    }
    check_request(SUBMIT, {"uploads": [item]})
    status, body = await pdm.submit(item)
    assert (status, body["data"]["failures"]) == (201, [])
    [container] = api.emulator.pdm_documents(200)
    old, new = container["revisions"]
    assert (old["workflow"], old["termination_reason"]) == ("terminated", "Superseded")
    assert old["metadata"]["status"] == "Closed"
    assert (new["workflow"], new["metadata"]["revision"]) == ("active", "B")


async def test_submit_needs_submit_new_files(api: Api) -> None:
    await api.login("pdm-no-submit-client-id", "pdm-no-submit-client-secret")
    pdm = await learned(api)
    upload_id = await pdm.ready("a.pdf", *pdm.report("A", "1"))  # uploading is allowed
    status, body = await pdm.submit_ready(upload_id)
    assert status == 422
    check_answer(SUBMIT, status, body)
    assert reasons(body) == ["PERMISSION_DENIED"]


async def test_item_faults_fail_inside_the_201_and_a_retry_succeeds(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    api = await connect(make_emulator, http, fault_pdm_submit_conflict=1.0)
    emulator = api.emulator
    pdm = await learned(api)
    upload_id = await pdm.ready("a.pdf", *pdm.report("A", "1"))
    event = await pdm.event(upload_id)
    status, body = await pdm.submit({"id": upload_id, "upload_latest_event_id": event})
    assert [f["reason_code"] for f in body["data"]["failures"]] == ["CONCURRENCY_CONFLICT"]
    assert await pdm.event(upload_id) != event  # as if someone had changed it
    emulator.set_faults(pdm_submit_conflict=0.0, pdm_submit_unknown=1.0)
    status, body = await pdm.submit_ready(upload_id)
    assert status == 201
    check_answer(SUBMIT, status, body)
    assert [f["reason_code"] for f in body["data"]["failures"]] == ["UNKNOWN_FAILURE"]
    emulator.set_faults(pdm_submit_unknown=0.0)
    status, body = await pdm.submit_ready(upload_id)
    assert (status, body["data"]["failures"], len(body["data"]["ids"])) == (201, [], 1)
    injected = emulator.counters()["faults_injected"]
    assert (injected["pdm_submit_conflict"], injected["pdm_submit_unknown"]) == (1, 1)
