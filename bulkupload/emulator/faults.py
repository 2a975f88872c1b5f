"""How injected faults act (their settings are `config.FaultSettings`): the seeded random that
decides them, one bandwidth cap over every storage connection, a TCP reset mid-request."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time

from aiohttp import web

RANDOM_KEY: web.AppKey[random.Random] = web.AppKey("emulator_random", random.Random)
BANDWIDTH_KEY: web.AppKey[BandwidthCap] = web.AppKey("emulator_bandwidth", object)  # type: ignore[arg-type]


class BandwidthCap:
    """One byte budget shared by every storage connection (bytes per second, None = off)."""

    def __init__(self) -> None:
        self._next_free = 0.0

    async def spend(self, nbytes: int, rate: float | None) -> None:
        if not rate:
            return
        now = time.monotonic()
        start = max(now, self._next_free)
        self._next_free = start + nbytes / rate
        delay = self._next_free - now
        if delay > 0:
            await asyncio.sleep(delay)


def reset_connection(request: web.Request) -> None:
    """Close the socket with SO_LINGER 0 so the client sees a TCP RST mid-body."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
