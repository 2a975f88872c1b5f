"""A proxy in front of the emulator, for tests that need Procore to misbehave in ways the
emulator never does (answers lost at a chosen moment, shapes nobody publishes)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import aiohttp
from aiohttp import web

from bulkupload.emulator.server import start_site

# Given the request and the emulator's answer (status, body), the answer to send instead, or
# None to pass the emulator's on; `before` may answer without asking the emulator at all.
Rewrite = Callable[[web.Request, int, bytes], web.StreamResponse | None]
Intercept = Callable[[web.Request], web.StreamResponse | None]

_HOP = {"host", "content-length", "transfer-encoding", "connection"}


class Proxy:
    """Forwards every request to `upstream` from a thread of its own; `url` is where to point
    the client. `before` and `after` change what the client sees."""

    def __init__(
        self, upstream: str, *, before: Intercept | None = None, after: Rewrite | None = None
    ) -> None:
        self.upstream = upstream
        self.before, self.after = before, after
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._started.wait()
        self.url = f"http://127.0.0.1:{self._port}"

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._session = self._loop.run_until_complete(self._open_session())
        self._runner, self._port = self._loop.run_until_complete(start_site(app, "127.0.0.1", 0))
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.run_until_complete(self._session.close())
        self._loop.close()

    async def _open_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        if self.before is not None and (early := self.before(request)) is not None:
            return early
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=await request.read(),
        ) as answer:
            body = await answer.read()
            back = {
                k: v
                for k, v in answer.headers.items()
                if k.lower() not in _HOP | {"content-encoding", "date", "server"}
            }
        if self.after is not None and (instead := self.after(request, answer.status, body)):
            return instead
        return web.Response(status=answer.status, body=body, headers=back)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
