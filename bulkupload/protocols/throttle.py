"""`--bwlimit`: every storage body of a run shares one budget of bytes per second.

A leaky bucket from `aiolimiter` (it refills continuously; a tenth of a second of traffic may
go at once), taken chunk by chunk before each write: the connections together never average
more than the rate, whatever the concurrency, and a body waits only for its own bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiolimiter import AsyncLimiter

__all__ = ["Bandwidth"]

BURST = 0.1  # seconds of traffic that may go at once


class Bandwidth:
    """`rate` bytes per second for all storage traffic of a run."""

    def __init__(self, rate: int) -> None:
        if rate < 1:
            raise ValueError("a bandwidth must be at least one byte per second")
        self.rate = rate
        from aiolimiter import AsyncLimiter  # here: most runs set no limit (start-up time)

        self._limiter: AsyncLimiter = AsyncLimiter(max(rate * BURST, 1.0), BURST)

    async def take(self, n: int) -> None:
        """Wait until `n` more bytes may go (in pieces: a chunk may exceed one burst)."""
        most = self._limiter.max_rate
        while n > 0:
            piece = min(float(n), most)
            await self._limiter.acquire(piece)
            n -= int(piece)
