"""A bare v2.1 Unified File Uploads client over real HTTP, enough to drive the emulator in tests."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from emulator_testkit import Api

PROJECT = "/rest/v2.1/companies/1/projects/42/uploads"
COMPANY = "/rest/v2.1/companies/1/uploads"
MIB = 1024 * 1024
FLOOR = 5 * MIB  # every part but the last must be larger than this
BIG = bytes(range(256)) * (FLOOR // 256) + b"+"  # the smallest part allowed before another


def describe(data: bytes, *, md5: bool = True) -> dict[str, Any]:
    """A segment of Create's body for these bytes."""
    segment: dict[str, Any] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    if md5:
        segment["md5"] = hashlib.md5(data).hexdigest()
    return segment


def create_body(pieces: list[bytes], name: str = "plan.pdf", **extra: Any) -> dict[str, Any]:
    """Create's body for a file cut into `pieces`, with the whole file's digests."""
    whole = b"".join(pieces)
    body: dict[str, Any] = {
        "file_name": name,
        "file_size": len(whole),
        "content_type": "application/pdf",
        "sha256": hashlib.sha256(whole).hexdigest(),
        "md5": hashlib.md5(whole).hexdigest(),
        "segments": [describe(piece) for piece in pieces],
    }
    body.update(extra)
    return body


def reason_codes(body: Mapping[str, Any]) -> list[str]:
    return [item["reason_code"] for item in body["error"]["details"]]


class Unified:
    """Create, PUT, PATCH and GET v2.1 uploads as one identity, at one scope (`base`)."""

    def __init__(self, api: Api, base: str = PROJECT) -> None:
        self.api, self.base = api, base

    async def create(self, body: dict[str, Any]) -> tuple[int, Any]:
        status, answer, _ = await self.api.call(self.base, body)
        return status, answer

    async def start(self, pieces: list[bytes], **extra: Any) -> dict[str, Any]:
        """Create an upload of `pieces`; its `data`."""
        status, answer = await self.create(create_body(pieces, **extra))
        assert status == 201, answer
        data: dict[str, Any] = answer["data"]
        return data

    async def put(
        self, segment: Mapping[str, Any], data: bytes, **extra: str
    ) -> tuple[int, str, Any]:
        """PUT `data` to the segment's URL with exactly its headers (plus `extra`)."""
        headers = {**segment["headers"], **extra}
        async with self.api.session.put(segment["url"], data=data, headers=headers) as response:
            return response.status, await response.text(), response.headers

    async def send(self, data: dict[str, Any], pieces: list[bytes]) -> list[str]:
        """PUT every piece; the ETags answered, in order."""
        etags = []
        for segment, piece in zip(data["segments"], pieces, strict=True):
            status, text, headers = await self.put(segment, piece)
            assert status == 200, text
            etags.append(headers["ETag"])
        return etags

    async def patch(self, upload_id: str, part_etags: list[str | None]) -> tuple[int, Any]:
        status, answer, _ = await self.api.call_method(
            "PATCH", f"{self.base}/{upload_id}", {"part_etags": part_etags}
        )
        return status, answer

    async def status(self, upload_id: str, query: str = "") -> tuple[int, Any]:
        status, answer, _ = await self.api.get(f"{self.base}/{upload_id}{query}")
        return status, answer
