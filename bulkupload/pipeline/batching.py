"""Batches from a stream: what arrives within a short linger goes together (one transaction,
one thread hand-off, one API call for a batching destination), never more than `size`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

__all__ = ["batched"]

T = TypeVar("T")


async def batched(
    stream: MemoryObjectReceiveStream[T], size: int, linger: float
) -> AsyncIterator[list[T]]:
    """Yield lists of at most `size` items: the first item waits as long as it takes, the rest
    of its batch at most `linger` seconds. Ends when the stream does."""
    while True:
        try:
            batch = [await stream.receive()]
        except anyio.EndOfStream:
            return
        ended = False
        if size > 1:
            with anyio.move_on_after(linger):
                while len(batch) < size:
                    try:
                        batch.append(await stream.receive())
                    except anyio.EndOfStream:
                        ended = True
                        break
        yield batch
        if ended:
            return
