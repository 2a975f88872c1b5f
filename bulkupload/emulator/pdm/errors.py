"""Document Management refusals: the body of the technical guide's Error Reference,
`{"error": {"code", "message", "details": [{"reason_code", "message", "source"?}]}}`, for the
handlers' own refusals and for the API middleware's (401, 429, injected 5xx, scope).

Middleware refusals on these routes keep to the statuses every PDM operation publishes: an
injected 503 is answered 500 (no PDM operation publishes 503), and a company or project out of
the caller's reach 403 FORBIDDEN (404 is not published by the list, field and PATCH routes).
The guide's standard table says FORBIDDEN for 403 and its create-uploads table ACCESS_DENIED:
the emulator answers code FORBIDDEN with reason_code ACCESS_DENIED, so both readings hold.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

# The guide's standard errors, by status.
STANDARD = {
    400: ("BAD_REQUEST", "INVALID_PROPERTY"),
    401: ("INVALID_TOKEN", "INVALID_TOKEN"),
    403: ("FORBIDDEN", "ACCESS_DENIED"),
    429: ("TOO_MANY_REQUESTS", "TOO_MANY_REQUESTS"),
    500: ("INTERNAL_SERVER_ERROR", "INTERNAL_SERVER_ERROR"),
}
# Statuses the middleware may produce that PDM routes answer differently (see the docstring).
RESTATED = {503: 500, 404: 403}
PDM_PATHS = r"^/rest/v2\.\d/companies/\d+/projects/\d+/document_management(/|$)"

Detail = Mapping[str, object]
Handler = Callable[[web.Request], Awaitable[web.Response]]


def detail(reason_code: str, message: str, source: str | None = None, **extra: object) -> Detail:
    """One entry of `details`; `source` names the offending property or upload id."""
    found: dict[str, object] = {"reason_code": reason_code, "message": message}
    if source is not None:
        found["source"] = source
    found.update(extra)
    return found


class PdmError(Exception):
    """A refusal, raised anywhere in a handler and answered by `answers`."""

    def __init__(self, status: int, code: str, message: str, details: list[Detail]) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details

    def response(self) -> web.Response:
        error = {"code": self.code, "message": self.message, "details": list(self.details)}
        return web.json_response({"error": error}, status=self.status)


def invalid(problems: list[Detail]) -> PdmError:
    """400 INVALID_PROPERTY: the body or query failed validation (each problem a detail)."""
    return PdmError(400, "BAD_REQUEST", "Bad Request", problems)


def bad(message: str, source: str) -> PdmError:
    return invalid([detail("INVALID_PROPERTY", message, source)])


def problem(source: str, what: str) -> Detail:
    """An INVALID_PROPERTY detail about the property at `source` (e.g. `uploads.0.id`)."""
    return detail("INVALID_PROPERTY", f"{source} {what}", source)


def object_problems(
    where: str, item: object, allowed: frozenset[str], not_emulated: frozenset[str] = frozenset()
) -> list[Detail]:
    """`item` must be an object whose keys are all `allowed` (published ones the emulator does
    not implement are named as such)."""
    if not isinstance(item, dict):
        return [problem(where, "must be an object")]
    return [
        problem(f"{where}.{key}", "is not emulated" if key in not_emulated else "is not supported")
        for key in sorted(set(item) - allowed)
    ]


def forbidden(message: str) -> PdmError:
    return PdmError(403, "FORBIDDEN", message, [detail("ACCESS_DENIED", message)])


def answers(handler: Handler) -> Handler:
    """Wrap a route handler so a PdmError becomes its answer."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except PdmError as exc:
            return exc.response()

    return wrapped


def pdm_refusal(status: int, message: str) -> web.Response:
    """The API middleware's refusal of a PDM request, in PDM's body and published statuses."""
    status = RESTATED.get(status, status)
    code, reason = STANDARD.get(status, ("BAD_REQUEST", "INVALID_PROPERTY"))
    return PdmError(status, code, message, [detail(reason, message)]).response()
