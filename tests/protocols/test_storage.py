"""Storage answers mean the same whichever protocol sent the bytes; TLS failures are not retried."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bulkupload.errors import InsecureStorage, PolicyExpired, StorageError, StorageUnavailable
from bulkupload.messages import Planned
from bulkupload.protocols import V1Segmented, storage_receipt
from tests.protocols.conftest import MIB, TARGET, FakeProcore, run_against, write_file

MD5 = "9e107d9d372bb6826bd81d3542a419d6"


def error(code: str, message: str) -> bytes:
    return f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()


@pytest.mark.parametrize(
    "message",
    [
        "Invalid according to Policy: Policy expired.",  # a POST policy
        "Request has expired",  # a presigned PUT
    ],
)
def test_one_expired_rule_for_post_and_put(message: str) -> None:
    with pytest.raises(PolicyExpired) as info:
        storage_receipt(403, {}, error("AccessDenied", message), MD5)
    assert (info.value.code, info.value.message) == ("AccessDenied", message)


def test_other_refusals_and_outages() -> None:
    with pytest.raises(StorageError) as refused:
        storage_receipt(403, {}, error("SignatureDoesNotMatch", "The signature &amp; all"), MD5)
    assert type(refused.value) is StorageError
    assert refused.value.code == "SignatureDoesNotMatch"
    assert refused.value.message == "The signature & all"
    with pytest.raises(StorageUnavailable) as busy:
        storage_receipt(503, {"Retry-After": "7"}, b"<html>\n  busy\n</html>", MD5)
    assert (busy.value.code, busy.value.message, busy.value.retry_after) == (
        "ServiceUnavailable",
        "<html> busy </html>",
        7.0,
    )
    with pytest.raises(StorageError, match="HTTP411"):
        storage_receipt(411, {}, b"", MD5)


def test_an_etag_that_is_an_md5_must_be_ours() -> None:
    assert storage_receipt(204, {"ETag": f'"{MD5.upper()}"'}, b"", MD5).etag == MD5.upper()
    assert storage_receipt(200, {"ETag": '"abc-3"'}, b"", MD5).etag == "abc-3"
    assert storage_receipt(201, {}, b"", MD5).etag is None
    with pytest.raises(StorageError, match=f"BadDigest: storage stored MD5 {'0' * 32}, we sent"):
        storage_receipt(204, {"ETag": '"' + "0" * 32 + '"'}, b"", MD5)


@pytest.fixture(scope="module")
def untrusted_tls(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1 (trusted by nobody)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    where = tmp_path_factory.mktemp("tls")
    key, cert = where / "key.pem", where / "cert.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
async def self_signed_storage(
    untrusted_tls: ssl.SSLContext,
) -> AsyncIterator[tuple[str, list[str]]]:
    """An https storage host on 127.0.0.1 with that certificate; `hits` lists the requests
    that got past the handshake."""
    hits: list[str] = []

    async def anything(request: web.Request) -> web.Response:
        hits.append(request.method)
        return web.Response(headers={"ETag": '"x"'})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=untrusted_tls)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}", hits
    finally:
        await runner.cleanup()


async def test_a_certificate_that_does_not_verify_fails_the_segment_at_once(
    self_signed_storage: tuple[str, list[str]], fake: FakeProcore, tmp_path: Path
) -> None:
    """Through the segmented protocol, so a PUT meets the same mapping as a POST."""
    fake.storage_origin, hits = self_signed_storage
    entry = write_file(tmp_path / "big.bin", 3 * MIB)
    async with run_against(fake.url, retries=3) as run:
        protocol = V1Segmented(run.transport, TARGET, threshold=0, segment_size=2 * MIB)
        ticket = await protocol.prepare(Planned(entry, None, "now"))
        with pytest.raises(InsecureStorage, match="TLS certificate verification failed"):
            await protocol.send(ticket, run.meter())
    assert hits == []  # nothing got past the handshake
    assert run.recorder.retries("part") == 0  # never retried
    assert run.recorder.bytes_counted == 0
