"""`/_emulator/pdm/...`: what tests look at and no public answer shows.

- `GET /_emulator/pdm/documents?project_id=P`: the project's containers, each with its revisions
  in version order: revision id, version, the upload it came from, file name, MIME type, the v2.1
  upload id and its object's md5 and size, who submitted it, its workflow state, and its
  metadata as people read it (`{field name: label}`, a list for `lov_entries`) with each
  field's `label_source`.
- `GET /_emulator/pdm/uploads[?project_id=P]`: every document upload ever created (INCOMPLETE
  orphans, submitted and deleted ones included: `state` live / submitted / expired), with its
  status, integration statuses, latest event id, metadata, linked file and its md5.
- `GET /_emulator/pdm/config`: each project's configuration (fields and values with their ids,
  requirements, naming standard, workflow) and the identities' permissions.
"""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from bulkupload.emulator.config import CONFIG_KEY
from bulkupload.emulator.state import STATE_KEY
from bulkupload.emulator.unified.folding import fill_digests

from .model import DocumentUpload, FieldValue
from .settings import ALL_PERMISSIONS, PdmProject
from .store import PDM_KEY
from .values import labels
from .views import iso


def _project_id(request: web.Request, *, required: bool) -> int | None:
    raw = request.query.get("project_id")
    if raw is None and not required:
        return None
    if raw is None or not raw.isdigit():
        raise web.HTTPBadRequest(text='{"errors": "project_id is required"}')
    return int(raw)


def metadata(project: PdmProject, held: dict[str, FieldValue]) -> dict[str, object]:
    """`{"metadata": {name: label or [labels]}, "sources": {name: label_source}}` of the
    fields holding something (a value or a recorded source)."""
    shown: dict[str, object] = {}
    sources: dict[str, str] = {}
    for field in (*project.system_fields, *project.fields):
        value = held.get(field.id)
        if value is None:
            continue
        sources[field.name] = value.source
        if value.values:
            read = labels(field, value.values)
            shown[field.name] = read if field.type == "lov_entries" else read[0]
    return {"metadata": shown, "sources": sources}


def _file(request: web.Request, file_upload_id: str | None) -> dict[str, object]:
    found = request.app[STATE_KEY].unified.uploads.get(file_upload_id or "")
    stored = None if found is None else found.stored
    return {
        "file_upload_id": file_upload_id,
        "md5": stored.md5 if stored else None,
        "size": stored.size if stored else None,
    }


async def documents(request: web.Request) -> web.Response:
    await fill_digests(request.app[STATE_KEY].unified)
    project_id = _project_id(request, required=True)
    store = request.app[PDM_KEY]
    project = store.projects.get(project_id or 0)
    containers = []
    for container in store.containers.values():
        if container.project_id != project_id or project is None:
            continue
        revisions = [
            {
                "id": revision.id,
                "version": revision.version,
                "upload_id": revision.upload_id,
                "file_name": revision.file_name,
                "mime_type": revision.mime_type,
                **_file(request, revision.file_upload_id),
                "submitted_by": revision.submitted_by,
                "created": iso(revision.created),
                "workflow": revision.workflow,
                "termination_reason": revision.termination_reason,
                **metadata(project, revision.fields),
            }
            for revision in container.revisions
        ]
        containers.append(
            {"id": container.id, "match_criteria": container.match_criteria, "revisions": revisions}
        )
    return web.json_response({"project_id": project_id, "containers": containers})


def _upload_json(request: web.Request, upload: DocumentUpload) -> dict[str, object]:
    project = request.app[PDM_KEY].projects[upload.project_id]
    return {
        "id": upload.id,
        "company_id": upload.company_id,
        "project_id": upload.project_id,
        "owner": upload.owner,
        "state": upload.state,
        "upload_status": upload.status,
        "file_name": upload.file_name,
        "mime_type": upload.mime_type,
        "file_locked": upload.file_locked,
        "created": iso(upload.created),
        "latest_event_id": upload.event_id,
        "integration_statuses": {"ml": upload.ml, "filename_scraping": upload.scraping},
        "revision_id": upload.revision_id,
        **_file(request, upload.file_upload_id),
        **metadata(project, upload.fields),
    }


async def uploads(request: web.Request) -> web.Response:
    await fill_digests(request.app[STATE_KEY].unified)
    project_id = _project_id(request, required=False)
    store = request.app[PDM_KEY]
    store.sweep()
    found = []
    for upload in store.uploads.values():  # in creation order
        if project_id is None or upload.project_id == project_id:
            if upload.state == "live":
                store.catch_up(upload)
            found.append(_upload_json(request, upload))
    return web.json_response(found)


async def configuration(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    permissions = {
        client: sorted(config.pdm_permissions.get(client, ALL_PERMISSIONS))
        for client in config.clients
    }
    return web.json_response(
        {
            "projects": {str(p): asdict(setup) for p, setup in config.pdm_projects.items()},
            "permissions": permissions,
            "processing": {
                "reads": config.pdm_processing_reads,
                "seconds": config.pdm_processing_seconds,
            },
        }
    )


def add_admin_routes(app: web.Application) -> None:
    app.router.add_get("/_emulator/pdm/documents", documents)
    app.router.add_get("/_emulator/pdm/uploads", uploads)
    app.router.add_get("/_emulator/pdm/config", configuration)
