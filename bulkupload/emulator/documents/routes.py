"""The Documents tool plugged into an emulator app: its routes and admin controls on the app,
its store on the `EmulatorState` (the `documents` field)."""

from __future__ import annotations

from aiohttp import web

from bulkupload.emulator.config import CONFIG_KEY
from bulkupload.emulator.state import EmulatorState

from .admin import add_admin_routes
from .handlers import add_public_routes
from .listing import add_listing_routes
from .refusals import REFUSALS_KEY, RefusalForms
from .store import DocumentsStore


def documents_store(state: EmulatorState) -> DocumentsStore:
    """The `DocumentsStore` of `state` (its `documents` field)."""
    return state.documents


def sweep_unattached(state: EmulatorState) -> int:
    """Delete week-old unattached uploads now (handlers also sweep lazily before attaching)."""
    return state.documents.sweep()


def add_documents_routes(app: web.Application) -> None:
    """Register the Documents routes (project and company level) and `/_emulator/documents...`."""
    config = app.get(CONFIG_KEY)
    app[REFUSALS_KEY] = RefusalForms(None if config is None else config.seed)
    add_public_routes(app)
    add_listing_routes(app)
    add_admin_routes(app)
