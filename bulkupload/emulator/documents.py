"""The emulated Documents tool: folders, files and file versions built from Direct File Uploads.

Strict where Procore is strict (upload ownership, one attachment per upload, the one-week
deletion of unattached uploads, sibling name uniqueness) so the client meets the rules it must obey.
Wire it with `add_documents_routes(app)`; the data lives in a `DocumentsStore` tied to the app's
`EmulatorState` (see `documents_store`).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

from bulkupload.emulator.core import (
    STATE_KEY,
    UNATTACHED_LIFETIME,
    EmulatorState,
    Identity,
    UploadRecord,
)

__all__ = [
    "DocFile",
    "DocFolder",
    "DocumentsStore",
    "FileVersion",
    "Rejected",
    "SpaceKey",
    "add_documents_routes",
    "documents_store",
    "sweep_unattached",
]

SpaceKey = tuple[Literal["project", "company"], int]
"""Whose Documents tool: ``("project", P)`` or ``("company", C)``; each has its own root folder."""

_Handler = Callable[[web.Request], Awaitable[web.Response]]

DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 1000
RECYCLE_BIN = "Recycle Bin"


@dataclass(slots=True)
class FileVersion:
    """One version of a Documents file: the bytes of one attached upload."""

    id: int
    number: int
    size: int
    md5: str
    upload_uuid: str
    created_at: float
    notes: str = ""


@dataclass(slots=True)
class DocFile:
    """A file in the Documents tool; `versions` in ascending `number` order."""

    id: int
    space: SpaceKey
    name: str
    parent_id: int
    description: str
    created_at: float
    versions: list[FileVersion] = field(default_factory=list)


@dataclass(slots=True)
class DocFolder:
    """A folder; children are kept by name so sibling uniqueness is a dict lookup."""

    id: int
    space: SpaceKey
    name: str
    parent_id: int | None
    created_at: float
    is_recycle_bin: bool = False
    folders: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)


class Rejected(Exception):
    """A request the Documents tool refuses, with Procore's status and JSON error body.

    Handlers turn it into a JSON response themselves (see `_answers`) rather than raising
    aiohttp's HTTP exceptions, so no middleware can replace the body with a bare reason.
    """

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


def _fail(status: int, body: dict[str, Any]) -> Rejected:
    return Rejected(status, body)


def _answers(handler: _Handler) -> _Handler:
    """Wrap a route handler so a `Rejected` becomes its Procore-shaped JSON answer."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except Rejected as exc:
            return web.json_response(exc.body, status=exc.status)

    return wrapped


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _numbered(name: str, n: int) -> str:
    """``report.pdf`` → ``report (n).pdf``, the way Procore's unique_name renames."""
    stem, dot, ext = name.rpartition(".")
    if not stem:  # no extension, or a dotfile such as ".env"
        return f"{name} ({n})"
    return f"{stem} ({n}){dot}{ext}"


class DocumentsStore:
    """All folders and files of every project and company, with ids unique across them."""

    def __init__(self, state: EmulatorState) -> None:
        # A weak back-reference: the store is itself held weakly by the state (see documents_store).
        self._state = weakref.ref(state)
        self._next_id = 1
        self.folders: dict[int, DocFolder] = {}
        self.files: dict[int, DocFile] = {}
        self.roots: dict[SpaceKey, int] = {}
        self.recycle_bins: dict[SpaceKey, int] = {}
        self.expired: set[str] = set()  # uuids swept after a week unattached

    @property
    def state(self) -> EmulatorState:
        state = self._state()
        assert state is not None, "the EmulatorState owning this store is gone"
        return state

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # -- folders ---------------------------------------------------------------------------

    def root(self, space: SpaceKey) -> DocFolder:
        """The space's root folder, created (with its recycle bin) on first use."""
        if space not in self.roots:
            now = self.state.clock.now()
            root = DocFolder(self._new_id(), space, "", None, now)
            self.folders[root.id] = root
            self.roots[space] = root.id
            # The recycle bin hangs off root outside the name map: a user folder may share its name.
            rb = DocFolder(self._new_id(), space, RECYCLE_BIN, root.id, now, is_recycle_bin=True)
            self.folders[rb.id] = rb
            self.recycle_bins[space] = rb.id
        return self.folders[self.roots[space]]

    def folder(self, space: SpaceKey, folder_id: int) -> DocFolder:
        self.root(space)
        found = self.folders.get(folder_id)
        if found is None or found.space != space:
            raise _fail(404, {"message": "Not Found", "error": f"folder {folder_id} not found"})
        return found

    def create_folder(self, space: SpaceKey, name: str, parent_id: int | None) -> DocFolder:
        parent = self.root(space) if parent_id is None else self.folder(space, parent_id)
        _check_name(name)
        if parent.is_recycle_bin:
            raise _fail(422, {"errors": "Cannot create a folder in the Recycle Bin"})
        if name in parent.folders:
            raise _fail(422, {"errors": "Name has already been taken"})
        created = DocFolder(self._new_id(), space, name, parent.id, self.state.clock.now())
        self.folders[created.id] = created
        parent.folders[name] = created.id
        return created

    def path_of(self, folder_id: int | None) -> str:
        """``A/B/C`` for a folder, ``""`` for a root."""
        parts: list[str] = []
        while folder_id is not None:
            f = self.folders[folder_id]
            if f.parent_id is not None:
                parts.append(f.name)
            folder_id = f.parent_id
        return "/".join(reversed(parts))

    # -- files -----------------------------------------------------------------------------

    def file(self, space: SpaceKey, file_id: int) -> DocFile:
        found = self.files.get(file_id)
        if found is None or found.space != space:
            raise _fail(404, {"message": "Not Found", "error": f"file {file_id} not found"})
        return found

    def create_file(
        self,
        space: SpaceKey,
        identity: Identity,
        *,
        name: str,
        parent_id: int | None,
        upload_uuid: str,
        description: str,
        unique_name: bool,
    ) -> DocFile:
        parent = self.root(space) if parent_id is None else self.folder(space, parent_id)
        _check_name(name)
        if name in parent.files:
            if not unique_name:
                raise _fail(422, {"errors": "Name has already been taken"})
            n = 1
            while _numbered(name, n) in parent.files:
                n += 1
            name = _numbered(name, n)
        # Validate the upload last-but-one, claim it last: a rejected request leaves it usable.
        record = self.usable_upload(space, identity, upload_uuid)
        now = self.state.clock.now()
        created = DocFile(self._new_id(), space, name, parent.id, description, now)
        self.files[created.id] = created
        parent.files[name] = created.id
        self._add_version(created, record, "")
        return created

    def add_version(
        self, space: SpaceKey, identity: Identity, file: DocFile, upload_uuid: str, notes: str
    ) -> FileVersion:
        record = self.usable_upload(space, identity, upload_uuid)
        return self._add_version(file, record, notes)

    def _add_version(self, file: DocFile, record: UploadRecord, notes: str) -> FileVersion:
        assert record.stored is not None
        version = FileVersion(
            id=self._new_id(),
            number=len(file.versions) + 1,
            size=record.stored.size,
            md5=record.stored.md5,
            upload_uuid=record.uuid,
            created_at=self.state.clock.now(),
            notes=notes,
        )
        file.versions.append(version)
        record.attached_to = file.id
        return version

    # -- uploads ---------------------------------------------------------------------------

    def sweep(self) -> int:
        """Delete uploads left unattached for more than a week; returns how many went."""
        state = self.state
        now = state.clock.now()
        gone = [
            uuid
            for uuid, rec in state.uploads.items()
            if rec.attached_to is None and now - rec.created > UNATTACHED_LIFETIME
        ]
        for uuid in gone:
            del state.uploads[uuid]
            self.expired.add(uuid)
        return len(gone)

    def usable_upload(self, space: SpaceKey, identity: Identity, uuid: str) -> UploadRecord:
        """The upload `identity` may attach in `space`, or the error Procore would answer."""
        if not uuid:
            raise _fail(422, {"errors": "upload_uuid is required"})
        self.sweep()
        if uuid in self.expired:
            raise _fail(
                410,
                {
                    "message": "Gone",
                    "error": f"upload {uuid} was deleted: unattached for more than 7 days",
                },
            )
        record = self.state.find_upload(uuid)
        if record is None:
            raise _fail(404, {"message": "Not Found", "error": f"upload {uuid} not found"})
        if record.owner != identity.client_id:
            raise _fail(
                403,
                {"message": "Forbidden", "error": f"upload {uuid} belongs to another identity"},
            )
        kind, ident = space
        matches = (
            record.company_id == ident and record.project_id is None
            if kind == "company"
            else record.project_id == ident
        )
        if not matches:
            raise _fail(
                422, {"errors": f"upload {uuid} was created for another {kind}, not {kind} {ident}"}
            )
        if record.stored is None:
            raise _fail(422, {"errors": f"upload {uuid} has no data: nothing reached storage"})
        if record.attached_to is not None:
            raise _fail(
                422, {"errors": f"upload {uuid} already attached to file {record.attached_to}"}
            )
        return record

    # -- JSON views ------------------------------------------------------------------------

    def folder_json(self, folder: DocFolder, *, children: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": folder.id,
            "name": folder.name,
            "parent_id": folder.parent_id,
            "name_with_path": self.path_of(folder.id),
            "is_recycle_bin": folder.is_recycle_bin,
            "is_deleted": False,
            "is_tracked": False,
            "private": False,
            "document_type": "folder",
            "has_children": bool(folder.folders or folder.files),
            "created_at": _iso(folder.created_at),
            "updated_at": _iso(folder.created_at),
        }
        if children:
            ids = sorted(folder.folders.values())
            if folder.parent_id is None:
                ids.insert(0, self.recycle_bins[folder.space])
            out["folders"] = [self.folder_json(self.folders[i], children=False) for i in ids]
            out["files"] = [self.file_json(self.files[i]) for i in sorted(folder.files.values())]
        return out

    def file_json(self, file: DocFile) -> dict[str, Any]:
        latest = file.versions[-1]
        parent_path = self.path_of(file.parent_id)
        return {
            "id": file.id,
            "name": file.name,
            "parent_id": file.parent_id,
            "description": file.description,
            "size": latest.size,
            "name_with_path": f"{parent_path}/{file.name}" if parent_path else file.name,
            "document_type": "file",
            "is_deleted": False,
            "is_tracked": False,
            "private": False,
            "created_at": _iso(file.created_at),
            "updated_at": _iso(latest.created_at),
            "file_versions": [self.version_json(file, v) for v in file.versions],
        }

    @staticmethod
    def version_json(file: DocFile, v: FileVersion) -> dict[str, Any]:
        return {
            "id": v.id,
            "file_id": file.id,
            "number": v.number,
            "size": v.size,
            "upload_uuid": v.upload_uuid,
            "notes": v.notes,
            "created_at": _iso(v.created_at),
        }

    def tree(self, folder: DocFolder) -> dict[str, Any]:
        """The admin view: nested folders and files with stored md5s, recycle bin left out."""
        return {
            "id": folder.id,
            "name": folder.name,
            "folders": [self.tree(self.folders[i]) for _, i in sorted(folder.folders.items())],
            "files": [
                {
                    "id": f.id,
                    "name": f.name,
                    "size": f.versions[-1].size,
                    "md5": f.versions[-1].md5,
                    "versions": [
                        {
                            "number": v.number,
                            "size": v.size,
                            "md5": v.md5,
                            "upload_uuid": v.upload_uuid,
                        }
                        for v in f.versions
                    ],
                }
                for f in (self.files[i] for _, i in sorted(folder.files.items()))
            ],
        }


def _check_name(name: str) -> None:
    if not name or not name.strip():
        raise _fail(422, {"errors": "Name can't be blank"})
    if "/" in name:
        raise _fail(422, {"errors": "Name cannot contain '/'"})


_STORES: weakref.WeakKeyDictionary[EmulatorState, DocumentsStore] = weakref.WeakKeyDictionary()


def documents_store(state: EmulatorState) -> DocumentsStore:
    """The `DocumentsStore` of `state`, created on first use (no field on EmulatorState needed)."""
    store = _STORES.get(state)
    if store is None:
        store = _STORES[state] = DocumentsStore(state)
    return store


def sweep_unattached(state: EmulatorState) -> int:
    """Delete week-old unattached uploads now (handlers also sweep lazily before attaching)."""
    return documents_store(state).sweep()


# -- request handling ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Call:
    store: DocumentsStore
    space: SpaceKey
    identity: Identity


def _call(request: web.Request, *, project_in_path: bool = False) -> _Call:
    identity = request.get("identity")
    company_id = request.get("company_id")
    if not isinstance(identity, Identity) or not isinstance(company_id, int):
        raise _fail(401, {"message": "Unauthorized", "error": "authentication required"})
    space: SpaceKey
    if "company_id" in request.match_info:
        cid = int(request.match_info["company_id"])
        if cid != company_id:
            raise _fail(
                403, {"message": "Forbidden", "error": "Procore-Company-Id does not match the path"}
            )
        space = ("company", cid)
    else:
        raw = (
            request.match_info["project_id"] if project_in_path else request.query.get("project_id")
        )
        if not raw or not raw.isdigit():
            raise _fail(400, {"errors": "project_id is required"})
        space = ("project", int(raw))
    return _Call(documents_store(request.app[STATE_KEY]), space, identity)


async def _body(request: web.Request, key: str) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise _fail(400, {"errors": "body is not valid JSON"}) from None
    inner = data.get(key) if isinstance(data, dict) else None
    if not isinstance(inner, dict):
        raise _fail(400, {"errors": f"param is missing or the value is empty: {key}"})
    return inner


def _optional_int(value: Any, what: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _fail(422, {"errors": f"{what} is not a number"}) from None


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in {"true", "1"}


async def _show_root(request: web.Request) -> web.Response:
    c = _call(request)
    return web.json_response(c.store.folder_json(c.store.root(c.space), children=True))


async def _show_folder(request: web.Request) -> web.Response:
    c = _call(request)
    folder = c.store.folder(c.space, int(request.match_info["folder_id"]))
    return web.json_response(c.store.folder_json(folder, children=True))


async def _create_folder(request: web.Request) -> web.Response:
    c = _call(request)
    body = await _body(request, "folder")
    name = str(body.get("name") or "")
    folder = c.store.create_folder(c.space, name, _optional_int(body.get("parent_id"), "parent_id"))
    return web.json_response(c.store.folder_json(folder, children=True), status=201)


async def _create_file(request: web.Request) -> web.Response:
    c = _call(request)
    body = await _body(request, "file")
    created = c.store.create_file(
        c.space,
        c.identity,
        name=str(body.get("name") or ""),
        parent_id=_optional_int(body.get("parent_id"), "parent_id"),
        upload_uuid=str(body.get("upload_uuid") or ""),
        description=str(body.get("description") or ""),
        unique_name=_flag(body.get("unique_name")),
    )
    return web.json_response(c.store.file_json(created), status=201)


async def _show_file(request: web.Request) -> web.Response:
    c = _call(request)
    return web.json_response(
        c.store.file_json(c.store.file(c.space, int(request.match_info["file_id"])))
    )


async def _update_file(request: web.Request) -> web.Response:
    c = _call(request)
    file = c.store.file(c.space, int(request.match_info["file_id"]))
    body = await _body(request, "file")
    if "description" in body:
        file.description = str(body["description"] or "")
    if body.get("upload_uuid"):
        c.store.add_version(c.space, c.identity, file, str(body["upload_uuid"]), "")
    return web.json_response(c.store.file_json(file))


async def _create_version(request: web.Request) -> web.Response:
    c = _call(request)
    body = await _body(request, "file_version")
    file_id = _optional_int(request.query.get("file_id") or body.get("file_id"), "file_id")
    if file_id is None:
        raise _fail(400, {"errors": "file_id is required"})
    file = c.store.file(c.space, file_id)
    version = c.store.add_version(
        c.space, c.identity, file, str(body.get("upload_uuid") or ""), str(body.get("notes") or "")
    )
    return web.json_response(c.store.version_json(file, version), status=201)


async def _list_documents(request: web.Request) -> web.Response:
    """The flat, paginated listing; filters[folder_id] limits it to one folder's children."""
    c = _call(request, project_in_path=True)
    store = c.store
    store.root(c.space)
    folder_filter = _optional_int(request.query.get("filters[folder_id]"), "filters[folder_id]")
    kind_filter = request.query.get("filters[document_type]")
    if kind_filter not in (None, "", "folder", "file"):
        raise _fail(422, {"errors": "filters[document_type] must be folder or file"})
    items: list[tuple[int, dict[str, Any]]] = []
    if kind_filter != "file":
        items += [
            (f.id, store.folder_json(f, children=False))
            for f in store.folders.values()
            if f.space == c.space
            and f.parent_id is not None
            and not f.is_recycle_bin
            and (folder_filter is None or f.parent_id == folder_filter)
        ]
    if kind_filter != "folder":
        items += [
            (f.id, store.file_json(f))
            for f in store.files.values()
            if f.space == c.space and (folder_filter is None or f.parent_id == folder_filter)
        ]
    items.sort(key=lambda item: item[0])
    page = max(1, _optional_int(request.query.get("page"), "page") or 1)
    per_page = _optional_int(request.query.get("per_page"), "per_page") or DEFAULT_PER_PAGE
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    last = max(1, -(-len(items) // per_page))
    chunk = [doc for _, doc in items[(page - 1) * per_page : page * per_page]]

    def link(n: int) -> str:
        return str(request.url.update_query({"page": str(n), "per_page": str(per_page)}))

    links = [f'<{link(1)}>; rel="first"']
    if page > 1:
        links.append(f'<{link(min(page - 1, last))}>; rel="prev"')
    if page < last:
        links.append(f'<{link(page + 1)}>; rel="next"')
    links.append(f'<{link(last)}>; rel="last"')
    headers = {"Total": str(len(items)), "Per-Page": str(per_page), "Link": ", ".join(links)}
    return web.json_response(chunk, headers=headers)


async def _admin_tree(request: web.Request) -> web.Response:
    """`/_emulator/documents?project_id=P|company_id=C`: the whole tree, for test assertions."""
    store = documents_store(request.app[STATE_KEY])
    space: SpaceKey
    if (raw := request.query.get("project_id", "")).isdigit():
        space = ("project", int(raw))
    elif (raw := request.query.get("company_id", "")).isdigit():
        space = ("company", int(raw))
    else:
        raise _fail(400, {"errors": "project_id or company_id is required"})
    return web.json_response(store.tree(store.root(space)))


def add_documents_routes(app: web.Application) -> None:
    """Register the Documents routes (project and company level) and `/_emulator/documents`."""
    for prefix in ("/rest/v1.0", r"/rest/v1.0/companies/{company_id:\d+}"):
        app.router.add_get(f"{prefix}/folders", _answers(_show_root))
        app.router.add_post(f"{prefix}/folders", _answers(_create_folder))
        app.router.add_get(prefix + r"/folders/{folder_id:\d+}", _answers(_show_folder))
        app.router.add_post(f"{prefix}/files", _answers(_create_file))
        app.router.add_get(prefix + r"/files/{file_id:\d+}", _answers(_show_file))
        app.router.add_patch(prefix + r"/files/{file_id:\d+}", _answers(_update_file))
        app.router.add_post(f"{prefix}/file_versions", _answers(_create_version))
    for path in (
        r"/rest/v1.0/projects/{project_id:\d+}/documents",
        r"/rest/v1.0/companies/{company_id:\d+}/documents",
    ):
        app.router.add_get(path, _answers(_list_documents))
    app.router.add_get("/_emulator/documents", _answers(_admin_tree))
