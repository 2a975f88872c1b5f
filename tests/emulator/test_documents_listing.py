"""`GET .../documents`: published rows, a folder with all its descendants, pagination."""

from __future__ import annotations

from typing import Any

import pytest
from documents_testkit import (
    COMPANY,
    PROJECT,
    Client,
    add_upload,
    call,
    client,
    new_file,
    new_folder,
    state,
)

from bulkupload.emulator.state import EmulatorState

__all__ = ["client", "state"]  # fixtures, used by name

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web.NotAppKeyWarning")

LIST = f"/rest/v1.0/projects/{PROJECT}/documents"
OP = "RestV10ProjectsProjectIdDocumentsGet"


async def test_listing_paginates(client: Client, state: EmulatorState) -> None:
    folder = await new_folder(client, "F")
    for i in range(5):
        add_upload(state, f"u{i}")
        await new_file(client, f"{i}.txt", f"u{i}", folder["id"])
    resp = await client.get(LIST, params={"per_page": "2", "page": "2"})
    assert resp.headers["Total"] == "6" and resp.headers["Per-Page"] == "2"
    assert 'rel="next"' in resp.headers["Link"] and 'rel="last"' in resp.headers["Link"]
    assert "page=3" in resp.headers["Link"]
    assert len(await resp.json()) == 2
    last = await client.get(LIST, params={"per_page": "4", "page": "2"})
    assert 'rel="next"' not in last.headers["Link"] and len(await last.json()) == 2
    folders = await call(
        client, "GET", LIST, params={"filters[document_type]": "folder"}, status=200, op=OP
    )
    assert [f["name"] for f in folders] == ["F"]


async def test_rows_nest_file_and_children(client: Client, state: EmulatorState) -> None:
    folder = await new_folder(client, "F")
    add_upload(state, "u1", size=9)
    made = await new_file(client, "a.PDF", "u1", folder["id"], description="spec")
    rows = await call(client, "GET", LIST, params={}, status=200, op=OP)
    by_type = {r["document_type"]: r for r in rows}
    f_row, file_row = by_type["folder"], by_type["file"]
    assert f_row["children"] == {
        "has_children": True,
        "has_children_files": True,
        "has_children_folders": False,
    }
    assert "file" not in f_row and "children" not in file_row
    nested = file_row["file"]
    assert (nested["description"], nested["file_type"]) == ("spec", "pdf")
    assert nested["current_version"] == made["file_versions"][0]
    assert file_row["name_with_path"] == "F/a.PDF" and file_row["parent_id"] == folder["id"]
    assert file_row["created_by"] == made["file_versions"][0]["created_by"]
    assert "upload_uuid" not in str(rows)


async def test_folder_filter_returns_all_descendants(client: Client, state: EmulatorState) -> None:
    top = await new_folder(client, "Top")
    other = await new_folder(client, "Other")
    mid = await new_folder(client, "Mid", top["id"])
    deep = await new_folder(client, "Deep", mid["id"])
    for i, parent in enumerate((top, mid, deep, other)):
        add_upload(state, f"u{i}")
        await new_file(client, f"{i}.txt", f"u{i}", parent["id"])
    rows = await call(
        client, "GET", LIST, params={"filters[folder_id]": str(top["id"])}, status=200, op=OP
    )
    paths = sorted(r["name_with_path"] for r in rows)
    assert paths == [
        "Top",
        "Top/0.txt",
        "Top/Mid",
        "Top/Mid/1.txt",
        "Top/Mid/Deep",
        "Top/Mid/Deep/2.txt",
    ]
    files = await call(
        client,
        "GET",
        LIST,
        params={"filters[folder_id]": str(mid["id"]), "filters[document_type]": "file"},
        status=200,
    )
    assert sorted(f["name"] for f in files) == ["1.txt", "2.txt"]
    await call(client, "GET", LIST, params={"filters[folder_id]": "99999"}, status=404, op=OP)


async def test_folder_filter_stops_at_depth_100(client: Client) -> None:
    parent: Any = None
    chain = []
    for depth in range(102):
        parent = await new_folder(client, f"d{depth}", None if parent is None else parent["id"])
        chain.append(parent["id"])
    rows = await call(
        client,
        "GET",
        LIST,
        params={"filters[folder_id]": str(chain[0]), "per_page": "1000"},
        status=200,
    )
    # The folder itself and 100 levels below it: the 102nd level needs another query.
    assert [r["id"] for r in rows] == chain[:101]


async def test_company_listing(client: Client, state: EmulatorState) -> None:
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
        form={
            "file[name]": "c.txt",
            "file[parent_id]": str(folder["id"]),
            "file[upload_uuid]": "c1",
        },
        params={},
        status=201,
        op="RestV10CompaniesCompanyIdFilesPost",
    )
    await call(
        client,
        "POST",
        f"{base}/files",
        form={"file[name]": "p.txt", "file[upload_uuid]": "p1"},
        params={},
        status=422,
    )  # a project upload cannot land in company Documents
    await call(
        client,
        "GET",
        f"{base}/files/{made['id']}",
        params={},
        status=200,
        op="RestV10CompaniesCompanyIdFilesIdGet",
    )
    await call(client, "GET", f"/rest/v1.0/files/{made['id']}", status=404)  # not in the project
    op = "RestV10CompaniesCompanyIdDocumentsGet"
    listing = await call(client, "GET", f"{base}/documents", params={}, status=200, op=op)
    assert [d["name"] for d in listing] == ["Co", "c.txt"]
    root = await call(client, "GET", f"{base}/folders", params={}, status=200)
    rows = await call(
        client,
        "GET",
        f"{base}/documents",
        params={"filters[folder_id]": str(root["id"])},
        status=200,
        op=op,
    )
    assert [d["name_with_path"] for d in rows] == ["", "Co", "Co/c.txt"]
    assert "parent_id" not in rows[0]  # the root row: no parent, and the row publishes no null
    project_root = await call(client, "GET", "/rest/v1.0/folders", status=200)
    assert [f["name"] for f in project_root["folders"]] == ["Recycle Bin"]


async def test_sort_and_search(client: Client, state: EmulatorState) -> None:
    for name in ("b.txt", "a.txt", "c.pdf"):
        add_upload(state, name)
        await new_file(client, name, name)
    rows = await call(client, "GET", LIST, params={"sort": "-name"}, status=200, op=OP)
    assert [r["name"] for r in rows] == ["c.pdf", "b.txt", "a.txt"]
    found = await call(client, "GET", LIST, params={"filters[search]": "b."}, status=200)
    assert [r["name"] for r in found] == ["b.txt"]
    pdfs = await call(client, "GET", LIST, params={"filters[file_type][]": "pdf"}, status=200)
    assert [r["name"] for r in pdfs] == ["c.pdf"]
    await call(client, "GET", LIST, params={"sort": "size"}, status=400)
