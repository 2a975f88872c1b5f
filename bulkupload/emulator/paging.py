"""Procore's pagination headers, shared by the emulator's list endpoints: `Total`, `Per-Page`
and a `Link` header with first/prev/next/last."""

from __future__ import annotations

from aiohttp import web

__all__ = ["page_headers"]


def page_headers(
    request: web.Request, total: int, page: int, per_page: int, *, links_on_one_page: bool
) -> dict[str, str]:
    """The headers of page `page` of `total` items; with a single page, `Link` is empty
    unless `links_on_one_page` (Documents lists first and last even then; PDM does not)."""
    last = max(1, -(-total // per_page))
    links: list[str] = []
    if last > 1 or links_on_one_page:

        def link(number: int) -> str:
            query = {"page": str(number), "per_page": str(per_page)}
            return str(request.url.update_query(query))

        links.append(f'<{link(1)}>; rel="first"')
        if page > 1:
            links.append(f'<{link(min(page - 1, last))}>; rel="prev"')
        if page < last:
            links.append(f'<{link(page + 1)}>; rel="next"')
        links.append(f'<{link(last)}>; rel="last"')
    return {"Total": str(total), "Per-Page": str(per_page), "Link": ", ".join(links)}
