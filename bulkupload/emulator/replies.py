"""The bodies of Procore API refusals the emulator sends: v1's `{"errors": ...}`, and v2's
`{"error": {"code", "message", "details": [{"reason_code", ...}]}}` for the v2.1 routes.

The contract publishes the v1 body loosely (`{errors}` or `{error: {code, message, details}}`);
the v1 routes keep to the first form everywhere so clients meet one shape. The v2 conventions
(and the PDM guide's error reference) name the second, with `reason_code` to branch on.
"""

from __future__ import annotations

from aiohttp import web


def api_error(status: int, message: object, **headers: str) -> web.Response:
    """`{"errors": message}`: a sentence, or `{field: [problems]}` for a field-level refusal."""
    return web.json_response({"errors": message}, status=status, headers=headers or None)


def v2_error(status: int, code: str, message: str, details: list[dict[str, str]]) -> web.Response:
    """`{"error": {"code", "message", "details"}}`; each detail has a `reason_code`."""
    body = {"error": {"code": code, "message": message, "details": details}}
    return web.json_response(body, status=status)
