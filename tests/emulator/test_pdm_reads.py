"""Reading document uploads: show (v2.0 and v2.1), list (only COMPLETED, unsubmitted; pages of at
most 100, `Total`/`Link`, `view=ids_only`) and v2.2 selected uploads, each with the current
`latest_event_id`."""

from __future__ import annotations

from emulator_testkit import Api, check_answer
from pdm_testkit import LIST, LIST21, SELECTED, SHOW, SHOW21, UNKNOWN_ULID, Pdm, field_of


async def completed(pdm: Pdm, count: int) -> list[str]:
    """`count` COMPLETED text uploads (no ML, no scraping on project 42), oldest first."""
    ids = await pdm.create(*(f"note-{n:03d}.txt" for n in range(count)), mime="text/plain")
    for upload_id in ids:
        file_upload_id = await pdm.file(b"note", "note.txt", content_type="text/plain")
        status, body = await pdm.patch(
            {"id": upload_id, "file_upload_id": file_upload_id, "upload_status": "COMPLETED"}
        )
        assert status == 207
        assert body["data"]["success"] == [{"id": upload_id}], body
    return ids


async def test_show_in_both_versions_with_the_latest_event_id(api: Api) -> None:
    pdm = Pdm(api)
    await pdm.learn()
    [upload_id] = await completed(pdm, 1)
    for version, operation in (("v2.0", SHOW), ("v2.1", SHOW21)):
        status, body = await pdm.show(upload_id, version)
        assert status == 200
        check_answer(operation, status, body)
        assert body["data"]["id"] == upload_id
        assert body["data"]["permissions"] == {"allowed_actions": ["view"]}
        assert body["data"]["document_container_id"] is None  # no revision made one yet
    event = body["data"]["latest_event_id"]
    await pdm.patch({"id": upload_id, "fields": [pdm.set("number", "12")]})
    status, body = await pdm.show(upload_id)
    assert body["data"]["latest_event_id"] != event
    number = field_of(body["data"], "number")
    assert (number["values"], number["label_source"]) == ([{"label": "12"}], "MANUAL")
    assert field_of(body["data"], "original_filename")["label_source"] == "SYSTEM"
    status, body = await pdm.show(UNKNOWN_ULID)
    assert status == 404


async def test_list_pages_only_completed_uploads(api: Api) -> None:
    pdm = Pdm(api)
    ids = await completed(pdm, 12)
    await pdm.create("still-incomplete.pdf")
    status, first, headers = await pdm.get("document_uploads")
    assert status == 200
    check_answer(LIST, status, first, headers)
    assert [u["id"] for u in first["data"]] == ids[:10]
    assert headers["Total"] == "12" and 'rel="next"' in headers["Link"]
    status, second, headers = await pdm.get("document_uploads?page=2", "v2.1")
    check_answer(LIST21, status, second, headers)
    assert [u["id"] for u in second["data"]] == ids[10:]
    assert all("latest_event_id" in u and "permissions" not in u for u in second["data"])
    status, every, headers = await pdm.get("document_uploads?per_page=500")
    assert len(every["data"]) == 12 and headers["Link"] == ""  # 500 is served as 100
    status, only, headers = await pdm.get("document_uploads?view=ids_only&per_page=5")
    check_answer(LIST, status, only, headers)
    assert only["data"] == ids[:5]


async def test_selected_uploads_answers_the_known_ones_in_the_order_asked(api: Api) -> None:
    pdm = Pdm(api)
    ids = await completed(pdm, 3)
    [incomplete] = await pdm.create("draft.pdf")
    asked = [ids[2], UNKNOWN_ULID, incomplete, ids[0], ids[2]]
    status, body = await pdm.post("document_uploads/selected_uploads", {"ids": asked}, "v2.2")
    assert status == 200
    check_answer(SELECTED, status, body)
    assert [u["id"] for u in body["data"]] == [ids[2], ids[0]]
    status, body = await pdm.post(
        "document_uploads/selected_uploads?view=ids_only", {"ids": ids}, "v2.2"
    )
    assert body["data"] == ids
    status, body = await pdm.post("document_uploads/selected_uploads", {"ids": "x"}, "v2.2")
    assert status == 400
    check_answer(SELECTED, status, body)
