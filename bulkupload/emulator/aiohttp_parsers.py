"""Faster header parsing for the emulator's multipart forms (aiohttp 3.14, server side only).

Profiled with 2,000 attached files, two of aiohttp's parsers took a third of the emulator's CPU,
which slows every client sharing the machine:

- `multipart.parse_content_disposition` rebuilds a 128-character escaped regex class on every
  call (a default argument of a function it defines per call): 27 %. Form parts repeat the same
  headers (`form-data; name="key"`, ...), so each parse is kept.
- `helpers.parse_content_type` runs the `email` package's parser (0.4 ms a call); its cache
  never hits for multipart bodies, whose boundary is new each time. The usual form,
  `type/subtype; boundary=...`, is read directly; anything else goes to aiohttp's parser.
"""

from __future__ import annotations

import functools
import re
from types import MappingProxyType

from aiohttp import helpers, multipart

__all__ = ["install"]

_disposition = multipart.parse_content_disposition
_content_type = helpers.parse_content_type
# RFC 2046 boundary characters (quoted, or the token subset); a type and subtype as tokens.
_SIMPLE = re.compile(
    r"([A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+)\s*;\s*boundary="
    r"(?:\"([0-9A-Za-z'()+_,./:=? -]{1,70})\"|([0-9A-Za-z'+_.-]{1,70}))\s*"
)


@functools.lru_cache(maxsize=4096)
def _parsed_disposition(header: str | None) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    disptype, params = _disposition(header)
    return disptype, tuple(params.items())


def parse_content_disposition(header: str | None) -> tuple[str | None, dict[str, str]]:
    disptype, params = _parsed_disposition(header)
    return disptype, dict(params)  # a fresh dict: callers may change theirs


def parse_content_type(raw: str) -> tuple[str, MappingProxyType[str, str]]:
    match = _SIMPLE.fullmatch(raw)
    if match is None:
        return _content_type(raw)
    mime, quoted, token = match.groups()
    return mime.lower(), MappingProxyType({"boundary": quoted if quoted is not None else token})


def install() -> None:
    """Route aiohttp's readers through these (idempotent)."""
    multipart.parse_content_disposition = parse_content_disposition
    helpers.parse_content_type = parse_content_type  # type: ignore[assignment]  # was lru-cached
