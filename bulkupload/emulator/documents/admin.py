"""`/_emulator/documents...`: the Documents tree for test assertions, and the controls tests use
(refusal forms, checkouts, read-only items). See the package docstring for the bodies."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bulkupload.emulator.core import Identity
from bulkupload.emulator.state import STATE_KEY

from . import refusals
from .handlers import answers
from .model import OTHER_USER, Checkout, SpaceKey, iso, rejected
from .refusals import REFUSALS_KEY
from .store import DocumentsStore
from .views import admin_tree


def _store(request: web.Request) -> DocumentsStore:
    return request.app[STATE_KEY].documents


def _space(values: Any) -> SpaceKey:
    for kind in ("project", "company"):
        raw = values.get(f"{kind}_id")
        if isinstance(raw, int) and not isinstance(raw, bool):
            return (kind, raw)
        if isinstance(raw, str) and raw.isdigit():
            return (kind, int(raw))
    raise rejected(400, "project_id or company_id is required")


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json() if request.body_exists else {}
    except json.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise rejected(400, "expected a JSON object")
    return body


def _id_field(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise rejected(400, f"{name} must be an integer")


async def tree(request: web.Request) -> web.Response:
    """`GET /_emulator/documents?project_id=P|company_id=C`: the whole tree."""
    store = _store(request)
    return web.json_response(admin_tree(store, store.root(_space(request.query))))


def _forms_json(request: web.Request) -> dict[str, Any]:
    return {"pinned": request.app[REFUSALS_KEY].pinned, "count": refusals.FORM_COUNT}


async def clash_forms(request: web.Request) -> web.Response:
    return web.json_response({**_forms_json(request), "forms": refusals.RefusalForms.catalogue()})


async def pin_clash_form(request: web.Request) -> web.Response:
    body = await _json(request)
    form = body.get("form")
    if form is not None and (not isinstance(form, int) or isinstance(form, bool)):
        raise rejected(400, "form must be an integer or null")
    try:
        request.app[REFUSALS_KEY].pin(form)
    except ValueError as exc:
        raise rejected(400, str(exc)) from None
    return web.json_response(_forms_json(request))


async def checkout(request: web.Request) -> web.Response:
    """Check a file out (to someone else, or to identity `by`) until `until`, or release it."""
    body = await _json(request)
    store = _store(request)
    file_id = _id_field(body, "file_id")
    if file_id is None:
        raise rejected(400, "file_id is required")
    file = store.file(_space(body), file_id)
    until = body.get("until")
    if until is None:
        file.checkout = None
    elif isinstance(until, int | float) and not isinstance(until, bool):
        by = body.get("by")
        user = store.user(Identity(by)) if isinstance(by, str) and by else OTHER_USER
        file.checkout = Checkout(user, float(until))
    else:
        raise rejected(400, "until must be Unix seconds or null")
    held = file.checked_out(store.now())
    return web.json_response(
        {
            "file_id": file.id,
            "checked_out_until": None if held is None else iso(held.until),
            "checked_out_by": None if held is None else held.by.as_json(),
        }
    )


async def read_only(request: web.Request) -> web.Response:
    """Mark a folder (and so everything under it) or a file read-only, or writable again."""
    body = await _json(request)
    store = _store(request)
    space = _space(body)
    flag = body.get("read_only", True)
    if not isinstance(flag, bool):
        raise rejected(400, "read_only must be true or false")
    folder_id, file_id = _id_field(body, "folder_id"), _id_field(body, "file_id")
    if (folder_id is None) == (file_id is None):
        raise rejected(400, "give exactly one of folder_id and file_id")
    if folder_id is not None:
        store.folder(space, folder_id).read_only = flag
        return web.json_response({"folder_id": folder_id, "read_only": flag})
    assert file_id is not None
    store.file(space, file_id).read_only = flag
    return web.json_response({"file_id": file_id, "read_only": flag})


def add_admin_routes(app: web.Application) -> None:
    app.router.add_get("/_emulator/documents", answers(tree))
    app.router.add_get("/_emulator/documents/clash-forms", answers(clash_forms))
    app.router.add_post("/_emulator/documents/clash-form", answers(pin_clash_form))
    app.router.add_post("/_emulator/documents/checkout", answers(checkout))
    app.router.add_post("/_emulator/documents/read-only", answers(read_only))
