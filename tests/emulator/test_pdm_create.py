"""Creating document uploads: the batch answer, all-or-nothing validation, the 100-item limit,
permissions, invisibility until COMPLETED, and no idempotency (a lost answer leaves orphans)."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import pytest
from emulator_testkit import Api, check_answer, check_request
from pdm_testkit import CREATE, LIST, SHOW, SUBMIT, Pdm, connect, reasons

from bulkupload.emulator.server import RunningEmulator


async def test_create_answers_one_id_per_upload_in_order(api: Api) -> None:
    pdm = Pdm(api)
    body = {
        "uploads": [
            {"file_name": "A101.pdf", "mime_type": "application/pdf", "file_locked": True},
            {"file_name": "notes.txt", "mime_type": "text/plain"},
        ]
    }
    check_request(CREATE, body)
    status, answer = await pdm.post("document_uploads", body)
    assert status == 201
    check_answer(CREATE, status, answer)
    first, second = answer["data"]
    assert (first["file_locked"], second["file_locked"]) == (True, False)
    records = {r["id"]: r for r in api.emulator.pdm_uploads(42)}
    assert records[first["id"]]["file_name"] == "A101.pdf"
    assert records[second["id"]]["upload_status"] == "INCOMPLETE"
    assert records[second["id"]]["owner"] == api.emulator.client_id


async def test_incomplete_uploads_are_not_shown_listed_or_submittable(api: Api) -> None:
    pdm = Pdm(api)
    [upload_id] = await pdm.create("draft.pdf")
    status, body = await pdm.show(upload_id)
    assert status == 404
    check_answer(SHOW, status, body)
    assert reasons(body) == ["UPLOAD_NOT_FOUND"]
    status, listed, headers = await pdm.get("document_uploads")
    assert (status, listed["data"], headers["Total"]) == (200, [], "0")
    check_answer(LIST, status, listed, headers)
    status, body = await pdm.submit({"id": upload_id, "upload_latest_event_id": upload_id})
    assert status == 422
    check_answer(SUBMIT, status, body)
    assert body["error"]["details"][0]["reason_code"] == "FILE_KEY_MISMATCH"
    assert body["error"]["details"][0]["source"] == upload_id


@pytest.mark.parametrize(
    "bad",
    [
        {"file_name": "", "mime_type": "application/pdf"},
        {"file_name": "a/b.pdf", "mime_type": "application/pdf"},
        {"file_name": "b.pdf", "mime_type": "pdf"},
        {"file_name": "b.pdf"},
        {"file_name": "b.pdf", "mime_type": "application/pdf", "file_locked": "yes"},
        {"file_name": "b.pdf", "mime_type": "application/pdf", "expected_container_id": "X"},
    ],
)
async def test_one_invalid_upload_fails_the_whole_batch(api: Api, bad: dict[str, object]) -> None:
    pdm = Pdm(api)
    good = {"file_name": "good.pdf", "mime_type": "application/pdf"}
    status, body = await pdm.post("document_uploads", {"uploads": [good, bad]})
    assert status == 400
    check_answer(CREATE, status, body)
    assert body["error"]["code"] == "BAD_REQUEST"
    assert set(reasons(body)) == {"INVALID_PROPERTY"}
    assert all(d["source"].startswith("uploads.1") for d in body["error"]["details"])
    assert api.emulator.pdm_uploads() == []


async def test_at_most_one_hundred_uploads_per_batch(api: Api) -> None:
    pdm = Pdm(api)
    names = [f"sheet-{n:03d}.pdf" for n in range(101)]
    status, body = await pdm.post(
        "document_uploads",
        {"uploads": [{"file_name": n, "mime_type": "application/pdf"} for n in names]},
    )
    assert status == 400
    check_answer(CREATE, status, body)
    assert len(await pdm.create(*names[:100])) == 100
    status, body = await pdm.post("document_uploads", {"uploads": []})
    assert status == 400


async def test_an_identity_without_upload_new_files_gets_403(api: Api) -> None:
    await api.login("pdm-no-upload-client-id", "pdm-no-upload-client-secret")
    status, body = await Pdm(api).post(
        "document_uploads", {"uploads": [{"file_name": "a.pdf", "mime_type": "application/pdf"}]}
    )
    assert status == 403
    check_answer(CREATE, status, body)
    assert body["error"]["code"] == "FORBIDDEN"
    assert reasons(body) == ["ACCESS_DENIED"]


async def test_a_lost_answer_leaves_orphans_and_a_retry_makes_new_uploads(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    api = await connect(make_emulator, http, seed=3)
    emulator, pdm = api.emulator, Pdm(api)
    body = {"uploads": [{"file_name": "lost.pdf", "mime_type": "application/pdf"}] * 2}
    emulator.set_faults(api_lost=1.0)
    with pytest.raises(aiohttp.ClientError):
        await pdm.post("document_uploads", body)
    emulator.set_faults(api_lost=0.0)
    orphans = emulator.pdm_uploads(42)
    assert [(o["file_name"], o["upload_status"]) for o in orphans] == [
        ("lost.pdf", "INCOMPLETE")
    ] * 2
    retried = await pdm.create("lost.pdf", "lost.pdf")
    assert not set(retried) & {o["id"] for o in orphans}  # not idempotent: new records
    assert len(emulator.pdm_uploads(42)) == 4
    assert emulator.counters()["faults_injected"]["api_lost"] == 1
