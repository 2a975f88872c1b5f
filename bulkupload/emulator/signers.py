"""How Create Upload signs for storage: a `Signer` at `app[SIGNER_KEY]`, the emulator's own S3
by default (`local_signer`); `seaweed` swaps in one for SeaweedFS."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from .config import CompanyConfig, EmulatorConfig
from .sigv4 import PostRequest, presigned_post

# The storage side of Create Upload: returns (url, fields) for a signed POST. Swapped for SeaweedFS.
Signer = Callable[[web.Request, CompanyConfig, PostRequest, float], tuple[str, dict[str, str]]]
SIGNER_KEY: web.AppKey[Signer] = web.AppKey("emulator_signer", object)  # type: ignore[arg-type]


def local_signer(config: EmulatorConfig) -> Signer:
    """Sign for the emulator's own storage at `{origin}/s3/{bucket}`."""

    def sign(
        request: web.Request, company: CompanyConfig, post: PostRequest, now: float
    ) -> tuple[str, dict[str, str]]:
        session = company.variant
        fields = presigned_post(
            post,
            access_key=config.session_access_key if session else config.access_key,
            secret_key=config.session_secret_key if session else config.secret_key,
            session_token=config.session_token if session else None,
            region=config.region,
            now=now,
            expires_in=config.upload_lifetime,
        )
        return f"{request.url.origin()}/s3/{company.bucket}", fields

    return sign
