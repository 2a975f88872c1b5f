"""PATCH of document uploads: 207 with success, failed and silently dropped ids; linking a v2.1
upload (and what may not be linked); field values checked by type; COMPLETED; safe retries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
from emulator_testkit import Api, check_answer, check_request
from pdm_testkit import PATCH, UNKNOWN_ULID, Pdm, connect, field_of, learned

from bulkupload.emulator.server import RunningEmulator


async def test_207_success_failed_and_dropped_and_the_link_keeps_the_file(api: Api) -> None:
    pdm = await learned(api)
    good, bad = await pdm.create("A101.pdf", "A102.pdf")
    file_upload_id = await pdm.file(name="A101.pdf")
    params = [
        {
            "id": good,
            "file_upload_id": file_upload_id,
            "upload_status": "COMPLETED",
            "fields": [pdm.set("type", "DRW"), pdm.set("revision", "A")],
        },
        {"id": bad, "file_upload_id": "01JP000000X000000000000000"},
        {"id": UNKNOWN_ULID, "fields": [pdm.set("revision", "B")]},
    ]
    check_request(PATCH, {"update_params": params})
    status, body = await pdm.patch(*params)
    assert status == 207
    check_answer(PATCH, status, body)
    assert body["data"]["success"] == [{"id": good}]
    [failure] = body["data"]["failed"]
    assert (failure["id"], failure["code"]) == (bad, 404)  # UNKNOWN_ULID: in neither list
    [v21] = [u for u in api.emulator.v21_uploads() if u["upload_id"] == file_upload_id]
    assert v21["associated_to"] == good
    api.emulator.advance_clock(25 * 3600)  # linked: not deleted after 24 h
    assert [u["upload_id"] for u in api.emulator.v21_uploads()] == [file_upload_id]


async def test_only_unknown_ids_answer_an_empty_207(api: Api) -> None:
    status, body = await Pdm(api).patch({"id": UNKNOWN_ULID, "upload_status": "COMPLETED"})
    assert (status, body) == (207, {"data": {"success": [], "failed": []}})


async def test_malformed_bodies_are_400_and_change_nothing(api: Api) -> None:
    pdm = await learned(api)
    [upload_id] = await pdm.create("a.pdf")
    before = api.emulator.pdm_uploads()[0]["latest_event_id"]
    revision = pdm.fields["revision"]["id"]
    for params in (
        [{"id": "not-a-ulid"}],
        [{"id": upload_id, "upload_status": "PLACEHOLDER"}],
        [{"id": upload_id, "fields": [{"id": "x", "values": "A"}]}],
        [{"id": upload_id, "fields": {"id": revision}}],
        [{"id": upload_id, "fields": [{"id": revision, "values": [], "extra": 1}]}],
        [{"id": upload_id, "fields": [{"id": revision, "values": [], "label_source": "GUESS"}]}],
        [{"id": upload_id, "fields": [{"id": revision, "values": [], "confidence_score": 2}]}],
        [{"id": upload_id, "fields": [pdm.set("revision", "A"), pdm.set("revision", "B")]}],
        [{"id": upload_id, "file_upload_id": ""}],
        [{"id": upload_id, "file_locked": "yes"}],
        [{"id": upload_id}, {"id": upload_id}],
        [{"id": upload_id, "document_container_id": "01JP000000X000000000000000"}],
    ):
        status, body = await pdm.patch(*params)
        assert status == 400, params
        check_answer(PATCH, status, body)
    for top in ({"update_all_document_uploads": True}, {"only_update_empty_fields": 1}):
        status, body = await pdm.patch({"id": upload_id}, **top)
        assert status == 400, top
    assert api.emulator.pdm_uploads()[0]["latest_event_id"] == before


async def test_completed_without_a_file_or_with_a_file_linked_elsewhere_is_500(api: Api) -> None:
    pdm = await learned(api)
    first, second = await pdm.create("a.pdf", "b.pdf")
    status, body = await pdm.patch(
        {"id": first, "fields": [pdm.set("revision", "A")]},
        {"id": second, "upload_status": "COMPLETED"},
    )
    assert status == 500
    check_answer(PATCH, status, body)
    assert body["error"]["details"][0]["source"] == second
    assert api.emulator.pdm_uploads()[0]["metadata"] == {}  # the other item was not applied
    file_upload_id = await pdm.file()
    status, body = await pdm.patch({"id": first, "file_upload_id": file_upload_id})
    assert status == 207 and body["data"]["success"] == [{"id": first}]
    status, body = await pdm.patch(
        {"id": first, "file_upload_id": file_upload_id},  # the same link again: fine
        {"id": second, "file_upload_id": file_upload_id, "fields": [pdm.set("revision", "B")]},
    )
    assert status == 500
    check_answer(PATCH, status, body)
    records = {r["id"]: r for r in api.emulator.pdm_uploads()}
    assert records[second]["file_upload_id"] is None  # nothing was applied
    assert records[first]["file_upload_id"] == file_upload_id


async def test_files_that_cannot_be_linked_fail_their_item(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    emulator = make_emulator()
    api, stranger = Api(emulator, http), Api(emulator, http)
    await api.login()
    await stranger.login("other-client-id", "other-client-secret")
    pdm, theirs = await learned(api), Pdm(stranger)
    other_project = Pdm(api, project=100)
    ids = await pdm.create("a.pdf", "b.pdf", "c.pdf", "d.pdf")
    not_yet = await pdm.api.call(
        "/rest/v2.1/companies/1/projects/42/uploads",
        {
            "file_name": "d.pdf",
            "file_size": 3,
            "content_type": "application/pdf",
            "segments": [{"size": 3, "sha256": "0" * 64}],
        },
    )
    files = [
        await theirs.file(),
        await other_project.file(),
        await pdm.file(uploader_tool_name="scheduling"),
        not_yet[1]["data"]["upload_id"],
    ]
    status, body = await pdm.patch(
        *({"id": i, "file_upload_id": f} for i, f in zip(ids, files, strict=True))
    )
    assert status == 207
    check_answer(PATCH, status, body)
    codes = {item["id"]: item["code"] for item in body["data"]["failed"]}
    assert codes == {ids[0]: 403, ids[1]: 404, ids[2]: 422, ids[3]: 409}


async def test_field_values_are_checked_by_type_per_item(api: Api) -> None:
    pdm = await learned(api)
    fields = pdm.fields
    cases: list[list[dict[str, Any]]] = [
        [{"id": fields["project"]["id"], "values": ["42"]}],  # readonly
        [{"id": fields["volume"]["id"], "values": [pdm.values["volume"]["V1"]]}],  # inactive
        [pdm.set("type", "SUP")],  # an inactive value
        [pdm.set("type", "DRW", "SPC")],  # lov_entry takes one
        [{"id": fields["type"]["id"], "values": ["Drawing"]}],  # a label is not an id
        [pdm.set("page_count", "twelve")],
        [pdm.set("date_authored", "2025-12-15")],  # no time, no zone
        [pdm.set("revision", "A", "B")],
        [pdm.set("custom_field_501", "03", "03")],
        [{"id": "01JP000042F000000000000099", "values": []}],  # no such field
    ]
    ok = [
        pdm.set("custom_field_501", "03", "23"),
        pdm.set("location", "RF"),
        pdm.set("page_count", "-3.25"),
        pdm.set("date_authored", "2025-12-15T14:30:00+02:00"),
        pdm.set("description", "<p>Floor plan</p>"),
    ]
    ids = await pdm.create(*(f"{n}.pdf" for n in range(len(cases) + 1)))
    params = [{"id": i, "fields": c} for i, c in zip(ids, cases, strict=False)]
    status, body = await pdm.patch(*params, {"id": ids[-1], "fields": ok})
    assert status == 207
    check_answer(PATCH, status, body)
    assert sorted(f["id"] for f in body["data"]["failed"]) == sorted(ids[:-1])
    assert {f["code"] for f in body["data"]["failed"]} == {422}
    assert body["data"]["success"] == [{"id": ids[-1]}]
    [record] = [r for r in api.emulator.pdm_uploads() if r["id"] == ids[-1]]
    assert record["metadata"] == {
        "custom_field_501": ["Concrete", "HVAC"],
        "location": "Roof",
        "page_count": "-3.25",
        "date_authored": "2025-12-15T12:30:00.000Z",
        "description": "<p>Floor plan</p>",
    }


async def test_completed_shows_the_upload_and_a_retried_patch_is_safe(api: Api) -> None:
    pdm = await learned(api)
    [upload_id] = await pdm.create("notes.txt", mime="text/plain")
    file_upload_id = await pdm.file(b"plain text", "notes.txt", content_type="text/plain")
    params = {
        "id": upload_id,
        "file_upload_id": file_upload_id,
        "upload_status": "COMPLETED",
        "fields": [pdm.set("name", "Notes"), pdm.set("custom_field_501", "05")],
    }
    assert (await pdm.patch(params))[0] == 207
    status, shown = await pdm.show(upload_id)
    assert status == 200
    first_event = shown["data"]["latest_event_id"]
    assert shown["data"]["upload_status"] == "COMPLETED"
    assert shown["data"]["integration_statuses"] == {
        "ml": "not_applicable",
        "filename_scraping": "not_applicable",
    }
    status, body = await pdm.patch(params)  # the same again, as after a lost answer
    assert (status, body["data"]["success"]) == (207, [{"id": upload_id}])
    status, shown = await pdm.show(upload_id)
    assert shown["data"]["latest_event_id"] != first_event  # every change is an event
    trades = field_of(shown["data"], "custom_field_501")
    assert [v["label"] for v in trades["values"]] == ["Metals"]
    assert trades["label_source"] == "MANUAL"
    other = await pdm.file(b"other text", "notes.txt", content_type="text/plain")
    status, body = await pdm.patch({"id": upload_id, "file_upload_id": other})  # a new file
    assert body["data"]["success"] == [{"id": upload_id}]
    assert api.emulator.pdm_uploads()[0]["file_upload_id"] == other
    status, body = await pdm.patch({"id": upload_id, "upload_status": "INCOMPLETE"})
    assert body["data"]["success"] == [{"id": upload_id}]
    assert (await pdm.show(upload_id))[0] == 404  # back to INCOMPLETE: hidden again


async def test_only_update_empty_fields_keeps_what_is_there(api: Api) -> None:
    pdm = await learned(api)
    [upload_id] = await pdm.create("a.pdf")
    await pdm.patch({"id": upload_id, "fields": [pdm.set("revision", "A")]})
    status, _ = await pdm.patch(
        {"id": upload_id, "fields": [pdm.set("revision", "B"), pdm.set("number", "7")]},
        only_update_empty_fields=True,
    )
    assert status == 207
    assert api.emulator.pdm_uploads()[0]["metadata"] == {"revision": "A", "number": "7"}


async def test_the_verify_fault_fails_a_completed_item(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    api = await connect(make_emulator, http, fault_pdm_verify_failed=1.0)
    emulator, pdm = api.emulator, Pdm(api)
    [upload_id] = await pdm.create("a.pdf")
    file_upload_id = await pdm.file()
    status, body = await pdm.patch(
        {"id": upload_id, "file_upload_id": file_upload_id, "upload_status": "COMPLETED"}
    )
    assert status == 207
    check_answer(PATCH, status, body)
    assert [(f["id"], f["code"]) for f in body["data"]["failed"]] == [(upload_id, 503)]
    assert emulator.pdm_uploads()[0]["file_upload_id"] is None  # the item changed nothing
    emulator.set_faults(pdm_verify_failed=0.0)
    status, body = await pdm.patch(
        {"id": upload_id, "file_upload_id": file_upload_id, "upload_status": "COMPLETED"}
    )
    assert body["data"]["success"] == [{"id": upload_id}]


async def test_an_identity_without_upload_new_files_cannot_patch(api: Api) -> None:
    await api.login("pdm-no-upload-client-id", "pdm-no-upload-client-secret")
    status, body = await Pdm(api).patch({"id": UNKNOWN_ULID})
    assert status == 403
    check_answer(PATCH, status, body)
