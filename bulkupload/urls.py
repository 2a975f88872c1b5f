"""The rules every connection bulkupload makes must pass, written once.

One rule for every URL (API base, login server, storage POST, each segment PUT): https, or plain
http only to loopback or with `--allow-http`, checked before any connection. TLS failures are
named as such and never retried: certificate verification is never turned off.
"""

from __future__ import annotations

import ipaddress
import ssl
from urllib.parse import urlsplit

import aiohttp

from bulkupload.errors import InsecureStorage

__all__ = [
    "check_storage_url",
    "is_loopback",
    "tls_failure",
    "url_host",
    "url_refusal",
]


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address: the bytes never leave this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_host(url: str) -> str:
    """The host name of `url` (for messages: never the path or query, which may be signed)."""
    return urlsplit(url).hostname or "?"


def url_refusal(url: str, *, allow_http: bool) -> str | None:
    """Why nothing may be sent to `url`, or None when it may.

    The reason names only the scheme and host: storage URLs carry signatures in their query.
    """
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        return f"not an http(s) URL ({parts.scheme or 'no scheme'}://{host or 'no host'})"
    if parts.scheme == "http" and not allow_http and not is_loopback(host):
        return f"plain http to {host}"
    return None


def check_storage_url(url: str, *, allow_http: bool) -> None:
    """Refuse a storage or segment URL that breaks the rule; raises InsecureStorage (per file)."""
    reason = url_refusal(url, allow_http=allow_http)
    if reason is None:
        return
    host = url_host(url)
    if reason.startswith("plain http"):
        raise InsecureStorage(
            f"refusing to send file bytes over plain http to {host}: use https or --allow-http",
            host=host,
        )
    raise InsecureStorage(f"refusing to send file bytes to {reason}", host=host)


def tls_failure(exc: BaseException, host: str) -> str | None:
    """A one-line message when `exc` is a TLS failure (certificate or handshake), else None."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        detail: object = exc.certificate_error
    elif isinstance(exc, ssl.SSLCertVerificationError | ssl.CertificateError):
        detail = exc
    elif isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return f"TLS handshake with {host} failed: {_one_line(exc)}"
    else:
        return None
    return (
        f"TLS certificate verification failed for {host}: {_one_line(detail)}; "
        "bulkupload never disables verification"
    )


def _one_line(detail: object) -> str:
    if isinstance(detail, ssl.SSLCertVerificationError) and detail.verify_message:
        return str(detail.verify_message)
    # aiohttp's ClientConnectorSSLError is an ssl.SSLError built without `reason`.
    if isinstance(detail, ssl.SSLError) and getattr(detail, "reason", None):
        return str(detail.reason)
    return " ".join(str(detail).split())[:200]
