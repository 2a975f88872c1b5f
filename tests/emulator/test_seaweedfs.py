"""`--storage seaweedfs`: the emulator hands out genuine presigned POSTs for a real S3."""

from __future__ import annotations

import hashlib

import aiohttp
import pytest
from emulator_testkit import Api, post_form, s3_code

from bulkupload.emulator.server import RunningEmulator

pytestmark = pytest.mark.seaweedfs


@pytest.fixture
async def seaweed_api(seaweed_emulator: RunningEmulator, http: aiohttp.ClientSession) -> Api:
    client = Api(seaweed_emulator, http)
    await client.login()
    return client


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


async def test_variant_company_gets_201(seaweed_api: Api) -> None:
    upload = await seaweed_api.create_upload(project=200, company=2)
    status, text, _ = await post_form(seaweed_api.session, upload.url, upload.fields, b"v")
    assert status == 201, text
    assert upload.fields["key"] in text


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


async def test_attach_looks_up_only_the_upload_it_names(seaweed_api: Api) -> None:
    """Before a file version takes an upload, the emulator asks SeaweedFS for that one object
    (not a listing of the bucket): refused while nothing is stored, taken once it is."""
    first, second = await seaweed_api.create_upload(), await seaweed_api.create_upload()

    async def attach(uuid: str, name: str) -> tuple[int, object]:
        form = aiohttp.FormData(default_to_multipart=True)
        form.add_field("file[name]", name)
        form.add_field("file[upload_uuid]", uuid)
        async with seaweed_api.session.post(
            seaweed_api.emulator.base_url + "/rest/v1.0/files",
            data=form,
            params={"project_id": "42"},
            headers=seaweed_api.headers(),
        ) as response:
            return response.status, await response.json()

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
