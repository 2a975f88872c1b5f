"""Checked-out files and read-only items in the emulated Documents tool."""

from __future__ import annotations

import pytest
from documents_testkit import (
    Client,
    add_upload,
    admin,
    call,
    client,
    new_file,
    new_folder,
    state,
)

from bulkupload.emulator.state import EmulatorState

__all__ = ["client", "state"]  # fixtures, used by name

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web.NotAppKeyWarning")

BOB = {"X-Test-Client": "bob"}


async def test_checked_out_by_someone_else(client: Client, state: EmulatorState) -> None:
    for u in ("u1", "u2", "u3"):
        add_upload(state, u)
    made = await new_file(client, "a.pdf", "u1")
    until = state.clock.now() + 3600
    held = await admin(
        client, "checkout", {"project_id": 10, "file_id": made["id"], "until": until}
    )
    assert held["checked_out_by"]["name"] == "Pat Reviewer"
    shown = await call(
        client, "GET", f"/rest/v1.0/files/{made['id']}", status=200, op="RestV10FilesIdGet"
    )
    assert shown["checked_out_until"] == held["checked_out_until"]
    assert shown["checked_out_by"] == held["checked_out_by"]
    (row,) = await call(
        client,
        "GET",
        "/rest/v1.0/projects/10/documents",
        params={},
        status=200,
        op="RestV10ProjectsProjectIdDocumentsGet",
    )
    assert row["file"]["checked_out_until"] == held["checked_out_until"]
    assert row["file"]["checked_out_by"]["id"] == held["checked_out_by"]["id"]
    err = await call(
        client,
        "PATCH",
        f"/rest/v1.0/files/{made['id']}",
        form={"file[upload_uuid]": "u2"},
        status=409,
        op="RestV10FilesIdPatch",  # the published 409: errors.base, error_type, file
    )
    assert err["file"]["id"] == made["id"] and len(err["file"]["file_versions"]) == 1
    assert err["errors"]["base"] and err["error_type"]
    await call(
        client,
        "POST",
        "/rest/v1.0/file_versions",
        params={"project_id": "10", "file_id": str(made["id"])},
        form={"file_version[upload_uuid]": "u2"},
        status=409,
        op="RestV10FileVersionsPost",
    )
    assert state.uploads["u2"].attached_to is None
    state.clock.advance(3601)  # the checkout runs out
    patched = await call(
        client,
        "PATCH",
        f"/rest/v1.0/files/{made['id']}",
        form={"file[upload_uuid]": "u2"},
        status=200,
        op="RestV10FilesIdPatch",
    )
    assert patched["checked_out_until"] is None and len(patched["file_versions"]) == 2
    await admin(client, "checkout", {"project_id": 10, "file_id": made["id"], "until": None})


async def test_checkout_through_patch(client: Client, state: EmulatorState) -> None:
    for u in ("u1", "u2", "u3"):
        add_upload(state, u)
    add_upload(state, "b1", owner="bob")
    made = await new_file(client, "a.pdf", "u1")
    path = f"/rest/v1.0/files/{made['id']}"
    mine = await call(
        client,
        "PATCH",
        path,
        form={"file[checked_out_until]": "2099-01-01T00:00:00Z"},
        status=200,
        op="RestV10FilesIdPatch",
    )
    assert mine["checked_out_until"] == "2099-01-01T00:00:00Z"
    me = mine["file_versions"][0]["created_by"]
    assert mine["checked_out_by"] == me
    # The holder may still write; another identity may not.
    await call(client, "PATCH", path, form={"file[upload_uuid]": "u2"}, status=200)
    await call(
        client,
        "PATCH",
        path,
        form={"file[upload_uuid]": "b1"},
        headers=BOB,
        status=409,
        op="RestV10FilesIdPatch",
    )
    released = await call(client, "PATCH", path, form={"file[checked_out_until]": ""}, status=200)
    assert released["checked_out_by"] is None
    await call(client, "PATCH", path, form={"file[upload_uuid]": "b1"}, headers=BOB, status=200)


async def test_read_only_folder_and_file(client: Client, state: EmulatorState) -> None:
    for u in ("u1", "u2", "u3", "u4"):
        add_upload(state, u)
    locked = await new_folder(client, "Locked")
    sub = await new_folder(client, "Sub", locked["id"])
    inside = await new_file(client, "in.pdf", "u1", sub["id"])
    answer = await admin(
        client, "read-only", {"project_id": 10, "folder_id": locked["id"], "read_only": True}
    )
    assert answer == {"folder_id": locked["id"], "read_only": True}
    shown = await call(client, "GET", f"/rest/v1.0/folders/{sub['id']}", status=200)
    assert shown["read_only"] is True  # inherited from the read-only parent
    refused = (400, 403, 422)
    await call(
        client,
        "POST",
        "/rest/v1.0/files",
        form={
            "file[name]": "new.pdf",
            "file[upload_uuid]": "u2",
            "file[parent_id]": str(sub["id"]),
        },
        status=refused,
        op="RestV10FilesPost",
    )
    await call(
        client,
        "POST",
        "/rest/v1.0/folders",
        json={"folder": {"name": "X", "parent_id": locked["id"]}},
        status=refused,
        op="RestV10FoldersPost",
    )
    await call(
        client,
        "PATCH",
        f"/rest/v1.0/files/{inside['id']}",
        form={"file[upload_uuid]": "u2"},
        status=refused,
        op="RestV10FilesIdPatch",
    )
    await call(
        client,
        "PATCH",
        f"/rest/v1.0/folders/{sub['id']}",
        json={"folder": {"name": "Renamed"}},
        status=refused,
        op="RestV10FoldersIdPatch",
    )
    assert state.uploads["u2"].attached_to is None
    await admin(
        client, "read-only", {"project_id": 10, "folder_id": locked["id"], "read_only": False}
    )
    await new_file(client, "new.pdf", "u2", sub["id"])
    # A read-only file: no new version, but its folder stays writable.
    await admin(client, "read-only", {"project_id": 10, "file_id": inside["id"]})
    await call(
        client,
        "POST",
        "/rest/v1.0/file_versions",
        params={"project_id": "10", "file_id": str(inside["id"])},
        form={"file_version[upload_uuid]": "u3"},
        status=refused,
        op="RestV10FileVersionsPost",
    )
    await new_file(client, "other.pdf", "u4", sub["id"])


async def test_admin_controls_refuse_bad_bodies(client: Client, state: EmulatorState) -> None:
    add_upload(state, "u1")
    made = await new_file(client, "a.pdf", "u1")
    await admin(client, "checkout", {"file_id": made["id"], "until": None}, status=400)
    await admin(client, "checkout", {"project_id": 10, "file_id": 999, "until": None}, status=404)
    await admin(
        client, "checkout", {"project_id": 10, "file_id": made["id"], "until": "soon"}, status=400
    )
    await admin(client, "read-only", {"project_id": 10}, status=400)
    await admin(
        client,
        "read-only",
        {"project_id": 10, "file_id": made["id"], "read_only": "yes"},
        status=400,
    )
    await admin(client, "clash-form", {"form": 10_000}, status=400)
    await admin(client, "clash-form", {"form": "1"}, status=400)
