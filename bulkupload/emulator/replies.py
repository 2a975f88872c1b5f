"""The body of every Procore API refusal the emulator sends: v1's `{"errors": ...}`.

The contract publishes it loosely (`{errors}` or `{error: {code, message, details}}`); the
emulator keeps to the first form everywhere so clients meet one shape.
"""

from __future__ import annotations

from aiohttp import web


def api_error(status: int, message: object, **headers: str) -> web.Response:
    """`{"errors": message}`: a sentence, or `{field: [problems]}` for a field-level refusal."""
    return web.json_response({"errors": message}, status=status, headers=headers or None)
