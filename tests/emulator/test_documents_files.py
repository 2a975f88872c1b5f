"""Emulated Documents files and versions: request forms, published shapes, upload rules."""

from __future__ import annotations

import pytest
from documents_testkit import (
    Client,
    add_upload,
    call,
    client,
    new_file,
    new_folder,
    pin_form,
    state,
)
from emulator_testkit import check_request

from bulkupload.emulator.core import UNATTACHED_LIFETIME
from bulkupload.emulator.documents.routes import sweep_unattached
from bulkupload.emulator.state import EmulatorState

__all__ = ["client", "state"]  # fixtures, used by name

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web.NotAppKeyWarning")

VERSION_FIELDS = {
    "id",
    "number",
    "size",
    "url",
    "notes",
    "created_at",
    "created_by",
    "prostore_file",
    "file_id",
}


async def test_multipart_json_and_urlencoded_bodies(client: Client, state: EmulatorState) -> None:
    for u in ("u1", "u2", "u3"):
        add_upload(state, u, size=7)
    folder = await new_folder(client, "F")
    made = await new_file(client, "a.pdf", "u1", folder["id"], description="plans")
    assert (made["parent_id"], made["description"], made["size"]) == (folder["id"], "plans", 7)
    body = {"file": {"name": "b.pdf", "parent_id": folder["id"], "upload_uuid": "u2"}}
    check_request("RestV10FilesPost", body)
    as_json = await call(
        client, "POST", "/rest/v1.0/files", json=body, status=201, op="RestV10FilesPost"
    )
    assert as_json["name_with_path"] == "F/b.pdf"
    resp = await client.post(
        "/rest/v1.0/files",
        data={"file[name]": "c.pdf", "file[upload_uuid]": "u3"},  # urlencoded
        params={"project_id": "10"},
    )
    assert resp.status == 201, await resp.text()
    # Names outside `file[...]`, or a value that is no boolean: refused.
    await call(client, "POST", "/rest/v1.0/files", form={"name": "d.pdf"}, status=400)
    await call(
        client,
        "POST",
        "/rest/v1.0/files",
        form={"file[name]": "d.pdf", "file[upload_uuid]": "u9", "file[unique_name]": "yes"},
        status=422,
        op="RestV10FilesPost",
    )


async def test_published_fields_only(client: Client, state: EmulatorState) -> None:
    add_upload(state, "u1", size=3)
    made = await new_file(client, "a.pdf", "u1")
    (version,) = made["file_versions"]
    assert set(version) == VERSION_FIELDS  # no upload_uuid, no md5
    assert version["size"] == 3 and version["file_id"] == made["id"] and version["notes"] is None
    assert set(version["created_by"]) == {"id", "login", "name"}
    assert set(version["prostore_file"]) == {"id", "name", "url", "filename"}
    assert version["prostore_file"]["filename"] == "a.pdf"
    assert made["checked_out_until"] is None and made["checked_out_by"] is None
    assert made["file_type"] == "pdf" and "document_type" not in made
    shown = await call(
        client, "GET", f"/rest/v1.0/files/{made['id']}", status=200, op="RestV10FilesIdGet"
    )
    assert shown == made
    # The same identity is the same user; another identity is another.
    add_upload(state, "b1", owner="bob")
    theirs = await call(
        client,
        "POST",
        "/rest/v1.0/files",
        form={"file[name]": "b.pdf", "file[upload_uuid]": "b1"},
        headers={"X-Test-Client": "bob"},
        status=201,
    )
    assert theirs["file_versions"][0]["created_by"]["id"] != version["created_by"]["id"]


async def test_unique_name_renames(client: Client, state: EmulatorState) -> None:
    for u in ("u1", "u2", "u3", "u4"):
        add_upload(state, u)
    first = await new_file(client, "a.pdf", "u1")
    assert first["file_versions"][0]["number"] == 1
    await pin_form(client, 0)
    err = await call(
        client,
        "POST",
        "/rest/v1.0/files",
        form={"file[name]": "a.pdf", "file[upload_uuid]": "u2", "file[unique_name]": "false"},
        status=422,
        op="RestV10FilesPost",
    )
    assert err == {"errors": "Name has already been taken"}
    assert state.uploads["u2"].attached_to is None  # a refused request leaves the upload usable
    names = []
    for u, flag in (("u2", "true"), ("u3", "1")):
        made = await new_file(client, "a.pdf", u, unique_name=flag)
        names.append(made["name"])
    assert names == ["a (1).pdf", "a (2).pdf"]


async def test_versions_by_patch_and_file_versions(client: Client, state: EmulatorState) -> None:
    for u in ("u1", "u2", "u3"):
        add_upload(state, u, size=len(u) * 10)
    made = await new_file(client, "a.pdf", "u1")
    patched = await call(
        client,
        "PATCH",
        f"/rest/v1.0/files/{made['id']}",
        form={"file[upload_uuid]": "u2"},
        status=200,
        op="RestV10FilesIdPatch",
    )
    assert [v["number"] for v in patched["file_versions"]] == [1, 2]
    version = await call(
        client,
        "POST",
        "/rest/v1.0/file_versions",
        params={"project_id": "10", "file_id": str(made["id"])},
        form={"file_version[upload_uuid]": "u3", "file_version[notes]": "third"},
        status=201,
        op="RestV10FileVersionsPost",
    )
    assert (version["number"], version["file_id"], version["notes"]) == (3, made["id"], "third")
    shown = await call(
        client,
        "GET",
        f"/rest/v1.0/files/{made['id']}",
        params={"project_id": "10", "show_latest_version_only": "true"},
        status=200,
    )
    assert [v["number"] for v in shown["file_versions"]] == [3]
    assert state.uploads["u3"].attached_to == made["id"]
    await call(
        client,
        "POST",
        "/rest/v1.0/file_versions",
        form={"file_version[upload_uuid]": "u3"},
        status=400,
    )  # no file_id


async def test_rename_and_move_a_file(client: Client, state: EmulatorState) -> None:
    for u in ("u1", "u2"):
        add_upload(state, u)
    folder = await new_folder(client, "F")
    made = await new_file(client, "a.pdf", "u1")
    await new_file(client, "taken.pdf", "u2", folder["id"])
    moved = await call(
        client,
        "PATCH",
        f"/rest/v1.0/files/{made['id']}",
        form={"file[name]": "b.pdf", "file[parent_id]": str(folder["id"])},
        status=200,
        op="RestV10FilesIdPatch",
    )
    assert moved["name_with_path"] == "F/b.pdf" and len(moved["file_versions"]) == 1
    await call(
        client,
        "PATCH",
        f"/rest/v1.0/files/{made['id']}",
        json={"file": {"name": "taken.pdf"}},
        status=(400, 409, 422),
        op="RestV10FilesIdPatch",
    )
    listing = await call(client, "GET", f"/rest/v1.0/folders/{folder['id']}", status=200)
    assert sorted(f["name"] for f in listing["files"]) == ["b.pdf", "taken.pdf"]


async def test_upload_rules(client: Client, state: EmulatorState) -> None:
    add_upload(state, "bob's", owner="bob")
    add_upload(state, "empty", stored=False)
    add_upload(state, "other-project", project_id=11)
    add_upload(state, "once")

    async def attach(uuid: str, status: int | tuple[int, ...], name: str = "x.bin") -> str:
        form = {"file[name]": name, "file[upload_uuid]": uuid}
        body = await call(
            client, "POST", "/rest/v1.0/files", form=form, status=status, op="RestV10FilesPost"
        )
        return str(body)

    assert "another identity" in await attach("bob's", 403)
    assert "has no data" in await attach("empty", 422)
    assert "another project" in await attach("other-project", 422)
    assert "not found" in await attach("nope", 404)
    await attach("once", 201)
    await attach("once", (400, 409, 422), name="y.bin")  # already attached: a varied answer
    await pin_form(client, 1)
    assert await attach("once", 422, name="y.bin") == str(
        {"errors": {"upload_uuid": ["is attached to another file"]}}
    )


async def test_unattached_upload_deleted_after_a_week(client: Client, state: EmulatorState) -> None:
    add_upload(state, "old")
    add_upload(state, "kept")
    await new_file(client, "kept.bin", "kept")
    state.clock.advance(UNATTACHED_LIFETIME - 60)
    add_upload(state, "young")
    state.clock.advance(120)
    err = await call(
        client,
        "POST",
        "/rest/v1.0/files",
        form={"file[name]": "old.bin", "file[upload_uuid]": "old"},
        status=410,
        op="RestV10FilesPost",
    )
    assert "7 days" in err["errors"]
    assert "old" not in state.uploads and "kept" in state.uploads
    await new_file(client, "young.bin", "young")
    state.clock.advance(UNATTACHED_LIFETIME)
    assert sweep_unattached(state) == 0  # attached uploads are never swept


async def test_legacy_data_part_refused(client: Client) -> None:
    await call(
        client,
        "POST",
        "/rest/v1.0/files",
        form={"file[name]": "a.bin", "file[data]": "raw bytes"},
        status=422,
        op="RestV10FilesPost",
    )
