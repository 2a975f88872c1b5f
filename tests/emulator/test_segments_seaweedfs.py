"""v1.1 segmented uploads with `--storage seaweedfs`: the segments go to SeaweedFS by its own
presigned UploadPart URLs (an S3 multipart upload the emulator starts at Create), SeaweedFS
checks their signature, headers and digests, and the completing PATCH has SeaweedFS complete
the object from the client's ETags, naming the segment it refuses."""

from __future__ import annotations

import hashlib
from typing import Any

import aiohttp
import pytest
from emulator_testkit import Api, s3_code
from unified_testkit import BIG
from yarl import URL

from bulkupload.emulator.config import EmulatorConfig
from bulkupload.emulator.seaweed_parts import SeaweedParts, multipart_etag
from bulkupload.emulator.server import RunningEmulator
from bulkupload.emulator.unified.remote import RemoteObject

pytestmark = pytest.mark.seaweedfs

UPLOADS = "/rest/v1.1/projects/42/uploads"


@pytest.fixture
async def api(seaweed_emulator: RunningEmulator, http: aiohttp.ClientSession) -> Api:
    client = Api(seaweed_emulator, http)
    await client.login()
    return client


def describe(data: bytes) -> dict[str, Any]:
    return {
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
    }


async def create(api: Api, pieces: list[bytes]) -> dict[str, Any]:
    body = {"response_filename": "model.ifc", "segments": [describe(p) for p in pieces]}
    status, answer, _ = await api.call(UPLOADS, body)
    assert status == 201, answer
    return answer  # type: ignore[no-any-return]


async def put(api: Api, segment: dict[str, Any], data: bytes) -> tuple[int, str, str]:
    async with api.session.put(segment["url"], data=data, headers=segment["headers"]) as response:
        return response.status, await response.text(), response.headers.get("ETag", "")


async def patch(api: Api, uuid: str, etags: list[str]) -> tuple[int, Any]:
    body = {"segments": [{"etag": etag} for etag in etags]}
    status, answer, _ = await api.call_method("PATCH", f"{UPLOADS}/{uuid}", body)
    return status, answer


def held(api: Api, key: str) -> dict[str, Any] | None:
    return next((o for o in api.emulator.objects() if o["key"] == key), None)


async def test_segments_go_to_seaweedfs_and_complete_there(api: Api) -> None:
    pieces = [BIG, b"the last segment"]
    answer = await create(api, pieces)
    uuid = answer["uuid"]
    key = api.emulator.state.uploads[uuid].key
    for segment in answer["segments"]:
        assert not segment["url"].startswith(api.emulator.base_url + "/")  # SeaweedFS's gateway
        assert set(segment["headers"]) == {"x-amz-checksum-sha256", "Content-MD5"}
    api.emulator.reset_counters()
    etags = []
    for segment, data in zip(answer["segments"], pieces, strict=True):
        status, text, etag = await put(api, segment, data)
        assert status == 200, text
        assert etag == f'"{hashlib.md5(data).hexdigest()}"'
        etags.append(etag)
    assert api.emulator.counters()["storage_requests"] == 0  # the bytes never passed the emulator
    assert held(api, key) is None  # segments are no object yet
    status, shown, _ = await api.get(f"{UPLOADS}/{uuid}")
    assert (status, [s.get("etag") for s in shown["segments"]]) == (
        200,
        [e.strip('"') for e in etags],
    )
    assert shown["status"] == "ready"
    status, done = await patch(api, uuid, etags)
    assert (status, done["status"]) == (200, "complete"), done
    found = held(api, key)
    made = multipart_etag([e.strip('"') for e in etags])
    assert found is not None and (found["size"], found["md5"]) == (sum(map(len, pieces)), made)
    # Once complete, a file version takes it (the attach looks the object up in SeaweedFS).
    status, filed = await api.attach(uuid, f"model-{uuid}.ifc")
    assert status == 201, filed


async def test_seaweedfs_refuses_segments_like_s3(api: Api) -> None:
    answer = await create(api, [b"abcd"])
    [segment] = answer["segments"]
    status, text, _ = await put(api, segment, b"abcx")  # the digests signed in are the checks
    assert (status, s3_code(text)) == (400, "BadDigest")
    status, text, _ = await put(api, {**segment, "headers": {}}, b"abcd")  # signed headers
    assert (status, s3_code(text)) == (403, "SignatureDoesNotMatch")
    status, text, _ = await put(api, segment, b"abcd")
    assert status == 200, text


async def test_the_patch_names_the_segment_seaweedfs_refuses(api: Api) -> None:
    pieces = [BIG, b"tail"]
    answer = await create(api, pieces)
    uuid = answer["uuid"]
    status, text, first = await put(api, answer["segments"][0], BIG)
    assert status == 200, text
    wrong = '"' + "0" * 32 + '"'
    status, refused = await patch(api, uuid, [first, wrong])
    assert (status, refused["errors"]) == (422, "Segment 2: has not been uploaded."), refused
    status, text, last = await put(api, answer["segments"][1], pieces[1])
    assert status == 200, text
    status, refused = await patch(api, uuid, [wrong, last])
    assert status == 422 and "Segment 1: ETag does not match" in refused["errors"], refused
    status, refused = await patch(api, uuid, [last, first])  # swapped
    assert status == 422 and "Segment 1: ETag does not match" in refused["errors"], refused
    status, done = await patch(api, uuid, [first, last])
    assert (status, done["status"]) == (200, "complete"), done
    status, again = await patch(api, uuid, [first, last])  # repeated: the same answer
    assert (status, again) == (200, done)
    status, refused = await patch(api, uuid, [wrong, last])  # complete: still checked
    assert status == 422 and "Segment 1: ETag does not match" in refused["errors"], refused


async def test_a_completion_whose_answer_was_lost_completes_again(api: Api) -> None:
    """SeaweedFS completed the object (here out of band, as if the PATCH's answer was lost)
    and a listing told the emulator it is stored: a PATCH with the same ETags completes, one
    with other ETags is refused."""
    answer = await create(api, [b"lost answer"])
    uuid = answer["uuid"]
    [segment] = answer["segments"]
    status, text, etag = await put(api, segment, b"lost answer")
    assert status == 200, text
    url = URL(segment["url"])
    parts = SeaweedParts(api.session, str(url.origin()), EmulatorConfig())
    bucket, _, key = url.path.lstrip("/").partition("/")
    await parts.finish(RemoteObject(bucket, key, url.query["uploadId"]), [etag.strip('"')])
    assert held(api, key) is not None  # the listing sets the upload's stored object
    assert api.emulator.state.uploads[uuid].stored is not None
    status, refused = await patch(api, uuid, ['"' + "0" * 32 + '"'])
    assert (status, refused["errors"]) == (
        422,
        "The ETags do not match the segments storage completed.",
    ), refused  # not "has not been uploaded": S3 lists no parts of a completed upload
    status, done = await patch(api, uuid, [etag])
    assert (status, done["status"]) == (200, "complete"), done
