"""Query parameters and pagination of the Document Management list endpoints.

The technical guide: `page` and `per_page`, default 10, at most 100 (the reference allows 5000
with `view=ids_only`); a `Total` header, and a `Link` header that is always present and empty
when everything fits one page, else carries first/prev/next/last (`pagination.md` leaves `next`
out on the last page and adds `Per-Page`, which is sent too). A `per_page` above the maximum is
served at the maximum. Parameters the emulator does not implement (`search`, `sort`, `filters`,
collections) are refused with 400 rather than silently ignored; unknown ones too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from aiohttp import web

from ..paging import page_headers
from .errors import bad

DEFAULT_PER_PAGE, MAX_PER_PAGE, MAX_IDS_PER_PAGE = 10, 100, 5000
PAGING = frozenset({"page", "per_page", "locale"})

T = TypeVar("T")


def check_query(request: web.Request, accepted: frozenset[str]) -> None:
    """400 for a parameter not in `accepted` (pagination and `locale` always are)."""
    for name in request.query:
        if name not in accepted | PAGING:
            raise bad(f"query parameter {name} is not supported here", name)


def flag(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "false").lower()
    if raw not in ("true", "false"):
        raise bad(f"{name} must be true or false", name)
    return raw == "true"


def _positive(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise bad(f"{name} must be a positive integer", name)
    return int(raw)


def page_of(
    request: web.Request, items: Sequence[T], limit: int = MAX_PER_PAGE
) -> tuple[Sequence[T], dict[str, str]]:
    """The requested page of `items` and the headers that describe the whole list."""
    page = _positive(request, "page", 1)
    per_page = min(_positive(request, "per_page", DEFAULT_PER_PAGE), limit)
    headers = page_headers(request, len(items), page, per_page, links_on_one_page=False)
    return items[(page - 1) * per_page : page * per_page], headers


def paged(request: web.Request, items: Sequence[object], limit: int = MAX_PER_PAGE) -> web.Response:
    """`{"data": [the page]}` with the pagination headers."""
    page, headers = page_of(request, items, limit)
    return web.json_response({"data": list(page)}, headers=headers)
