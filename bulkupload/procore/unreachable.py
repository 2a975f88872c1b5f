"""A connection that failed before any answer, in plain words: which host, and why.

"DNS lookup failed", "connection refused", "timed out" say what to check; aiohttp's class names
(`ClientConnectorDNSError`) do not. The login host's error says so (`NetworkError.login`), so
the command line can point at `--login-url`.
"""

from __future__ import annotations

import errno
import socket

import aiohttp
from yarl import URL

from bulkupload.errors import NetworkError

__all__ = ["cause_words", "unreachable"]

_ERRNO_WORDS = {
    errno.ECONNREFUSED: "connection refused: nothing listens there",
    errno.ECONNRESET: "connection reset",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "timed out",
}


def cause_words(exc: BaseException) -> str:
    """Why a connection failed, in a few plain words."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "DNS lookup failed: no such host, or no network"
    if isinstance(exc, TimeoutError):  # aiohttp's connect and read timeouts are TimeoutErrors
        return "timed out"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the answer was cut off"
    os_error = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
    if isinstance(os_error, socket.gaierror):
        return "DNS lookup failed: no such host, or no network"
    if isinstance(os_error, OSError) and os_error.errno in _ERRNO_WORDS:
        return _ERRNO_WORDS[os_error.errno]
    if isinstance(os_error, OSError) and os_error.strerror:
        return os_error.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def unreachable(
    url: str | URL, exc: BaseException, *, call: str | None = None, login: bool = False
) -> NetworkError:
    """The error for a request to `url` that got no answer (`call`: which request)."""
    url = URL(str(url))
    origin = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.explicit_port else "")
    what = "the login server " if login else ""
    detail = cause_words(exc) + (f"; {call}" if call else "")
    return NetworkError(f"cannot reach {what}{origin} ({detail})", host=url.host, login=login)
