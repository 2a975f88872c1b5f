"""The emulator's own S3: success answers and every rejection, with S3 error codes, over HTTP."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from emulator_testkit import Api, form, post_form, s3_code

from bulkupload.emulator.server import RunningEmulator


async def test_success_204_etag_and_bytes_on_disk(api: Api) -> None:
    upload = await api.create_upload()
    data = b"some bytes \x00\xff" * 1000
    status, text, headers = await post_form(api.session, upload.url, upload.fields, data)
    assert status == 204, text
    md5 = hashlib.md5(data).hexdigest()
    assert headers["ETag"] == f'"{md5}"'
    [record] = api.emulator.uploads()
    assert record["used"] is True
    assert record["md5"] == md5
    [stored] = api.emulator.objects()
    assert stored == {
        "bucket": "procore-company-1",
        "key": upload.fields["key"],
        "size": len(data),
        "md5": md5,
    }
    path = api.emulator.object_path(stored["bucket"], stored["key"])
    assert path is not None
    assert path.read_bytes() == data
    assert str(path).startswith(api.emulator.data_dir)
    found = api.emulator.state.find_upload(upload.uuid)
    assert found.stored.md5 == md5


async def test_variant_company_gets_201_post_response(api: Api) -> None:
    upload = await api.create_upload(project=200, company=2)
    status, text, headers = await post_form(api.session, upload.url, upload.fields, b"abc")
    assert status == 201
    assert "<PostResponse>" in text
    assert f"<Key>{upload.fields['key']}</Key>" in text
    assert headers["ETag"] == f'"{hashlib.md5(b"abc").hexdigest()}"'


async def test_empty_file_is_accepted(api: Api) -> None:
    upload = await api.create_upload()
    status, _, headers = await post_form(api.session, upload.url, upload.fields, b"")
    assert status == 204
    assert headers["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'


async def test_signature_does_not_match(api: Api) -> None:
    upload = await api.create_upload()
    fields = {**upload.fields, "x-amz-signature": "0" * 64}
    status, text, _ = await post_form(api.session, upload.url, fields)
    assert (status, s3_code(text)) == (403, "SignatureDoesNotMatch")


async def test_policy_expired_after_upload_lifetime(api: Api) -> None:
    upload = await api.create_upload()
    api.emulator.advance_clock(3601)
    status, text, _ = await post_form(api.session, upload.url, upload.fields)
    assert (status, s3_code(text)) == (403, "AccessDenied")
    assert "Invalid according to Policy: Policy expired." in text


async def test_upload_lifetime_of_one_second(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    emulator = make_emulator(upload_lifetime=1)
    api = Api(emulator, http)
    await api.login()
    upload = await api.create_upload()
    emulator.advance_clock(1.1)  # the emulator's clock, not a real wait
    status, text, _ = await post_form(http, upload.url, upload.fields)
    assert status == 403
    assert "Policy expired" in text


async def test_expire_every_outstanding_upload_now(api: Api) -> None:
    used = await api.create_upload()
    assert (await post_form(api.session, used.url, used.fields))[0] == 204
    outstanding = await api.create_upload()
    assert api.emulator.expire_uploads() == [outstanding.uuid]
    status, text, _ = await post_form(api.session, outstanding.url, outstanding.fields)
    assert (status, s3_code(text)) == (403, "AccessDenied")
    assert "Policy expired" in text


async def test_unmet_condition(api: Api) -> None:
    upload = await api.create_upload()
    for name, value in (("Content-Type", "image/png"), ("key", "uploads/elsewhere")):
        status, text, _ = await post_form(api.session, upload.url, {**upload.fields, name: value})
        assert (status, s3_code(text)) == (403, "AccessDenied")
        assert "Invalid according to Policy: Policy Condition failed" in text
    other_bucket = upload.url.replace("procore-company-1", "procore-company-2")
    status, text, _ = await post_form(api.session, other_bucket, upload.fields)
    assert (status, s3_code(text)) == (403, "AccessDenied")


async def test_extra_field_rejected_but_x_ignore_allowed(api: Api) -> None:
    upload = await api.create_upload()
    status, text, _ = await post_form(
        api.session, upload.url, {**upload.fields, "acl": "public-read"}
    )
    assert (status, s3_code(text)) == (403, "AccessDenied")
    assert "Extra input fields: acl" in text
    status, _, _ = await post_form(
        api.session, upload.url, {"x-ignore-note": "hi", **upload.fields}
    )
    assert status == 204


async def test_file_not_last_and_missing_file(api: Api) -> None:
    upload = await api.create_upload()
    status, text, _ = await post_form(api.session, upload.url, upload.fields, file_last=False)
    assert (status, s3_code(text)) == (400, "InvalidArgument")
    status, text, _ = await post_form(api.session, upload.url, upload.fields, None)
    assert (status, s3_code(text)) == (400, "InvalidArgument")
    assert api.emulator.objects() == []


async def test_chunked_body_gets_411(api: Api) -> None:
    upload = await api.create_upload()
    body, content_type = form(upload.fields, b"x" * 1000)

    async def chunks() -> AsyncIterator[bytes]:
        yield body

    async with api.session.post(
        upload.url, data=chunks(), headers={"Content-Type": content_type}
    ) as response:
        assert response.status == 411
        assert s3_code(await response.text()) == "MissingContentLength"


async def test_size_outside_content_length_range(api: Api) -> None:
    upload = await api.create_upload(size=10)
    status, text, _ = await post_form(api.session, upload.url, upload.fields, b"x" * 11)
    assert (status, s3_code(text)) == (400, "EntityTooLarge")
    status, text, _ = await post_form(api.session, upload.url, upload.fields, b"x" * 9)
    assert (status, s3_code(text)) == (400, "EntityTooSmall")
    status, _, _ = await post_form(api.session, upload.url, upload.fields, b"x" * 10)
    assert status == 204


async def test_authorization_header_rejected_and_recorded(api: Api) -> None:
    upload = await api.create_upload()
    status, text, _ = await post_form(
        api.session, upload.url, upload.fields, headers={"Authorization": f"Bearer {api.token}"}
    )
    assert (status, s3_code(text)) == (400, "InvalidArgument")
    counters = api.emulator.counters()
    assert counters["storage_authorization_headers"] == 1
    assert counters["storage_requests"] == 1
    assert counters["storage_success"] == 0
    assert counters["storage_errors"] == {"InvalidArgument": 1}


async def test_unknown_bucket(api: Api) -> None:
    upload = await api.create_upload()
    url = upload.url.replace("procore-company-1", "nope")
    status, text, _ = await post_form(api.session, url, upload.fields)
    assert (status, s3_code(text)) == (404, "NoSuchBucket")


async def test_botocore_presigned_post_is_accepted(
    emulator: RunningEmulator, http: aiohttp.ClientSession
) -> None:
    botocore_session = pytest.importorskip("botocore.session")
    from botocore.config import Config

    session = botocore_session.get_session()
    config = emulator.config
    client = session.create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url=emulator.base_url + "/s3",
        aws_access_key_id=config.access_key,
        aws_secret_access_key=config.secret_key,
        config=Config(signature_version="s3v4"),
    )
    post = client.generate_presigned_post(
        "procore-company-1",
        "botocore/${filename}",
        Fields={"Content-Type": "text/plain"},
        Conditions=[{"Content-Type": "text/plain"}, ["content-length-range", 1, 1000]],
        ExpiresIn=300,
    )
    client.close()
    assert post["url"].endswith("/s3/procore-company-1")
    status, text, _headers = await post_form(http, post["url"], post["fields"], b"from botocore")
    assert status == 204, text
    assert {
        "bucket": "procore-company-1",
        "key": "botocore/blob.bin",
        "size": 13,
        "md5": hashlib.md5(b"from botocore").hexdigest(),
    } in emulator.objects()


async def test_storage_5xx_fault_with_retry_after(api: Api) -> None:
    upload = await api.create_upload()
    api.emulator.set_faults(storage_5xx=1.0)
    status, text, headers = await post_form(api.session, upload.url, upload.fields)
    assert status in (500, 503)
    assert s3_code(text) in ("InternalError", "SlowDown")
    assert headers["Retry-After"] == "1"
    api.emulator.set_faults(storage_5xx=0.0)
    assert (await post_form(api.session, upload.url, upload.fields))[0] == 204
    assert api.emulator.counters()["faults_injected"] == {"storage_5xx": 1}


async def test_connection_reset_partway_through_the_body(api: Api) -> None:
    upload = await api.create_upload()
    api.emulator.set_faults(reset=1.0)
    with pytest.raises(aiohttp.ClientError):
        await post_form(api.session, upload.url, upload.fields, b"z" * (4 * 1024 * 1024))
    api.emulator.set_faults(reset=0.0)
    assert api.emulator.counters()["faults_injected"] == {"reset": 1}
    assert api.emulator.objects() == []
    assert list((Path(api.emulator.data_dir) / "tmp").iterdir()) == []
    status, _, _ = await post_form(api.session, upload.url, upload.fields, b"z" * 1024)
    assert status == 204


async def test_storage_latency_and_bandwidth(api: Api) -> None:
    upload = await api.create_upload()
    api.emulator.set_faults(storage_latency=0.2)
    started = time.monotonic()
    assert (await post_form(api.session, upload.url, upload.fields))[0] == 204
    assert time.monotonic() - started >= 0.2
    api.emulator.set_faults(storage_latency=0.0, storage_bandwidth=2 * 1024 * 1024)
    started = time.monotonic()
    data = b"b" * (3 * 1024 * 1024)
    assert (await post_form(api.session, upload.url, upload.fields, data))[0] == 204
    assert time.monotonic() - started >= 0.9
