"""The Documents routes, project and company level: folders, files, file versions.

Each handler reads the request (`params`), asks the store, and answers with a `views` shape.
A `Rejected` becomes its fixed answer, a `Refused` one of the varied forms (`refusals`).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from bulkupload.emulator.core import Identity
from bulkupload.emulator.state import STATE_KEY

from . import params, refusals
from .model import FileChanges, Refused, Rejected, SpaceKey, rejected
from .refusals import REFUSALS_KEY
from .store import DocumentsStore
from .views import Shown, conflict_file_json, file_json, folder_json, version_json

Handler = Callable[[web.Request], Awaitable[web.Response]]


def answers(handler: Handler) -> Handler:
    """Wrap a route handler so refusals become JSON answers (fixed or varied)."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except Rejected as exc:
            return web.json_response(exc.body, status=exc.status)
        except Refused as exc:
            form = request.app[REFUSALS_KEY].next_form()
            status, body = refusals.answer(form, exc)
            return web.json_response(body, status=status)

    return wrapped


@dataclass(frozen=True, slots=True)
class Call:
    store: DocumentsStore
    space: SpaceKey
    identity: Identity
    shown: Shown


def call_of(request: web.Request, *, project_in_path: bool = False) -> Call:
    """Who calls, in which project's or company's Documents, and what the answer shows."""
    identity = request.get("identity")
    company_id = request.get("company_id")
    if not isinstance(identity, Identity) or not isinstance(company_id, int):
        raise rejected(401, "authentication required")
    space: SpaceKey
    if "company_id" in request.match_info:
        cid = int(request.match_info["company_id"])
        if cid != company_id:
            raise rejected(403, "Procore-Company-Id does not match the company in the path")
        space = ("company", cid)
    else:
        raw = (
            request.match_info["project_id"] if project_in_path else request.query.get("project_id")
        )
        if not raw or not raw.isdigit():
            raise rejected(400, "param is missing or the value is empty: project_id")
        space = ("project", int(raw))
    shown = Shown(
        base_url=f"{request.scheme}://{request.host}",
        exclude_folders=params.query_flag(request, "exclude_folders"),
        exclude_files=params.query_flag(request, "exclude_files"),
        latest_version_only=params.query_flag(request, "show_latest_file_version_only")
        or params.query_flag(request, "show_latest_version_only"),
    )
    return Call(request.app[STATE_KEY].documents, space, identity, shown)


def _id(request: web.Request) -> int:
    return int(request.match_info["id"])


async def show_root(request: web.Request) -> web.Response:
    c = call_of(request)
    return web.json_response(folder_json(c.store, c.shown, c.store.root(c.space)))


async def show_folder(request: web.Request) -> web.Response:
    c = call_of(request)
    return web.json_response(folder_json(c.store, c.shown, c.store.folder(c.space, _id(request))))


async def create_folder(request: web.Request) -> web.Response:
    c = call_of(request)
    body = await params.body_of(request, "folder")
    folder = c.store.create_folder(
        c.space,
        c.identity,
        params.text(body.get("name"), "name") or "",
        params.integer(body.get("parent_id"), "parent_id"),
        private=bool(params.flag(body.get("explicit_permissions"), "explicit_permissions")),
        is_tracked=bool(params.flag(body.get("is_tracked"), "is_tracked")),
    )
    return web.json_response(folder_json(c.store, c.shown, folder), status=201)


async def update_folder(request: web.Request) -> web.Response:
    c = call_of(request)
    folder = c.store.folder(c.space, _id(request))
    body = await params.body_of(request, "folder")
    name = params.text(body.get("name"), "name")
    if c.space[0] == "company" and name is None:  # the company PATCH publishes name required
        raise rejected(400, "param is missing or the value is empty: name")
    c.store.update_folder(
        folder,
        name=name,
        parent_id=params.integer(body.get("parent_id"), "parent_id"),
        private=params.flag(body.get("explicit_permissions"), "explicit_permissions"),
        is_tracked=params.flag(body.get("is_tracked"), "is_tracked"),
    )
    return web.json_response(folder_json(c.store, c.shown, folder))


async def create_file(request: web.Request) -> web.Response:
    c = call_of(request)
    body = await params.body_of(request, "file")
    params.refuse_data_part(body)
    upload_uuid = params.text(body.get("upload_uuid"), "upload_uuid") or ""
    await request.app[STATE_KEY].look_up_stored(upload_uuid)
    created = c.store.create_file(
        c.space,
        c.identity,
        name=params.text(body.get("name"), "name") or "",
        parent_id=params.integer(body.get("parent_id"), "parent_id"),
        upload_uuid=upload_uuid,
        description=params.text(body.get("description"), "description") or "",
        unique_name=bool(params.flag(body.get("unique_name"), "unique_name")),
        private=bool(params.flag(body.get("explicit_permissions"), "explicit_permissions")),
        is_tracked=bool(params.flag(body.get("is_tracked"), "is_tracked")),
    )
    return web.json_response(file_json(c.store, c.shown, created), status=201)


async def show_file(request: web.Request) -> web.Response:
    c = call_of(request)
    return web.json_response(file_json(c.store, c.shown, c.store.file(c.space, _id(request))))


async def update_file(request: web.Request) -> web.Response:
    c = call_of(request)
    file = c.store.file(c.space, _id(request))
    body = await params.body_of(request, "file")
    params.refuse_data_part(body)
    release = False
    until: float | None = None
    if "checked_out_until" in body:
        raw = body["checked_out_until"]
        if raw is None or raw == "":
            release = True
        else:
            until = params.timestamp(raw, "checked_out_until")
    upload_uuid = params.text(body.get("upload_uuid"), "upload_uuid")
    await request.app[STATE_KEY].look_up_stored(upload_uuid)
    changes = FileChanges(
        name=params.text(body.get("name"), "name"),
        parent_id=params.integer(body.get("parent_id"), "parent_id"),
        description=params.text(body.get("description"), "description"),
        upload_uuid=upload_uuid,
        private=params.flag(body.get("explicit_permissions"), "explicit_permissions"),
        is_tracked=params.flag(body.get("is_tracked"), "is_tracked"),
        checkout_until=until,
        release_checkout=release,
    )
    try:
        c.store.update_file(c.identity, file, changes)
    except Refused as exc:
        form = request.app[REFUSALS_KEY].next_form()
        status, varied = refusals.answer(form, exc)
        if exc.kind != "checked_out" and status != 409:
            raise Rejected(status, varied) from None
        # File PATCH publishes its 409, whatever the refusal: {errors: {base}, error_type, file}.
        body = {
            "errors": {"base": [refusals.sentence(form, exc)]},
            "error_type": exc.kind,
            "file": conflict_file_json(c.store, c.shown, file),
        }
        raise Rejected(409, body) from None
    return web.json_response(file_json(c.store, c.shown, file))


async def create_version(request: web.Request) -> web.Response:
    c = call_of(request)
    body = await params.body_of(request, "file_version")
    params.refuse_data_part(body)
    file_id = params.query_int(request, "file_id")
    if file_id is None:
        raise rejected(400, "param is missing or the value is empty: file_id")
    file = c.store.file(c.space, file_id)
    upload_uuid = params.text(body.get("upload_uuid"), "upload_uuid") or ""
    await request.app[STATE_KEY].look_up_stored(upload_uuid)
    version = c.store.add_version(
        c.identity,
        file,
        upload_uuid,
        params.text(body.get("notes"), "notes"),
        params.text(body.get("name"), "name"),
    )
    return web.json_response(version_json(c.shown, file, version), status=201)


def add_public_routes(app: web.Application) -> None:
    """Every Documents operation the contract lists, at project and company level."""
    for prefix in ("/rest/v1.0", r"/rest/v1.0/companies/{company_id:\d+}"):
        app.router.add_get(f"{prefix}/folders", answers(show_root))
        app.router.add_post(f"{prefix}/folders", answers(create_folder))
        app.router.add_get(prefix + r"/folders/{id:\d+}", answers(show_folder))
        app.router.add_patch(prefix + r"/folders/{id:\d+}", answers(update_folder))
        app.router.add_post(f"{prefix}/files", answers(create_file))
        app.router.add_get(prefix + r"/files/{id:\d+}", answers(show_file))
        app.router.add_patch(prefix + r"/files/{id:\d+}", answers(update_file))
        app.router.add_post(f"{prefix}/file_versions", answers(create_version))
