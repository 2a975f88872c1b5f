"""What every storage request (POST Object, segment and v2.1 part PUTs) goes through around its
own work: counting, injected faults, and the checks S3 makes before reading any body."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from .config import CONFIG_KEY, FAULTS_KEY
from .faults import RANDOM_KEY
from .s3_errors import S3_CODE_KEY, Rejected, reject, s3_error
from .state import STATE_KEY

StorageHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def counted(handler: StorageHandler) -> StorageHandler:
    """Count a storage request and its outcome; turn `Rejected` into its S3 error answer."""

    async def run(request: web.Request) -> web.StreamResponse:
        counters = request.app[STATE_KEY].counters
        counters.storage_requests += 1
        counters.storage_in_flight += 1
        counters.storage_peak_in_flight = max(
            counters.storage_peak_in_flight, counters.storage_in_flight
        )
        try:
            response = await handler(request)
        except Rejected as rejected:
            response = rejected.response
        except ConnectionResetError:
            # The injected reset already closed the socket: nothing will reach the client.
            return web.Response(status=500)
        finally:
            counters.storage_in_flight -= 1
        if response.status < 300:
            counters.storage_success += 1
        else:
            counters.storage_errors[response.get(S3_CODE_KEY, str(response.status))] += 1
        return response

    return run


async def storage_prelude(request: web.Request) -> web.Response | None:
    """Checks and faults shared by every storage request; a Response ends the request."""
    app = request.app
    state, faults, rng = app[STATE_KEY], app[FAULTS_KEY], app[RANDOM_KEY]
    counters = state.counters
    if "Authorization" in request.headers:
        counters.storage_authorization_headers += 1
        raise reject(
            400,
            "InvalidArgument",
            # S3's own words for a presigned request that also carries an Authorization header.
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified",
        )
    if faults.storage_latency:
        await asyncio.sleep(faults.storage_latency)
    if faults.storage_clock_step:
        state.clock.advance(faults.storage_clock_step)
    if faults.storage_5xx and rng.random() < faults.storage_5xx:
        counters.faults_injected["storage_5xx"] += 1
        status, code = rng.choice(((500, "InternalError"), (503, "SlowDown")))
        return s3_error(
            status,
            code,
            "Injected fault: please retry.",
            headers={"Retry-After": str(faults.retry_after)},
        )
    if request.headers.get("Transfer-Encoding", "").lower() == "chunked" or (
        request.content_length is None
    ):
        raise reject(
            411, "MissingContentLength", "You must provide the Content-Length HTTP header."
        )
    return None


def known_bucket(request: web.Request) -> str:
    """The bucket the S3 path names, when it is one of the companies' (else 404 NoSuchBucket)."""
    bucket = request.match_info["bucket"]
    if bucket not in {company.bucket for company in request.app[CONFIG_KEY].companies}:
        raise reject(404, "NoSuchBucket", "The specified bucket does not exist.")
    return bucket
