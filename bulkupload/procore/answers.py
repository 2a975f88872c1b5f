"""Answers read with a size cap, so a broken or hostile server cannot make a run buffer more.

Every API answer is at most `MAX_ANSWER_BYTES`: the memory an answer can take is then bounded by
that cap times the requests in flight (the connector's limit), whatever a server sends.
"""

from __future__ import annotations

import aiohttp

__all__ = ["MAX_ANSWER_BYTES", "MAX_STORAGE_ANSWER_BYTES", "read_capped"]

#: Procore's largest answers (a folder listing with thousands of files) stay well below this.
MAX_ANSWER_BYTES = 8 << 20
#: Storage answers are empty or a short XML document; only an error message is read from them.
MAX_STORAGE_ANSWER_BYTES = 64 << 10

_CHUNK = 64 << 10


async def read_capped(resp: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """The answer's body and whether it was complete; at most `limit` bytes are ever held.

    An answer that declares more than `limit` (Content-Length) is not read at all; one without a
    length is read in chunks and dropped at the first byte past `limit` (a short prefix is kept
    for an error message). Leaving the rest unread makes aiohttp close that connection.
    """
    declared = resp.content_length
    if declared is not None and declared > limit:
        return b"", False
    # A list of chunks, not a growing bytearray: no over-allocation past the cap.
    chunks: list[bytes] = []
    held = 0
    while True:
        chunk = await resp.content.read(min(_CHUNK, limit + 1 - held))
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        held += len(chunk)
        if held > limit:
            return chunks[0][:_CHUNK], False
