"""The emulator's fast header parsers answer exactly as aiohttp's own."""

from __future__ import annotations

import pytest

from bulkupload.emulator import aiohttp_parsers as fast

# aiohttp's own parsers, as they were before `install` (which other tests' emulators call).
AIOHTTP_CONTENT_TYPE = fast._content_type
AIOHTTP_DISPOSITION = fast._disposition

CONTENT_TYPES = [
    "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
    "multipart/form-data;boundary=abc",
    'multipart/form-data; boundary="a b:c=d"',
    "Multipart/Form-Data; boundary=AbC",
    "multipart/form-data; boundary=abc; charset=utf-8",
    "multipart/form-data; boundary=",
    "multipart/form-data; boundary=" + "x" * 71,
    "application/json",
    "text/plain; charset=utf-8",
    "not a type",
    "",
]

DISPOSITIONS = [
    'form-data; name="key"',
    'form-data; name="file"; filename="a b.pdf"',
    "form-data; name=\"file\"; filename*=UTF-8''%E2%82%AC.pdf",
    "attachment",
    None,
    "",
]


@pytest.mark.parametrize("raw", CONTENT_TYPES)
def test_content_type_as_aiohttp(raw: str) -> None:
    mime, params = fast.parse_content_type(raw)
    want_mime, want_params = AIOHTTP_CONTENT_TYPE(raw)
    assert (mime, dict(params)) == (want_mime, dict(want_params))


@pytest.mark.parametrize("header", DISPOSITIONS)
def test_content_disposition_as_aiohttp_and_a_fresh_dict_each_time(header: str | None) -> None:
    first = fast.parse_content_disposition(header)
    assert first == AIOHTTP_DISPOSITION(header)
    first[1]["changed"] = "by a caller"
    assert "changed" not in fast.parse_content_disposition(header)[1]
