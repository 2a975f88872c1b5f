"""Small HTTP helpers for emulator tests: get a token, create an upload, build raw multipart."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import aiohttp

from bulkupload.emulator.server import RunningEmulator


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
        async with self.session.post(
            self.emulator.base_url + "/oauth/token",
            data={
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

    async def create_upload(self, project: int = 42, company: int = 1, **body: Any) -> Upload:
        body.setdefault("response_filename", "report.pdf")
        status, data, _ = await self.call(
            f"/rest/v1.1/projects/{project}/uploads", body, company=company
        )
        assert status == 201, data
        return Upload(data["uuid"], data["url"], data["fields"])


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
