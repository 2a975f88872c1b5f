"""The Documents admin views and controls, and the package wired into the real emulator."""

from __future__ import annotations

import hashlib

import aiohttp
import pytest
from documents_testkit import (
    Client,
    add_upload,
    call,
    client,
    forms_catalogue,
    new_file,
    new_folder,
    pin_form,
    state,
)
from emulator_testkit import Api, check_answer, post_form

from bulkupload.emulator.documents import FORM_COUNT
from bulkupload.emulator.documents.routes import documents_store
from bulkupload.emulator.server import RunningEmulator
from bulkupload.emulator.state import EmulatorState

__all__ = ["client", "state"]  # fixtures, used by name

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web.NotAppKeyWarning")

KINDS = {"name_taken", "already_attached", "checked_out", "read_only"}


async def test_admin_tree(client: Client, state: EmulatorState) -> None:
    add_upload(state, "u1", size=3)
    add_upload(state, "u2", size=4)
    folder = await new_folder(client, "A")
    made = await new_file(client, "f.bin", "u1", folder["id"])
    await call(
        client,
        "PATCH",
        f"/rest/v1.0/files/{made['id']}",
        form={"file[upload_uuid]": "u2"},
        status=200,
    )
    tree = await call(client, "GET", "/_emulator/documents", status=200)
    assert set(tree) == {"id", "name", "folders", "files"}
    assert tree["folders"][0]["name"] == "A" and tree["files"] == []
    (f,) = tree["folders"][0]["files"]
    assert (f["name"], f["size"], f["md5"]) == ("f.bin", 4, "md5-u2")
    assert f["versions"] == [
        {"number": 1, "size": 3, "md5": "md5-u1", "upload_uuid": "u1"},
        {"number": 2, "size": 4, "md5": "md5-u2", "upload_uuid": "u2"},
    ]
    empty = await call(
        client, "GET", "/_emulator/documents", params={"company_id": "7"}, status=200
    )
    assert empty["folders"] == [] and empty["files"] == []
    await call(client, "GET", "/_emulator/documents", params={}, status=400)


async def test_store_is_a_field_of_the_state(state: EmulatorState) -> None:
    assert documents_store(state) is state.documents
    assert documents_store(EmulatorState()) is not state.documents


async def test_clash_forms_catalogue_and_pinning(client: Client) -> None:
    catalogue = await forms_catalogue(client)
    assert catalogue["pinned"] is None and catalogue["count"] == FORM_COUNT
    assert [f["form"] for f in catalogue["forms"]] == list(range(FORM_COUNT))
    shapes = set()
    for entry in catalogue["forms"]:
        assert set(entry["answers"]) == KINDS
        for kind, answer in entry["answers"].items():
            # Every form is a v1 error body some Documents write may give.
            check_answer("RestV10FilesPost", answer["status"], answer["body"])
            if kind == "checked_out":
                assert answer["status"] == 409
            shapes.add(tuple(sorted(answer["body"])))
    assert len(shapes) >= 4
    assert (await pin_form(client, 3))["pinned"] == 3
    assert (await forms_catalogue(client))["pinned"] == 3
    assert (await pin_form(client, None))["pinned"] is None


async def test_through_the_real_emulator(
    emulator: RunningEmulator, http: aiohttp.ClientSession
) -> None:
    """Real OAuth and the real app wiring; the contract plugin checks every exchange too."""
    api = Api(emulator, http)
    credentials = {
        "grant_type": "client_credentials",
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
    }
    async with http.post(emulator.token_url, json=credentials) as resp:
        assert resp.status == 200, await resp.text()
        api.token = (await resp.json())["access_token"]
    upload = await api.create_upload(project=42)
    data = b"plan bytes"
    status, text, _ = await post_form(http, upload.url, upload.fields, data)
    assert status == 204, text
    base = api.emulator.base_url
    params = {"project_id": "42"}
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("file[name]", "plan.pdf")
    form.add_field("file[upload_uuid]", upload.uuid)
    async with http.post(
        f"{base}/rest/v1.0/files", data=form, params=params, headers=api.headers()
    ) as resp:
        made = await resp.json()
        assert resp.status == 201, made
        check_answer("RestV10FilesPost", 201, made, resp.headers)
    async with http.get(f"{base}/rest/v1.0/projects/42/documents", headers=api.headers()) as resp:
        rows = await resp.json()
        check_answer("RestV10ProjectsProjectIdDocumentsGet", 200, rows, resp.headers)
    assert [r["name"] for r in rows] == ["plan.pdf"]
    tree = api.emulator.admin_get("/_emulator/documents?project_id=42")
    (f,) = tree["files"]
    assert f["md5"] == hashlib.md5(data).hexdigest()
    assert f["versions"][0]["upload_uuid"] == upload.uuid
