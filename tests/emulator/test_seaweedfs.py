"""`--storage seaweedfs`: the emulator hands out genuine presigned POSTs for a real S3."""

from __future__ import annotations

import hashlib
import socket

import aiohttp
import pytest
from aiohttp import web
from emulator_testkit import Api, post_form, s3_code, serving

from bulkupload.emulator.config import EmulatorConfig
from bulkupload.emulator.core import StoredObject
from bulkupload.emulator.seaweed import head_object
from bulkupload.emulator.server import RunningEmulator


@pytest.fixture
async def seaweed_api(seaweed_emulator: RunningEmulator, http: aiohttp.ClientSession) -> Api:
    client = Api(seaweed_emulator, http)
    await client.login()
    return client


@pytest.mark.seaweedfs
async def test_upload_lands_in_seaweedfs_with_md5_etag(seaweed_api: Api) -> None:
    upload = await seaweed_api.create_upload()
    assert "/s3/" not in upload.url  # the real S3 endpoint, not the emulator's own storage
    data = b"real s3 bytes" * 100
    status, text, headers = await post_form(seaweed_api.session, upload.url, upload.fields, data)
    assert status == 204, text
    md5 = hashlib.md5(data).hexdigest()
    assert headers["ETag"] == f'"{md5}"'
    objects = seaweed_api.emulator.objects()
    assert {
        "bucket": "procore-company-1",
        "key": upload.fields["key"],
        "size": len(data),
        "md5": md5,
    } in objects
    record = next(u for u in seaweed_api.emulator.uploads() if u["uuid"] == upload.uuid)
    assert record["used"] is True


@pytest.mark.seaweedfs
async def test_variant_company_gets_201(seaweed_api: Api) -> None:
    upload = await seaweed_api.create_upload(project=200, company=2)
    status, text, _ = await post_form(seaweed_api.session, upload.url, upload.fields, b"v")
    assert status == 201, text
    assert upload.fields["key"] in text


@pytest.mark.seaweedfs
async def test_seaweedfs_rejects_like_s3(seaweed_api: Api) -> None:
    upload = await seaweed_api.create_upload()
    session = seaweed_api.session
    bad_signature = {**upload.fields, "x-amz-signature": "0" * 64}
    status, text, _ = await post_form(session, upload.url, bad_signature)
    assert (status, s3_code(text)) == (403, "SignatureDoesNotMatch")
    status, text, _ = await post_form(session, upload.url, {**upload.fields, "Content-Type": "x/y"})
    assert (status, s3_code(text)) == (403, "AccessDenied")
    status, text, _ = await post_form(
        session, upload.url, {**upload.fields, "x-amz-meta-extra": "1"}
    )
    assert (status, s3_code(text)) == (403, "AccessDenied")


@pytest.mark.seaweedfs
async def test_attach_looks_up_only_the_upload_it_names(seaweed_api: Api) -> None:
    """Before a file version takes an upload, the emulator asks SeaweedFS for that one object
    (not a listing of the bucket): refused while nothing is stored, taken once it is."""
    first, second = await seaweed_api.create_upload(), await seaweed_api.create_upload()
    attach = seaweed_api.attach
    status, answer = await attach(first.uuid, f"early-{first.uuid}.pdf")
    assert status == 422, answer
    data = b"looked up, not listed"
    for upload in (first, second):
        status_text = await post_form(seaweed_api.session, upload.url, upload.fields, data)
        assert status_text[0] == 204, status_text[1]
    name = f"plan-{first.uuid}.pdf"  # the emulator (and its project) serve the whole session
    status, answer = await attach(first.uuid, name)
    assert status == 201, answer
    uploads = seaweed_api.emulator.state.uploads
    stored = uploads[first.uuid].stored
    assert stored is not None and stored.md5 == hashlib.md5(data).hexdigest()
    assert stored.size == len(data)
    assert uploads[second.uuid].stored is None  # never named, so never looked up
    tree = seaweed_api.emulator.admin_get("/_emulator/documents?project_id=42")
    assert [f["md5"] for f in tree["files"] if f["name"] == name] == [stored.md5]


async def test_a_lookup_storage_cannot_answer_is_procores_published_503() -> None:
    """The HEAD before an attach, against a stand-in for SeaweedFS on loopback: the object,
    its absence, or (anything else, or no answer at all) a 503 for the API call that asked."""
    answers = {
        "found": web.Response(body=b"bytes", headers={"ETag": '"0123abcd"'}),
        "gone": web.Response(status=404),
        "broken": web.Response(status=500),
        "no-etag": web.Response(body=b"bytes"),
    }

    async def head(request: web.Request) -> web.Response:
        return answers[request.match_info["key"]]

    app = web.Application()
    app.router.add_route("HEAD", "/bucket/{key}", head)
    config = EmulatorConfig()
    async with serving(app) as endpoint, aiohttp.ClientSession() as session:
        found = await head_object(session, endpoint, config, "bucket", "found")
        assert found == StoredObject("bucket", "found", 5, "0123abcd", f"{endpoint}/bucket/found")
        assert await head_object(session, endpoint, config, "bucket", "gone") is None
        for key in ("broken", "no-etag"):
            with pytest.raises(web.HTTPServiceUnavailable):
                await head_object(session, endpoint, config, "bucket", key)
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            closed = f"http://127.0.0.1:{unused.getsockname()[1]}"  # bound, not listening
            with pytest.raises(web.HTTPServiceUnavailable):
                await head_object(session, closed, config, "bucket", "found")
