"""Assemble the emulator: state, config, API (v1 and v2.1 uploads) + Documents + Document
Management + storage + admin."""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from .admin import add_admin_routes
from .aiohttp_parsers import install as install_fast_parsers
from .api import API_STATE_KEY, ApiState, add_api_routes, api_middleware
from .config import CONFIG_KEY, FAULTS_KEY, EmulatorConfig
from .documents.routes import add_documents_routes
from .faults import BANDWIDTH_KEY, RANDOM_KEY, BandwidthCap
from .pdm.routes import add_pdm_routes
from .post_object import add_post_object_routes
from .recording import RECORDING_KEY, Recording, recording_middleware
from .segments import add_segment_routes
from .signers import SIGNER_KEY, local_signer
from .state import STATE_KEY, EmulatorState
from .streaming import DATA_DIR_KEY
from .unified.routes import add_unified_routes


def create_app(config: EmulatorConfig | None = None, *, record: bool = False) -> web.Application:
    """A ready-to-run emulator application (SeaweedFS, when configured, starts with the app).

    `record=True` keeps every API exchange in `app[RECORDING_KEY]` (see `recording`); the
    recorder sits outside the API middleware so it sees the final answers, 401/429/5xx included.
    """
    config = config or EmulatorConfig()
    install_fast_parsers()
    middlewares = [recording_middleware, api_middleware] if record else [api_middleware]
    app = web.Application(middlewares=middlewares)
    if record:
        app[RECORDING_KEY] = Recording()
    app[CONFIG_KEY] = config
    app[STATE_KEY] = EmulatorState()
    app[FAULTS_KEY] = config.initial_faults()
    app[API_STATE_KEY] = ApiState()
    app[RANDOM_KEY] = random.Random(config.seed)
    app[BANDWIDTH_KEY] = BandwidthCap()
    app[SIGNER_KEY] = local_signer(config)
    if config.data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="bulkupload-emulator-"))
        app.on_cleanup.append(_remover(data_dir))
    else:
        data_dir = Path(config.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
    app[DATA_DIR_KEY] = data_dir
    add_api_routes(app)
    add_documents_routes(app)
    add_post_object_routes(app)
    add_segment_routes(app)
    add_unified_routes(app)
    add_pdm_routes(app)
    add_admin_routes(app)
    if config.storage == "seaweedfs":
        from .seaweed import attach_seaweedfs

        attach_seaweedfs(app)
    return app


def _remover(path: Path) -> Callable[[web.Application], Awaitable[None]]:
    async def remove(app: web.Application) -> None:
        shutil.rmtree(path, ignore_errors=True)

    return remove
