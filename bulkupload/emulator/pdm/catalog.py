"""The project configuration endpoints (technical guide, steps 1 to 3): upload requirements,
fields, and one field's metadata values, each paginated.

List Project Fields leaves out system fields and lists inactive ones (`active: false`); the values
endpoint takes a field id or name, lists active values unless `include_inactive=true`, matches
`keyword` against labels and codes (any case), sorts by `sort_by`/`sort_order`, and answers
`[]` for user-type reference fields (the guide's known limitation). A field that does not exist
is a 400: the contract publishes no 404 for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from .access import call_of
from .errors import bad
from .paging import check_query, flag, paged
from .settings import USER_VARIANTS, PdmValue
from .views import field_definition, metadata_value, requirement

VALUE_QUERY = frozenset(
    {"keyword", "include_inactive", "include_all", "include_readonly", "sort_by", "sort_order"}
)
# Sort keys of (value, position); ties keep the configured order.
SORTS: dict[str, Callable[[PdmValue, int], Any]] = {
    "position": lambda v, i: i,
    "active": lambda v, i: (not v.active, i),
    "code": lambda v, i: (v.code.casefold(), i),
    "label": lambda v, i: (v.label.casefold(), i),
}


async def list_requirements(request: web.Request) -> web.Response:
    """GET .../upload_requirements: every rule of the project, the default one first."""
    call = call_of(request)
    check_query(request, frozenset())
    return paged(request, [requirement(call.project, rule) for rule in call.project.requirements])


async def list_fields(request: web.Request) -> web.Response:
    """GET .../fields: the user-settable fields, in position order."""
    call = call_of(request)
    check_query(request, frozenset())
    return paged(request, [field_definition(call.project, f) for f in call.project.fields])


async def list_values(request: web.Request) -> web.Response:
    """GET .../fields/{field_id_or_name}/values."""
    call = call_of(request)
    check_query(request, VALUE_QUERY)
    key = request.match_info["field_id_or_name"]
    field = call.project.field(key)
    if field is None:
        raise bad(f"no field {key!r} in this project", "field_id_or_name")
    everything = flag(request, "include_inactive") or flag(request, "include_all")
    flag(request, "include_readonly")  # every value is readable here: checked, nothing more
    keyword = request.query.get("keyword", "").casefold()
    indexed: list[tuple[int, PdmValue]] = [
        (i, v)
        for i, v in enumerate(field.values)
        if (v.active or everything)
        and (keyword in v.label.casefold() or keyword in v.code.casefold())
    ]
    if field.variant in USER_VARIANTS:
        indexed = []
    sort_by = request.query.get("sort_by", "position")
    order = request.query.get("sort_order", "asc")
    if sort_by not in SORTS or order not in ("asc", "desc"):
        raise bad("sort_by is position, active, code or label; sort_order asc or desc", "sort_by")
    indexed.sort(key=lambda pair: SORTS[sort_by](pair[1], pair[0]), reverse=order == "desc")
    return paged(request, [metadata_value(field, v) for _, v in indexed])
