"""The emulated Documents tool over loopback HTTP: folders, files, versions and upload rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Handler

from bulkupload.emulator.core import (
    STATE_KEY,
    UNATTACHED_LIFETIME,
    EmulatorState,
    Identity,
    StoredObject,
    UploadRecord,
)
from bulkupload.emulator.documents import add_documents_routes, sweep_unattached

PROJECT = 10
COMPANY = 1
P = {"project_id": str(PROJECT)}

# The contract keys request["identity"] / request["company_id"] by plain strings.
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web.NotAppKeyWarning")


@web.middleware
async def fake_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Stands in for the real API middleware: identity and company from test headers."""
    if request.path.startswith("/rest/"):
        request["identity"] = Identity(request.headers.get("X-Test-Client", "alice"))
        request["company_id"] = int(request.headers.get("Procore-Company-Id", str(COMPANY)))
    try:
        return await handler(request)
    except web.HTTPException as exc:  # like the real middleware: an HTTPException loses its body
        return web.json_response({"errors": exc.reason}, status=exc.status)


def add_upload(
    state: EmulatorState,
    uuid: str,
    *,
    owner: str = "alice",
    project_id: int | None = PROJECT,
    size: int = 5,
    stored: bool = True,
) -> UploadRecord:
    now = state.clock.now()
    rec = UploadRecord(
        uuid=uuid,
        owner=owner,
        company_id=COMPANY,
        project_id=project_id,
        created=now,
        expires=now + 3600,
        bucket="b",
        key=f"k/{uuid}",
        response_filename=None,
        stored=StoredObject("b", f"k/{uuid}", size, f"md5-{uuid}", "/dev/null") if stored else None,
    )
    state.uploads[uuid] = rec
    return rec


@pytest.fixture
def state() -> EmulatorState:
    return EmulatorState()


@pytest.fixture
async def client(state: EmulatorState) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application(middlewares=[fake_auth])
    app[STATE_KEY] = state
    add_documents_routes(app)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c


Client = TestClient[web.Request, web.Application]


async def call(
    client: Client,
    method: str,
    path: str,
    *,
    status: int,
    json: Any = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    resp = await client.request(
        method, path, json=json, params=P if params is None else params, headers=headers
    )
    body = await resp.json()
    assert resp.status == status, body
    return body


async def new_file(client: Client, name: str, uuid: str, parent_id: int | None = None) -> Any:
    body = {"file": {"name": name, "parent_id": parent_id, "upload_uuid": uuid}}
    return await call(client, "POST", "/rest/v1.0/files", json=body, status=201)


async def test_root_lists_recycle_bin_and_children(client: Client, state: EmulatorState) -> None:
    root = await call(client, "GET", "/rest/v1.0/folders", status=200)
    assert root["parent_id"] is None
    assert [(f["name"], f["is_recycle_bin"]) for f in root["folders"]] == [("Recycle Bin", True)]
    made = await call(
        client, "POST", "/rest/v1.0/folders", json={"folder": {"name": "Arch"}}, status=201
    )
    assert made["parent_id"] == root["id"] and made["name_with_path"] == "Arch"
    sub = await call(
        client,
        "POST",
        "/rest/v1.0/folders",
        json={"folder": {"name": "Level 1", "parent_id": made["id"]}},
        status=201,
    )
    assert sub["name_with_path"] == "Arch/Level 1"
    add_upload(state, "u1")
    await new_file(client, "plan.pdf", "u1", sub["id"])
    shown = await call(client, "GET", f"/rest/v1.0/folders/{sub['id']}", status=200)
    assert [f["name"] for f in shown["files"]] == ["plan.pdf"]
    assert shown["files"][0]["name_with_path"] == "Arch/Level 1/plan.pdf"
    root = await call(client, "GET", "/rest/v1.0/folders", status=200)
    assert [f["name"] for f in root["folders"]] == ["Recycle Bin", "Arch"]


async def test_folder_name_taken_and_unknown_parent(client: Client) -> None:
    await call(client, "POST", "/rest/v1.0/folders", json={"folder": {"name": "A"}}, status=201)
    err = await call(
        client, "POST", "/rest/v1.0/folders", json={"folder": {"name": "A"}}, status=422
    )
    assert "taken" in err["errors"]
    await call(
        client,
        "POST",
        "/rest/v1.0/folders",
        json={"folder": {"name": "B", "parent_id": 99999}},
        status=404,
    )
    await call(client, "GET", "/rest/v1.0/folders/99999", status=404)
    await call(client, "GET", "/rest/v1.0/folders", params={}, status=400)


async def test_file_name_taken_unless_unique_name(client: Client, state: EmulatorState) -> None:
    for u in ("u1", "u2", "u3", "u4"):
        add_upload(state, u)
    first = await new_file(client, "a.pdf", "u1")
    assert first["size"] == 5 and first["file_versions"][0]["number"] == 1
    err = await call(
        client,
        "POST",
        "/rest/v1.0/files",
        json={"file": {"name": "a.pdf", "upload_uuid": "u2", "unique_name": False}},
        status=422,
    )
    assert "taken" in err["errors"]
    assert state.uploads["u2"].attached_to is None  # a refused request leaves the upload usable
    names = []
    for u in ("u2", "u3"):
        made = await call(
            client,
            "POST",
            "/rest/v1.0/files",
            json={"file": {"name": "a.pdf", "upload_uuid": u, "unique_name": True}},
            status=201,
        )
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
        json={"file": {"upload_uuid": "u2"}},
        status=200,
    )
    assert [v["number"] for v in patched["file_versions"]] == [1, 2]
    version = await call(
        client,
        "POST",
        "/rest/v1.0/file_versions",
        params={**P, "file_id": str(made["id"])},
        json={"file_version": {"upload_uuid": "u3", "notes": "third"}},
        status=201,
    )
    assert version["number"] == 3 and version["file_id"] == made["id"]
    shown = await call(client, "GET", f"/rest/v1.0/files/{made['id']}", status=200)
    assert [v["upload_uuid"] for v in shown["file_versions"]] == ["u1", "u2", "u3"]
    assert state.uploads["u3"].attached_to == made["id"]


async def test_upload_rules(client: Client, state: EmulatorState) -> None:
    add_upload(state, "bob's", owner="bob")
    add_upload(state, "empty", stored=False)
    add_upload(state, "other-project", project_id=PROJECT + 1)
    add_upload(state, "once")

    async def attach(uuid: str, status: int, name: str = "x.bin") -> str:
        body = await call(
            client,
            "POST",
            "/rest/v1.0/files",
            json={"file": {"name": name, "upload_uuid": uuid}},
            status=status,
        )
        return str(body)

    assert "another identity" in await attach("bob's", 403)
    assert "has no data" in await attach("empty", 422)
    assert "another project" in await attach("other-project", 422)
    assert "not found" in await attach("nope", 404)
    await attach("once", 201)
    assert "already attached" in await attach("once", 422, name="y.bin")


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
        json={"file": {"name": "old.bin", "upload_uuid": "old"}},
        status=410,
    )
    assert "7 days" in err["error"]
    assert "old" not in state.uploads and "kept" in state.uploads
    await new_file(client, "young.bin", "young")
    state.clock.advance(UNATTACHED_LIFETIME)
    assert sweep_unattached(state) == 0  # attached uploads are never swept


async def test_documents_listing_paginates(client: Client, state: EmulatorState) -> None:
    folder = await call(
        client, "POST", "/rest/v1.0/folders", json={"folder": {"name": "F"}}, status=201
    )
    for i in range(5):
        add_upload(state, f"u{i}")
        await new_file(client, f"{i}.txt", f"u{i}", folder["id"])
    path = f"/rest/v1.0/projects/{PROJECT}/documents"
    resp = await client.get(path, params={"per_page": "2", "page": "2"})
    assert resp.headers["Total"] == "6" and resp.headers["Per-Page"] == "2"
    assert 'rel="next"' in resp.headers["Link"] and 'rel="last"' in resp.headers["Link"]
    assert "page=3" in resp.headers["Link"]
    assert len(await resp.json()) == 2
    files = await call(
        client,
        "GET",
        path,
        params={"filters[folder_id]": str(folder["id"]), "filters[document_type]": "file"},
        status=200,
    )
    assert sorted(f["name"] for f in files) == [f"{i}.txt" for i in range(5)]
    last = await client.get(path, params={"per_page": "4", "page": "2"})
    assert 'rel="next"' not in last.headers["Link"] and len(await last.json()) == 2
    folders = await call(
        client, "GET", path, params={"filters[document_type]": "folder"}, status=200
    )
    assert [f["name"] for f in folders] == ["F"]


async def test_company_level_is_separate(client: Client, state: EmulatorState) -> None:
    base = f"/rest/v1.0/companies/{COMPANY}"
    add_upload(state, "c1", project_id=None)
    add_upload(state, "p1")
    folder = await call(
        client, "POST", f"{base}/folders", json={"folder": {"name": "Co"}}, params={}, status=201
    )
    made = await call(
        client,
        "POST",
        f"{base}/files",
        json={"file": {"name": "c.txt", "parent_id": folder["id"], "upload_uuid": "c1"}},
        params={},
        status=201,
    )
    await call(
        client,
        "POST",
        f"{base}/files",
        json={"file": {"name": "p.txt", "upload_uuid": "p1"}},
        params={},
        status=422,
    )  # a project upload cannot land in company Documents
    await call(client, "GET", f"{base}/files/{made['id']}", params={}, status=200)
    await call(client, "GET", f"/rest/v1.0/files/{made['id']}", status=404)  # not in the project
    await call(
        client,
        "GET",
        f"{base}/folders",
        params={},
        headers={"Procore-Company-Id": "2"},
        status=403,
    )
    listing = await call(client, "GET", f"{base}/documents", params={}, status=200)
    assert [d["name"] for d in listing] == ["Co", "c.txt"]
    project_root = await call(client, "GET", "/rest/v1.0/folders", status=200)
    assert [f["name"] for f in project_root["folders"]] == ["Recycle Bin"]


async def test_admin_tree(client: Client, state: EmulatorState) -> None:
    add_upload(state, "u1", size=3)
    add_upload(state, "u2", size=4)
    folder = await call(
        client, "POST", "/rest/v1.0/folders", json={"folder": {"name": "A"}}, status=201
    )
    made = await new_file(client, "f.bin", "u1", folder["id"])
    await call(
        client,
        "PATCH",
        f"/rest/v1.0/files/{made['id']}",
        json={"file": {"upload_uuid": "u2"}},
        status=200,
    )
    tree = await call(client, "GET", "/_emulator/documents", status=200)
    assert tree["folders"][0]["name"] == "A" and tree["files"] == []
    (f,) = tree["folders"][0]["files"]
    assert (f["name"], f["size"], f["md5"]) == ("f.bin", 4, "md5-u2")
    assert [v["md5"] for v in f["versions"]] == ["md5-u1", "md5-u2"]
    empty = await call(
        client, "GET", "/_emulator/documents", params={"company_id": "7"}, status=200
    )
    assert empty["folders"] == [] and empty["files"] == []
