"""Shared pieces of the Documents emulator tests: an app with stand-in auth, uploads, calls.

The app is the Documents package alone behind a middleware that takes the identity from the
`X-Test-Client` header, so tests can act as several identities without OAuth.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Handler
from emulator_testkit import check_answer

from bulkupload.emulator.config import CONFIG_KEY, EmulatorConfig
from bulkupload.emulator.core import Identity, StoredObject, UploadRecord
from bulkupload.emulator.documents.routes import add_documents_routes
from bulkupload.emulator.state import STATE_KEY, EmulatorState

PROJECT = 10
COMPANY = 1
P = {"project_id": str(PROJECT)}
SEED = 1234

Client = TestClient[web.Request, web.Application]


@web.middleware
async def fake_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Stands in for the real API middleware: identity and company from test headers."""
    if request.path.startswith("/rest/"):
        request["identity"] = Identity(request.headers.get("X-Test-Client", "alice"))
        request["company_id"] = int(request.headers.get("Procore-Company-Id", str(COMPANY)))
    return await handler(request)


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


async def documents_client(state: EmulatorState, seed: int | None = SEED) -> Client:
    app = web.Application(middlewares=[fake_auth])
    app[STATE_KEY] = state
    app[CONFIG_KEY] = EmulatorConfig(seed=seed)
    add_documents_routes(app)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
def state() -> EmulatorState:
    return EmulatorState()


@pytest.fixture
async def client(state: EmulatorState) -> AsyncIterator[Client]:
    c = await documents_client(state)
    try:
        yield c
    finally:
        await c.close()


async def call(
    client: Client,
    method: str,
    path: str,
    *,
    status: int | tuple[int, ...],
    json: Any = None,
    form: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    op: str | None = None,
) -> Any:
    """One request; asserts the status (one or any of several) and, with `op`, that the answer
    validates against that operation's published schema for its status."""
    data: FormData | None = None
    if form is not None:
        # multipart/form-data, the published encoding, even with text parts only.
        data = FormData(default_to_multipart=True)
        for key, value in form.items():
            data.add_field(key, value)
    resp = await client.request(
        method,
        path,
        json=json,
        data=data,
        params=P if params is None else params,
        headers=headers,
    )
    body = await resp.json()
    wanted = status if isinstance(status, tuple) else (status,)
    assert resp.status in wanted, (resp.status, body)
    if op is not None:
        # No headers: the X-Rate-Limit-* ones come from the API middleware, absent here.
        check_answer(op, resp.status, body)
    return body


async def new_folder(client: Client, name: str, parent_id: int | None = None) -> Any:
    body: dict[str, Any] = {"name": name}
    if parent_id is not None:
        body["parent_id"] = parent_id
    return await call(
        client,
        "POST",
        "/rest/v1.0/folders",
        json={"folder": body},
        status=201,
        op="RestV10FoldersPost",
    )


async def new_file(
    client: Client, name: str, uuid: str, parent_id: int | None = None, **extra: str
) -> Any:
    form = {"file[name]": name, "file[upload_uuid]": uuid}
    if parent_id is not None:
        form["file[parent_id]"] = str(parent_id)
    form.update({f"file[{k}]": v for k, v in extra.items()})
    return await call(
        client, "POST", "/rest/v1.0/files", form=form, status=201, op="RestV10FilesPost"
    )


async def pin_form(client: Client, form: int | None) -> Any:
    resp = await client.post("/_emulator/documents/clash-form", json={"form": form})
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def forms_catalogue(client: Client) -> Any:
    resp = await client.get("/_emulator/documents/clash-forms")
    assert resp.status == 200
    return await resp.json()


async def admin(client: Client, path: str, body: dict[str, Any], status: int = 200) -> Any:
    resp = await client.post(f"/_emulator/documents/{path}", json=body)
    answer = await resp.json()
    assert resp.status == status, answer
    return answer
