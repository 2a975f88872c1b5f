"""The v2.1 uploads plugged into an emulator app: API routes, the part PUTs, the admin list."""

from __future__ import annotations

from aiohttp import web

from .admin import add_admin_routes
from .folding import stop_folding
from .handlers import complete_upload, create_upload, show_upload
from .part_urls import PART_ROUTE
from .parts import put_part


def add_unified_routes(app: web.Application) -> None:
    """Register the API routes (project and company level), the part PUTs and the admin list;
    fold jobs in flight end before the app does."""
    company = "companies/{company_id:\\d+}"
    for scope in (company + "/projects/{project_id:\\d+}", company):
        base = f"/rest/v2.1/{scope}/uploads"
        app.router.add_post(base, create_upload)
        app.router.add_get(base + "/{upload_id}", show_upload)
        app.router.add_patch(base + "/{upload_id}", complete_upload)
    app.router.add_put(PART_ROUTE, put_part)
    add_admin_routes(app)
    app.on_shutdown.append(stop_folding)
