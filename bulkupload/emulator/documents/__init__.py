"""The emulated Documents tool: folders, files and file versions built from Direct File Uploads.

It answers only what Procore publishes (the contract's File, file version, Folder and
documents-listing shapes; no upload uuid or hash in any public answer) and is strict where
Procore is strict: upload ownership by identity, uploads for the same project/company, one
attachment per upload, unattached uploads deleted after a week (410), sibling names unique
(``unique_name`` renames "name (1).ext"), checked-out files (409 on file PATCH, published)
and read-only items. Where Procore publishes no status or wording (a sibling-name clash, an
upload already attached, a checked-out file outside file PATCH, a read-only item), the answer
takes one of several forms (see `refusals`), drawn from a `random.Random` seeded by the
emulator's `seed`.

Public routes (project level with ``?project_id=P``; company level under
``/rest/v1.0/companies/{C}``): ``GET|POST /folders``, ``GET|PATCH /folders/{id}``,
``POST /files``, ``GET|PATCH /files/{id}``, ``POST /file_versions?file_id=F``, and
``GET /rest/v1.0/projects/{P}/documents`` / ``GET /rest/v1.0/companies/{C}/documents``.
Writes take multipart/form-data or urlencoded forms (``file[name]``, ``file[upload_uuid]``,
``file_version[notes]``...) or JSON (``{"file": {...}}``).

Admin controls (JSON bodies; "P"/"C" pick the space: ``"project_id": P`` or ``"company_id": C``):

- ``GET /_emulator/documents?project_id=P|company_id=C``: the tree, with each file's md5 and
  each version's ``{number, size, md5, upload_uuid}`` (what no public answer shows).
- ``GET /_emulator/documents/clash-forms``: ``{"pinned", "count", "forms": [{"form": k,
  "answers": {kind: {"status", "body"}}}]}`` for kinds name_taken, already_attached,
  checked_out, read_only.
- ``POST /_emulator/documents/clash-form`` ``{"form": k}`` pins form k for every such refusal;
  ``{"form": null}`` goes back to random forms.
- ``POST /_emulator/documents/checkout`` ``{P|C, "file_id": F, "until": unix_seconds|null,
  "by": client_id?}``: the file is checked out until then (by another user, or by identity
  ``by``); null releases it. A file PATCH with ``file[checked_out_until]`` checks it out to
  the caller (an empty value releases it).
- ``POST /_emulator/documents/read-only`` ``{P|C, "folder_id": D | "file_id": F,
  "read_only": true|false}``: a read-only folder makes its whole subtree read-only.

`routes.add_documents_routes` registers all of it on an app. This package's top level holds only
the data and rules (no `EmulatorState`), so the state can build its store without an import cycle.
"""

from __future__ import annotations

from .model import (
    Checkout,
    DocFile,
    DocFolder,
    FileChanges,
    FileVersion,
    Refused,
    Rejected,
    SpaceKey,
    User,
)
from .refusals import FORM_COUNT, REFUSALS_KEY, RefusalForms
from .store import DocumentsStore

__all__ = [
    "FORM_COUNT",
    "REFUSALS_KEY",
    "Checkout",
    "DocFile",
    "DocFolder",
    "DocumentsStore",
    "FileChanges",
    "FileVersion",
    "RefusalForms",
    "Refused",
    "Rejected",
    "SpaceKey",
    "User",
]
