"""v2.1 with `--storage seaweedfs`: the parts go to SeaweedFS by its own presigned UploadPart
URLs (an S3 multipart upload), SeaweedFS checks their signature, headers and digests, and the
completing PATCH checks the client's ETags against the parts SeaweedFS holds."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from emulator_testkit import Api, s3_code, serving
from unified_testkit import BIG, Unified, reason_codes
from yarl import URL

from bulkupload.emulator.config import EmulatorConfig
from bulkupload.emulator.seaweed_parts import SeaweedParts, multipart_etag
from bulkupload.emulator.server import RunningEmulator
from bulkupload.emulator.sigv4 import presign_url
from bulkupload.emulator.unified.remote import PartsRefused, RemoteObject

pytestmark = pytest.mark.seaweedfs


@pytest.fixture
async def v21(seaweed_emulator: RunningEmulator, http: aiohttp.ClientSession) -> Unified:
    api = Api(seaweed_emulator, http)
    await api.login()
    return Unified(api)


def record_of(emulator: RunningEmulator, upload_id: str) -> dict[str, Any]:
    return next(u for u in emulator.v21_uploads() if u["upload_id"] == upload_id)


def stored_object(emulator: RunningEmulator, upload_id: str) -> dict[str, Any] | None:
    return next((o for o in emulator.objects() if o["key"] == f"v21/{upload_id}"), None)


async def test_a_part_goes_to_seaweedfs_and_completes_there(v21: Unified) -> None:
    emulator = v21.api.emulator
    data = await v21.start([b"abc"])
    [segment] = data["segments"]
    assert not segment["url"].startswith(emulator.base_url + "/")  # SeaweedFS's gateway
    assert set(segment["headers"]) == {"x-amz-checksum-sha256", "Content-MD5"}
    emulator.reset_counters()
    etags = await v21.send(data, [b"abc"])
    assert etags == [f'"{hashlib.md5(b"abc").hexdigest()}"']
    assert emulator.counters()["storage_requests"] == 0  # the bytes never passed the emulator
    assert stored_object(emulator, data["upload_id"]) is None  # parts are no object yet
    status, done = await v21.patch(data["upload_id"], etags)
    assert (status, done["data"]["status"]) == (200, "available")
    record = record_of(emulator, data["upload_id"])
    assert record["md5"] == hashlib.md5(b"abc").hexdigest()
    assert record["sha256"] == hashlib.sha256(b"abc").hexdigest()
    found = stored_object(emulator, data["upload_id"])
    assert found is not None and found["size"] == 3


async def test_seaweedfs_refuses_parts_like_s3(v21: Unified) -> None:
    data = await v21.start([b"abcd"])
    [segment] = data["segments"]
    status, text, _ = await v21.put(segment, b"abcx")  # the digests signed in are the checks
    assert (status, s3_code(text)) == (400, "BadDigest")
    bare = {"url": segment["url"], "headers": {}}
    status, text, _ = await v21.put(bare, b"abcd")  # the headers are part of the signature
    assert (status, s3_code(text)) == (403, "SignatureDoesNotMatch")
    forged = {**segment, "url": segment["url"].replace("partNumber=1", "partNumber=2")}
    status, text, _ = await v21.put(forged, b"abcd")
    assert (status, s3_code(text)) == (403, "SignatureDoesNotMatch")
    status, _, _ = await v21.put(segment, b"abcd")
    assert status == 200


async def test_the_patch_checks_etags_against_the_parts_seaweedfs_holds(v21: Unified) -> None:
    pieces = [BIG, b"the last part"]
    data = await v21.start(pieces)
    upload_id = data["upload_id"]
    status, text, first = await v21.put(data["segments"][0], BIG)
    assert status == 200, text
    status, answer = await v21.patch(upload_id, [first["ETag"], '"' + "0" * 32 + '"'])
    assert (status, reason_codes(answer)) == (400, ["INVALID_PART"])  # part 2 not received
    status, answer = await v21.patch(upload_id, ['"' + "0" * 32 + '"', None])
    assert (status, reason_codes(answer)) == (400, ["INVALID_PART"])  # not part 1's bytes
    status, answer = await v21.patch(upload_id, [first["ETag"], None])
    assert (status, answer["data"]["status"]) == (200, "receiving")
    status, text, last = await v21.put(data["segments"][1], pieces[1])
    assert status == 200, text
    # Both parts there, the ETags swapped: SeaweedFS refuses to complete; the listing says why.
    status, answer = await v21.patch(upload_id, [last["ETag"], first["ETag"]])
    assert (status, reason_codes(answer)) == (400, ["INVALID_PART", "INVALID_PART"])
    status, answer = await v21.patch(upload_id, [first["ETag"], last["ETag"]])
    assert (status, answer["data"]["status"]) == (200, "available")
    # Two parts: the whole file's digests Create gave were read back from SeaweedFS.
    whole = b"".join(pieces)
    record = record_of(v21.api.emulator, upload_id)
    assert record["md5"] == hashlib.md5(whole).hexdigest()
    assert record["sha256"] == hashlib.sha256(whole).hexdigest()
    found = stored_object(v21.api.emulator, upload_id)
    assert found is not None and found["size"] == len(whole)


async def test_a_whole_file_digest_that_does_not_match_fails_the_upload(v21: Unified) -> None:
    pieces = [BIG, b"tail"]
    data = await v21.start(pieces, sha256="0" * 64)
    etags = await v21.send(data, pieces)
    status, answer = await v21.patch(data["upload_id"], etags)
    assert (status, answer["data"]["status"]) == (200, "failed")
    status, shown = await v21.status(data["upload_id"])
    assert shown["data"]["error"]["type"] == "checksum_mismatch"
    # Its bytes are of no use: the object goes from SeaweedFS (in the background).
    for _ in range(100):
        if stored_object(v21.api.emulator, data["upload_id"]) is None:
            break
        await asyncio.sleep(0.05)
    assert stored_object(v21.api.emulator, data["upload_id"]) is None


async def test_status_renews_urls_seaweedfs_takes(v21: Unified) -> None:
    data = await v21.start([b"renewed"])
    status, shown = await v21.status(data["upload_id"], "?url_expires_in=60")
    assert status == 200, shown
    [segment] = shown["data"]["segments"]
    assert "X-Amz-Expires=60" in segment["url"]
    status, text, _ = await v21.put(segment, b"renewed")
    assert status == 200, text


class StandIn:
    """A loopback S3 answering every call with one status (a HEAD: `head_etag`, if set)."""

    def __init__(self, status: int, head_etag: str | None = None) -> None:
        self.status, self.head_etag, self.seen = status, head_etag, list[str]()

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(f"{request.method} {request.path_qs}")
        if request.method == "HEAD" and self.head_etag is not None:
            return web.Response(status=200, headers={"ETag": f'"{self.head_etag}"'})
        return web.Response(status=self.status, body=b"<Error><Code>InternalError</Code></Error>")


@contextlib.asynccontextmanager
async def stand_in_parts(stand_in: StandIn) -> AsyncIterator[SeaweedParts]:
    """SeaweedParts talking to `stand_in` on loopback."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", stand_in.handle)
    async with serving(app) as endpoint, aiohttp.ClientSession() as session:
        yield SeaweedParts(session, endpoint, EmulatorConfig())


REMOTE = RemoteObject("procore-company-1", "v21/x", "s3+id/1")


@pytest.mark.parametrize("status", [500, 404])
async def test_storage_trouble_is_procores_published_503(status: int) -> None:
    """Any answer but the one asked for is a 503; only a refusal to complete (400, 404: parts
    missing or not matching) is the client's ETags' fault, and a listing S3 no longer has
    (404: completed or aborted) holds no parts."""
    stand_in = StandIn(status)
    async with stand_in_parts(stand_in) as parts:
        begin = parts.begin(1, "v21/x", {"Content-Type": "application/pdf"})
        for call in (begin, parts.digests(REMOTE, ("md5",))):
            with pytest.raises(web.HTTPServiceUnavailable):
                await call
        if status == 404:
            assert await parts.etags(REMOTE) == {}
        else:
            with pytest.raises(web.HTTPServiceUnavailable):
                await parts.etags(REMOTE)
        refusal = PartsRefused if status == 404 else web.HTTPServiceUnavailable
        with pytest.raises(refusal):
            await parts.finish(REMOTE, ["0" * 32])
    # A 404 to the completion: whether an earlier one completed it after all (a HEAD).
    lost_answer = ["HEAD /procore-company-1/v21/x"] if status == 404 else []
    assert [seen.split("?")[0] for seen in stand_in.seen] == [
        "POST /procore-company-1/v21/x",
        "GET /procore-company-1/v21/x",
        "GET /procore-company-1/v21/x",
        "POST /procore-company-1/v21/x",
        *lost_answer,
    ]
    # The upload id is one query value, whatever it holds (a `+` is no space).
    assert URL(stand_in.seen[2]).query["uploadId"] == "s3+id/1"


async def test_a_404_to_completion_is_success_when_the_object_is_from_those_parts() -> None:
    etags = ["0" * 32, "1" * 32]
    async with stand_in_parts(StandIn(404, head_etag=multipart_etag(etags))) as parts:
        await parts.finish(REMOTE, etags)  # an S3 that answers a repeat with 404
        with pytest.raises(PartsRefused):
            await parts.finish(REMOTE, etags[::-1])


async def test_discarding_an_upload_not_known_complete_aborts_and_deletes() -> None:
    stand_in = StandIn(204)
    async with stand_in_parts(stand_in) as parts:
        parts.discard(REMOTE, completed=False)
        parts.discard(REMOTE, completed=True)
        await asyncio.gather(*parts.background)
    deleted = sorted(
        (URL(seen).path, URL(seen).query.get("uploadId", "")) for seen in stand_in.seen
    )
    assert deleted == [
        ("DELETE /procore-company-1/v21/x", ""),
        ("DELETE /procore-company-1/v21/x", ""),
        ("DELETE /procore-company-1/v21/x", "s3+id/1"),
    ]


async def test_a_completion_whose_answer_was_lost_is_not_refused(v21: Unified) -> None:
    """S3 completed the upload, but its answer never came back: calling again with the same
    ETags finds the object completed from them (SeaweedFS answers 200 again; an S3 answering
    404 is asked for the object); other ETags are refused."""
    data = await v21.start([b"lost answer"])
    endpoint = str(URL(data["segments"][0]["url"]).origin())
    parts = SeaweedParts(v21.api.session, endpoint, EmulatorConfig())
    remote = await parts.begin(1, f"v21/lost-{data['upload_id']}", {})
    url = parts.part_url(remote, 1, {}, 600)
    async with v21.api.session.put(url, data=b"lost answer") as response:
        assert response.status == 200, await response.text()
        etag = response.headers["ETag"].strip('"')
    await parts.finish(remote, [etag])
    await parts.finish(remote, [etag])  # the retry of a lost answer
    with pytest.raises(PartsRefused):
        await parts.finish(remote, ["0" * 32])


async def test_an_expired_part_url_is_refused_by_seaweedfs(v21: Unified) -> None:
    data = await v21.start([b"late"])
    [segment] = data["segments"]
    config = EmulatorConfig()
    url = URL(segment["url"])
    unsigned = str(
        url.with_query({k: v for k, v in url.query.items() if k in ("partNumber", "uploadId")})
    )
    expired = presign_url(
        "PUT",
        unsigned,
        headers=segment["headers"],
        access_key=config.access_key,
        secret_key=config.secret_key,
        region=config.region,
        now=time.time() - 120,
        expires_in=60,
    )
    status, text, _ = await v21.put({**segment, "url": expired}, b"late")
    assert (status, s3_code(text)) == (403, "AccessDenied")
