"""Who calls, in which project's Document Management, with which permissions; reading bodies.

The API middleware has authenticated the caller and checked `Procore-Company-Id` against the
company and project in the path. A project without a Document Management configuration has the
tool off: 403. Permissions (the intro and the guide: "Upload New Files", "Submit New Files") come
from `EmulatorConfig.pdm_permissions`; an identity not listed there holds both.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from aiohttp import web

from bulkupload.emulator.config import CONFIG_KEY, FAULTS_KEY
from bulkupload.emulator.core import Identity
from bulkupload.emulator.faults import RANDOM_KEY
from bulkupload.emulator.state import STATE_KEY

from .errors import bad, forbidden
from .settings import ALL_PERMISSIONS, PdmProject
from .store import PDM_KEY, PdmStore

# Procore's ids are ULIDs; the guide refuses an `id` that is not one (400 INVALID_PROPERTY).
ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
MAX_BATCH = 100  # the guide's batch size for create, update and submit, enforced here


@dataclass(frozen=True, slots=True)
class Call:
    store: PdmStore
    project: PdmProject
    company_id: int
    project_id: int
    client_id: str
    permissions: frozenset[str]

    def require(self, permission: str) -> None:
        """403 unless the caller holds `permission` in the Document Management tool."""
        if permission not in self.permissions:
            raise forbidden(f"The service account lacks {permission!r} on this project.")


def call_of(request: web.Request) -> Call:
    config = request.app[CONFIG_KEY]
    identity: Identity = request["identity"]
    project_id = int(request.match_info["project_id"])
    project = config.pdm_projects.get(project_id)
    if project is None:
        raise forbidden(f"Document Management is not enabled on project {project_id}.")
    permissions = config.pdm_permissions.get(identity.client_id, ALL_PERMISSIONS)
    return Call(
        request.app[PDM_KEY],
        project,
        request["company_id"],
        project_id,
        identity.client_id,
        permissions,
    )


async def body_of(request: web.Request) -> dict[str, object]:
    """The JSON object body, else 400."""
    try:
        body = await request.json() if request.can_read_body else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise bad("The body must be a JSON object.", "body")
    return body


def batch(body: dict[str, object], name: str) -> list[object]:
    """`body[name]`: an array of 1 to `MAX_BATCH` items, else 400."""
    items = body.get(name)
    if not isinstance(items, list) or not items:
        raise bad(f"{name} must be a non-empty array", name)
    if len(items) > MAX_BATCH:
        raise bad(f"{name} takes at most {MAX_BATCH} items per request", name)
    return items


def fault(request: web.Request, name: str) -> bool:
    """Whether the injected fault `name` (a probability in FaultSettings) strikes now."""
    chance = getattr(request.app[FAULTS_KEY], name)
    if not chance or request.app[RANDOM_KEY].random() >= chance:
        return False
    request.app[STATE_KEY].counters.faults_injected[name] += 1
    return True
