"""Document Management plugged into an emulator app: its store, its API routes (the v2.0 ones,
and the v2.1 and v2.2 ones the contract publishes), its refusals in the API middleware, and the
admin views."""

from __future__ import annotations

from aiohttp import web

from bulkupload.emulator.api import add_refuser
from bulkupload.emulator.config import CONFIG_KEY
from bulkupload.emulator.state import STATE_KEY

from .admin import add_admin_routes
from .catalog import list_fields, list_requirements, list_values
from .errors import PDM_PATHS, answers, pdm_refusal
from .store import PDM_KEY, PdmStore, Timing
from .submit import create_revisions
from .updates import update_uploads
from .uploads import create_uploads, list_uploads, selected_uploads, show_upload

BASE = (
    r"/rest/{version}/companies/{{company_id:\d+}}/projects/{{project_id:\d+}}/document_management"
)


def add_pdm_routes(app: web.Application) -> None:
    config = app[CONFIG_KEY]
    timing = Timing(config.pdm_processing_reads, config.pdm_processing_seconds)
    app[PDM_KEY] = PdmStore(app[STATE_KEY].clock, config.pdm_projects, timing)
    add_refuser(app, PDM_PATHS, pdm_refusal)
    v20, v21, v22 = (BASE.format(version=v) for v in ("v2.0", "v2.1", "v2.2"))
    router = app.router
    router.add_get(f"{v20}/upload_requirements", answers(list_requirements))
    router.add_get(f"{v20}/fields", answers(list_fields))
    router.add_get(v20 + "/fields/{field_id_or_name}/values", answers(list_values))
    router.add_post(f"{v20}/document_uploads", answers(create_uploads))
    router.add_patch(f"{v20}/document_uploads", answers(update_uploads))
    for base in (v20, v21):
        router.add_get(f"{base}/document_uploads", answers(list_uploads))
        router.add_get(base + "/document_uploads/{document_upload_id}", answers(show_upload))
        router.add_post(f"{base}/document_revisions", answers(create_revisions))
    router.add_post(f"{v22}/document_uploads/selected_uploads", answers(selected_uploads))
    add_admin_routes(app)
