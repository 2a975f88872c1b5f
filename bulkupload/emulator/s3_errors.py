"""S3's error answers: the XML body with its code, and `Rejected` to raise one from anywhere in a
storage request (`storage_gate.counted` turns it into the answer)."""

from __future__ import annotations

import os
from xml.sax.saxutils import escape

from aiohttp import web

S3_CODE_KEY: web.ResponseKey[str] = web.ResponseKey("s3_code", str)


def s3_error(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None
) -> web.Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"<RequestId>{os.urandom(8).hex().upper()}</RequestId></Error>"
    )
    response = web.Response(
        status=status, text=body, content_type="application/xml", headers=headers
    )
    response[S3_CODE_KEY] = code
    return response


class Rejected(Exception):
    """Raised anywhere in a storage request to answer with an S3 error."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def reject(status: int, code: str, message: str) -> Rejected:
    return Rejected(s3_error(status, code, message))
