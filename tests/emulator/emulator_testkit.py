"""Small HTTP helpers for emulator tests: get a token, create an upload, build raw multipart."""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from jsonschema import Draft202012Validator

from bulkupload.emulator.server import RunningEmulator
from tests.contract.validator import CONTRACT_DIR, FORMAT_CHECKER


@dataclass
class Upload:
    uuid: str
    url: str
    fields: dict[str, str]


class Api:
    """A bare-bones Procore client over real HTTP, enough to drive the emulator in tests."""

    def __init__(self, emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
        self.emulator = emulator
        self.session = session
        self.token = ""

    async def login(self, client_id: str | None = None, secret: str | None = None) -> str:
        # JSON: the body type the contract publishes for the token endpoint.
        async with self.session.post(
            self.emulator.base_url + "/oauth/token",
            json={
                "grant_type": "client_credentials",
                "client_id": client_id or self.emulator.client_id,
                "client_secret": secret or self.emulator.client_secret,
            },
        ) as response:
            assert response.status == 200, await response.text()
            self.token = (await response.json())["access_token"]
        return self.token

    def headers(self, company: int | None = 1) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if company is not None:
            headers["Procore-Company-Id"] = str(company)
        return headers

    async def call(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        company: int | None = 1,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
        async with self.session.post(
            self.emulator.base_url + path,
            json=body if body is not None else {},
            headers=headers if headers is not None else self.headers(company),
        ) as response:
            return response.status, await response.json(), response.headers

    async def call_method(
        self, method: str, path: str, body: dict[str, Any], *, company: int = 1
    ) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
        async with self.session.request(
            method, self.emulator.base_url + path, json=body, headers=self.headers(company)
        ) as response:
            return response.status, await response.json(), response.headers

    async def get(
        self, path: str, *, company: int = 1
    ) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
        async with self.session.get(
            self.emulator.base_url + path, headers=self.headers(company)
        ) as response:
            return response.status, await response.json(), response.headers

    async def create_upload(self, project: int = 42, company: int = 1, **body: Any) -> Upload:
        body.setdefault("response_filename", "report.pdf")
        status, data, _ = await self.call(
            f"/rest/v1.1/projects/{project}/uploads", body, company=company
        )
        assert status == 201, data
        return Upload(data["uuid"], data["url"], data["fields"])

    async def attach(self, uuid: str, name: str, project: int = 42) -> tuple[int, Any]:
        """A Documents file made of upload `uuid` (POST /rest/v1.0/files): status and answer."""
        form = aiohttp.FormData(default_to_multipart=True)
        form.add_field("file[name]", name)
        form.add_field("file[upload_uuid]", uuid)
        async with self.session.post(
            self.emulator.base_url + "/rest/v1.0/files",
            data=form,
            params={"project_id": str(project)},
            headers=self.headers(),
        ) as response:
            return response.status, await response.json()


def multipart(
    parts: list[tuple[str, bytes, str | None]], boundary: str | None = None
) -> tuple[bytes, str]:
    """A raw multipart/form-data body with parts exactly in the given order."""
    boundary = boundary or os.urandom(12).hex()
    chunks = []
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        chunks.append(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def form(
    fields: dict[str, str], data: bytes | None, *, file_last: bool = True
) -> tuple[bytes, str]:
    parts: list[tuple[str, bytes, str | None]] = [(k, v.encode(), None) for k, v in fields.items()]
    if data is not None:
        file_part = ("file", data, "blob.bin")
        if file_last:
            parts.append(file_part)
        else:
            parts.insert(len(parts) - 1, file_part)
    return multipart(parts)


async def post_form(
    session: aiohttp.ClientSession,
    url: str,
    fields: dict[str, str],
    data: bytes | None = b"hello bytes",
    *,
    file_last: bool = True,
    headers: dict[str, str] | None = None,
) -> tuple[int, str, aiohttp.typedefs.LooseHeaders]:
    body, content_type = form(fields, data, file_last=file_last)
    async with session.post(
        url, data=body, headers={"Content-Type": content_type, **(headers or {})}
    ) as response:
        return response.status, await response.text(), response.headers


def s3_code(xml: str) -> str:
    start = xml.index("<Code>") + len("<Code>")
    return xml[start : xml.index("</Code>")]


# ---- the published contract (vendored in tests/contract/procore-contract) -----------------


@functools.cache
def contract(operation: str) -> dict[str, Any]:
    """One endpoint file of the contract, by operationId."""
    index = json.loads((CONTRACT_DIR / "index.json").read_text())["operations"]
    result: dict[str, Any] = json.loads((CONTRACT_DIR / index[operation]["file"]).read_text())
    return result


def check_answer(
    operation: str, status: int, body: Any, headers: Mapping[str, str] | None = None
) -> None:
    """Assert `status` is published for `operation` (a 2xx exactly, an error at least under
    `default`) and `body` validates against its schema; with headers, the published ones are
    there too."""
    responses = contract(operation)["responses"]
    entry = responses.get(str(status)) or responses.get("default")
    assert entry is not None, f"{operation} publishes neither {status} nor a default"
    if 200 <= status < 300:
        assert str(status) in responses, f"{operation} does not publish {status}"
    validator = Draft202012Validator(entry["schema"], format_checker=FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(body), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    for name in entry.get("headers", {}) if headers is not None else {}:
        assert name in headers, f"{operation} {status} lacks the published header {name}"


def check_request(operation: str, body: Any) -> None:
    """Assert a test's request body is one the contract publishes (so the test is fair)."""
    Draft202012Validator(contract(operation)["request"]["schema"]).validate(body)


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """`app` served on a free loopback port for the block (a stand-in for SeaweedFS): its
    base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
