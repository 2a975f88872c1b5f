"""The two HTTP sessions of a run: one for Procore's API, one for storage that never carries
credentials. TLS verification stays on (aiohttp's default verifying context) in both."""

from __future__ import annotations

import aiohttp

__all__ = ["make_api_session", "make_storage_session"]


def make_api_session(in_flight: int) -> aiohttp.ClientSession:
    """A session for Procore's API, sized for `in_flight` requests at once.

    TLS verification stays on (aiohttp's default verifying context); no default headers
    (the client adds auth per request). Answers in flight: at most (in_flight + 4) ×
    `MAX_ANSWER_BYTES`.
    """
    return _make_session(in_flight)


def make_storage_session(concurrency: int) -> aiohttp.ClientSession:
    """A session for the storage host: never carries Procore credentials."""
    return _make_session(concurrency)


def _make_session(concurrency: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=concurrency + 4, limit_per_host=concurrency + 4)
    # No total timeout: it would count time queued for a connection and kill long uploads.
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, raise_for_status=False)
