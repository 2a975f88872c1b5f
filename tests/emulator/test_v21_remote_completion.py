"""The completing PATCH of a v2.1 upload whose parts a real S3 holds (`unified.remote`), driven
in-process against an S3 stand-in (`FakeParts`) that can hold, refuse or fail each call: one
completion at a time, the status shown as before until S3 has completed, and no upload left
`scanning` for good."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from aiohttp import web

from bulkupload.emulator.app import create_app
from bulkupload.emulator.config import EmulatorConfig
from bulkupload.emulator.core import PartSpec
from bulkupload.emulator.state import STATE_KEY
from bulkupload.emulator.unified.completion import accept_etags
from bulkupload.emulator.unified.model import Part, UnifiedUpload
from bulkupload.emulator.unified.remote import PartsRefused, RemoteObject

DATA = [b"first part", b"second part"]
ETAGS = [hashlib.md5(piece).hexdigest() for piece in DATA]


class FakeParts:
    """An S3 holding both parts of one upload; `gate` holds `finish` until set."""

    def __init__(self) -> None:
        self.held = dict(enumerate(ETAGS, start=1))
        self.finished: list[list[str]] = []
        self.discarded: list[bool] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.finish_fails = False
        self.digests_fail: BaseException | None = None

    async def begin(self, company_id: int, key: str, headers: dict[str, str]) -> RemoteObject:
        return RemoteObject("bucket", key, "s3-id")

    def object_url(self, remote: RemoteObject) -> str:
        return f"http://127.0.0.1:1/{remote.key}"

    def part_url(
        self, remote: RemoteObject, number: int, headers: dict[str, str], expires_in: int
    ) -> str:
        return f"http://127.0.0.1:1/{remote.key}?partNumber={number}"

    async def etags(self, remote: RemoteObject) -> dict[int, str]:
        return dict(self.held)

    async def finish(self, remote: RemoteObject, etags: list[str]) -> None:
        await self.gate.wait()
        if self.finish_fails:
            raise web.HTTPServiceUnavailable()
        if [self.held.get(n) for n in range(1, len(etags) + 1)] != etags:
            raise PartsRefused("InvalidPart")
        self.finished.append(etags)

    async def digests(self, remote: RemoteObject, names: tuple[str, ...]) -> dict[str, str]:
        if self.digests_fail is not None:
            raise self.digests_fail
        whole = b"".join(DATA)
        return {name: hashlib.new(name, whole).hexdigest() for name in names}

    def discard(self, remote: RemoteObject, *, completed: bool) -> None:
        self.discarded.append(completed)


@pytest.fixture
def app() -> web.Application:
    return create_app(EmulatorConfig())


def new_upload(app: web.Application, fake: FakeParts, *, whole_md5: bool = False) -> UnifiedUpload:
    store = app[STATE_KEY].unified
    store.remote = fake
    specs = [PartSpec(len(p), hashlib.sha256(p).hexdigest(), None) for p in DATA]
    upload = UnifiedUpload(
        upload_id="01TEST",
        owner="client",
        company_id=1,
        project_id=42,
        created=store.clock.now(),
        expires_at=int(store.clock.now()) + 86400,
        file_name="plan.pdf",
        file_size=sum(map(len, DATA)),
        content_type="application/pdf",
        uploader_tool_name=None,
        custom_metadata={},
        sha256=None,
        md5=hashlib.md5(b"".join(DATA)).hexdigest() if whole_md5 else None,
        parts=[Part(spec) for spec in specs],
        remote=RemoteObject("bucket", "v21/01TEST", "s3-id"),
    )
    store.add(upload)
    return upload


async def test_a_second_patch_waits_for_the_completion_in_flight(app: web.Application) -> None:
    fake = FakeParts()
    upload = new_upload(app, fake)
    fake.gate.clear()
    first = asyncio.create_task(accept_etags(app, upload, [f'"{e}"' for e in ETAGS]))
    second = asyncio.create_task(accept_etags(app, upload, list[str | None](ETAGS)))
    await asyncio.sleep(0)
    assert upload.status == "ready"  # shown as before until S3 has completed
    assert upload.completing is not None
    fake.gate.set()
    assert await first == [] and await second == []
    assert fake.finished == [ETAGS]  # completed once
    assert (upload.status, upload.completing) == ("available", None)


async def test_a_patch_after_a_refusal_tries_its_own_etags(app: web.Application) -> None:
    fake = FakeParts()
    upload = new_upload(app, fake)
    fake.gate.clear()
    wrong = asyncio.create_task(accept_etags(app, upload, list[str | None](ETAGS[::-1])))
    right = asyncio.create_task(accept_etags(app, upload, list[str | None](ETAGS)))
    await asyncio.sleep(0)
    fake.gate.set()
    problems = await wrong
    assert [p["reason_code"] for p in problems] == ["INVALID_PART", "INVALID_PART"]
    assert await right == []
    assert fake.finished == [ETAGS] and upload.status == "available"


async def test_storage_failing_the_completion_leaves_the_upload_open(
    app: web.Application,
) -> None:
    fake = FakeParts()
    upload = new_upload(app, fake)
    fake.finish_fails = True
    with pytest.raises(web.HTTPServiceUnavailable):
        await accept_etags(app, upload, list[str | None](ETAGS))
    assert (upload.status, upload.completing) == ("ready", None)
    fake.finish_fails = False
    assert await accept_etags(app, upload, list[str | None](ETAGS)) == []
    assert upload.status == "available"


@pytest.mark.parametrize(
    "trouble", [web.HTTPServiceUnavailable(), OSError("gone"), asyncio.CancelledError()]
)
async def test_digests_that_cannot_be_read_back_fail_it_retryably(
    app: web.Application, trouble: BaseException
) -> None:
    fake = FakeParts()
    upload = new_upload(app, fake, whole_md5=True)  # a file of two parts: read back to check
    fake.digests_fail = trouble
    if isinstance(trouble, Exception):
        assert await accept_etags(app, upload, list[str | None](ETAGS)) == []
    else:  # cancelled (shutting down): the cancellation goes on up
        with pytest.raises(asyncio.CancelledError):
            await accept_etags(app, upload, list[str | None](ETAGS))
    assert upload.status == "failed"  # not `scanning` for good
    assert upload.error is not None and upload.error.retryable
    assert fake.discarded == [True]  # the object S3 completed goes


async def held_completion(
    app: web.Application,
) -> tuple[FakeParts, UnifiedUpload, asyncio.Task[list[dict[str, str]]]]:
    """An upload whose completing PATCH is in flight, S3 holding its answer (`gate`)."""
    fake = FakeParts()
    upload = new_upload(app, fake)
    fake.gate.clear()
    patch = asyncio.create_task(accept_etags(app, upload, list[str | None](ETAGS)))
    await asyncio.sleep(0)
    return fake, upload, patch


async def test_a_waiting_patch_cancelled_leaves_the_completion_alone(
    app: web.Application,
) -> None:
    fake, upload, first = await held_completion(app)
    waiting = asyncio.create_task(accept_etags(app, upload, list[str | None](ETAGS)))
    await asyncio.sleep(0)
    waiting.cancel()  # its client went away
    with pytest.raises(asyncio.CancelledError):
        await waiting
    fake.gate.set()
    assert await first == []
    assert upload.status == "available"


async def test_an_upload_deleted_while_s3_completes_it_loses_the_object(
    app: web.Application,
) -> None:
    fake, upload, patch = await held_completion(app)
    store = app[STATE_KEY].unified
    del store.uploads[upload.upload_id]  # as its deadline's sweep does
    fake.gate.set()
    assert await patch == []
    assert fake.discarded == [True]


async def test_a_count_mismatch_asks_storage_nothing(app: web.Application) -> None:
    fake = FakeParts()
    upload = new_upload(app, fake)
    fake.gate.clear()  # a call to finish would hang
    problems = await asyncio.wait_for(accept_etags(app, upload, [ETAGS[0]]), 1)
    assert [p["reason_code"] for p in problems] == ["PART_COUNT_MISMATCH"]
