"""Run the emulator on loopback in a background thread with its own event loop.

Tests (sync or async, any loop) and benchmarks use `RunningEmulator` and its sync helpers, which
talk to the `/_emulator/` admin endpoints over HTTP rather than reaching into internals.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

from aiohttp import web

from .app import create_app
from .config import EmulatorConfig
from .recording import RECORDING_KEY, Recording
from .state import STATE_KEY
from .streaming import DATA_DIR_KEY

READ_BUFSIZE = 1024 * 1024


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start `app` on host:port (0 = any free port); return the runner and the bound port."""
    # A 1 MiB read buffer keeps the socket busy while the writer thread hashes and writes.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, read_bufsize=READ_BUFSIZE)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound = runner.addresses[0][1]  # (host, port), on asyncio's loop and on uvloop alike
    return runner, int(bound)


class RunningEmulator:
    """An emulator serving on 127.0.0.1 from a background thread; stop() or use as a context.

    `record=True` (or, when not given, `record_by_default`) keeps every API exchange in
    `recording`; the test suite turns the default on and checks the exchanges against Procore's
    contract through `stop_hooks`, which run once per emulator after it stopped serving.
    """

    record_by_default: ClassVar[bool] = False
    stop_hooks: ClassVar[list[Callable[[RunningEmulator], None]]] = []

    def __init__(
        self, config: EmulatorConfig | None = None, *, record: bool | None = None, **overrides: Any
    ) -> None:
        self.config = config or EmulatorConfig(**overrides)
        record = self.record_by_default if record is None else record
        self.app = create_app(self.config, record=record)
        self.recording: Recording | None = self.app[RECORDING_KEY] if record else None
        self._stopped = False
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._thread = threading.Thread(target=self._run, name="bulkupload-emulator", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise RuntimeError(f"emulator failed to start: {self._error}") from self._error
        self.base_url = f"http://{self.config.host}:{self._port}"
        self.login_url = self.base_url
        self.client_id, self.client_secret = next(iter(self.config.clients.items()))
        self.data_dir = str(self.app[DATA_DIR_KEY])

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._runner, self._port = self._loop.run_until_complete(
                start_site(self.app, self.config.host, self.config.port)
            )
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            self._loop.close()
            return
        self._ready.set()
        self._loop.run_forever()
        assert self._runner is not None
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    @property
    def token_url(self) -> str:
        return self.base_url + "/oauth/token"

    @property
    def state(self) -> Any:
        """The live EmulatorState (read-only use from tests; prefer the admin helpers)."""
        return self.app[STATE_KEY]

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        if not self._stopped:
            self._stopped = True
            for hook in list(self.stop_hooks):
                hook(self)

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- sync admin helpers (HTTP over loopback) --------------------------------------------

    def admin_get(self, path: str) -> Any:
        return self._admin("GET", path, None)

    def admin_post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._admin("POST", path, body or {})

    def _admin(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        if not path.startswith("/"):
            path = "/_emulator/" + path
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = self.admin_get("/_emulator/counters")
        return result

    def reset_counters(self) -> dict[str, Any]:
        result: dict[str, Any] = self.admin_post("/_emulator/counters/reset")
        return result

    def uploads(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.admin_get("/_emulator/uploads")
        return result

    def v21_uploads(self) -> list[dict[str, Any]]:
        """Every v2.1 upload (`GET /_emulator/v21-uploads`)."""
        result: list[dict[str, Any]] = self.admin_get("/_emulator/v21-uploads")
        return result

    def pdm_documents(self, project_id: int) -> list[dict[str, Any]]:
        """Document Management containers of a project, each with its revisions in order
        (`GET /_emulator/pdm/documents`)."""
        result: list[dict[str, Any]] = self.admin_get(
            f"/_emulator/pdm/documents?project_id={project_id}"
        )["containers"]
        return result

    def pdm_uploads(self, project_id: int | None = None) -> list[dict[str, Any]]:
        """Every document upload, INCOMPLETE, submitted and deleted ones included
        (`GET /_emulator/pdm/uploads`)."""
        query = "" if project_id is None else f"?project_id={project_id}"
        result: list[dict[str, Any]] = self.admin_get(f"/_emulator/pdm/uploads{query}")
        return result

    def objects(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.admin_get("/_emulator/objects")
        return result

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.admin_post("/_emulator/faults", settings)
        return result

    def expire_uploads(self) -> list[str]:
        result: list[str] = self.admin_post("/_emulator/expire-uploads")["expired"]
        return result

    def advance_clock(self, seconds: float) -> float:
        return float(self.admin_post("/_emulator/clock", {"advance": seconds})["now"])

    def object_path(self, bucket: str, key: str) -> Path | None:
        """Where the bytes of a stored object live on disk (local storage only)."""
        stored = self.state.objects.get((bucket, key))
        return None if stored is None else Path(stored.path)
