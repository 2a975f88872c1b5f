"""Procore's Document Management (PDM) integration API, as its contract and the
`procore/documentation` pages `document_management_integration/*.md` publish it.

Routes, under `/rest/v2.0/companies/{c}/projects/{p}/document_management/`:
`GET upload_requirements`, `GET fields`, `GET fields/{field_id_or_name}/values` (paginated);
`POST document_uploads` (create, all-or-nothing, not idempotent); `PATCH document_uploads` (207,
per item); `GET document_uploads` and `GET document_uploads/{id}` (also under `/rest/v2.1/`);
`POST document_revisions` (also v2.1); and v2.2 `POST document_uploads/selected_uploads`.
Each module's docstring says which source it follows and what it chose where the sources are
silent or disagree: `catalog` (configuration endpoints), `uploads` (create and reads),
`updates` (PATCH), `submit` (revisions), `processing` (ML, filename scraping), `rules`
(requirement rules, match criteria), `values` (field values), `errors` (refusals), `paging`.

What a project is set up with is `settings` (types) and `defaults` (the emulator's three
projects and the identities lacking a permission). The store (`store`) keeps uploads,
containers and revisions and applies time: a new `latest_event_id` on each change, ML and
scraping finishing after `pdm_processing_reads` reads or `pdm_processing_seconds`, deletion of
uploads left unsubmitted 24 h after creation. Linking a v2.1 upload sets its `associated_to`.
`admin` serves `/_emulator/pdm/documents`, `/_emulator/pdm/uploads` and `/_emulator/pdm/config`.

This package's top level exports only the configuration data, so `EmulatorConfig` can use it
without an import cycle; `routes.add_pdm_routes` plugs the rest into an app.
"""

from __future__ import annotations

from .defaults import DEFAULT_PDM_PERMISSIONS, PDM_CLIENTS, default_pdm_projects, project_setup
from .settings import (
    ALL_PERMISSIONS,
    SUBMIT_NEW_FILES,
    UPLOAD_NEW_FILES,
    NamingStandard,
    PdmField,
    PdmProject,
    PdmValue,
    Qualifier,
    Requirement,
    Workflow,
)

__all__ = [
    "ALL_PERMISSIONS",
    "DEFAULT_PDM_PERMISSIONS",
    "PDM_CLIENTS",
    "SUBMIT_NEW_FILES",
    "UPLOAD_NEW_FILES",
    "NamingStandard",
    "PdmField",
    "PdmProject",
    "PdmValue",
    "Qualifier",
    "Requirement",
    "Workflow",
    "default_pdm_projects",
    "project_setup",
]
