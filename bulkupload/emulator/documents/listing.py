"""`GET .../documents`: the flat, paginated listing of a project's or company's Documents.

`filters[folder_id]` gives that folder with all its descendants (depth ≤ 100, as published);
`page`/`per_page` paginate, with the `Total`, `Per-Page` and `Link` headers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from ..paging import page_headers
from . import params
from .handlers import answers, call_of
from .model import MAX_LISTING_DEPTH, DocFile, DocFolder, file_type, rejected
from .store import DocumentsStore
from .views import listing_row

DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 1000

_Item = DocFolder | DocFile
_SORTS: dict[str, Callable[[_Item], Any]] = {
    "updated_at": lambda i: (i.updated_at, i.id),
    "name": lambda i: (i.name.lower(), i.id),
    "document_type": lambda i: (isinstance(i, DocFile), i.id),
    "document_type_then_name": lambda i: (isinstance(i, DocFile), i.name.lower(), i.id),
    "document_type_then_created_at": lambda i: (isinstance(i, DocFile), i.created_at, i.id),
    "document_type_then_updated_at": lambda i: (isinstance(i, DocFile), i.updated_at, i.id),
}


def _items(store: DocumentsStore, request: web.Request, space: Any) -> Iterable[_Item]:
    folder_id = params.query_int(request, "filters[folder_id]")
    if folder_id is not None:
        start = store.folder(space, folder_id)
        yield start
        yield from store.descendants(start, MAX_LISTING_DEPTH)
        return
    store.root(space)
    for folder in store.folders.values():
        if folder.space == space and folder.parent_id is not None and not folder.is_recycle_bin:
            yield folder
    yield from (f for f in store.files.values() if f.space == space)


def _filters(request: web.Request) -> list[Callable[[_Item], bool]]:
    keep: list[Callable[[_Item], bool]] = []
    kind = request.query.get("filters[document_type]")
    if kind not in (None, "", "folder", "file"):
        raise rejected(400, "filters[document_type] must be folder or file")
    if kind:
        keep.append(lambda i: isinstance(i, DocFile) == (kind == "file"))
    if search := request.query.get("filters[search]", "").lower():
        keep.append(
            lambda i: (
                search in i.name.lower()
                or (isinstance(i, DocFile) and search in i.description.lower())
            )
        )
    types = {
        t.lower().lstrip(".")
        for name in ("filters[file_type]", "filters[file_type][]")
        for t in request.query.getall(name, [])
    }
    if types:
        keep.append(lambda i: isinstance(i, DocFile) and file_type(i.name) in types)
    if "filters[private]" in request.query and params.query_flag(request, "filters[private]"):
        keep.append(lambda i: i.private)
    if params.query_flag(request, "filters[is_in_recycle_bin]"):
        keep.append(lambda i: False)  # nothing is ever deleted here, so the bin stays empty
    return keep


def _sorted(request: web.Request, items: list[_Item]) -> list[_Item]:
    sort = request.query.get("sort", "")
    key = _SORTS.get(sort.lstrip("-")) if sort else None
    if sort and key is None:
        raise rejected(400, f"sort must be one of {', '.join(_SORTS)} (optionally with -)")
    return sorted(items, key=key or (lambda i: i.id), reverse=sort.startswith("-"))


async def list_documents(request: web.Request) -> web.Response:
    c = call_of(request, project_in_path=True)
    keep = _filters(request)
    items = _sorted(
        request, [i for i in _items(c.store, request, c.space) if all(k(i) for k in keep)]
    )
    page = max(1, params.query_int(request, "page") or 1)
    per_page = params.query_int(request, "per_page") or DEFAULT_PER_PAGE
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    chunk = items[(page - 1) * per_page : page * per_page]
    headers = page_headers(request, len(items), page, per_page, links_on_one_page=True)
    body = [listing_row(c.store, c.shown, item) for item in chunk]
    return web.json_response(body, headers=headers)


def add_listing_routes(app: web.Application) -> None:
    for path in (
        r"/rest/v1.0/projects/{project_id:\d+}/documents",
        r"/rest/v1.0/companies/{company_id:\d+}/documents",
    ):
        app.router.add_get(path, answers(list_documents))
