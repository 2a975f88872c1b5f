"""The one list of places where the vendored contract is wrong against Procore's documentation.

Each entry names the operation, what is excepted (kind of violation, where, and optionally a
piece of the message), and the source that shows the contract is wrong. Emulator or client bugs
never go here: they are fixed where they are. Keep this list short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.contract.validator import Violation


@dataclass(frozen=True, slots=True)
class Excepted:
    """Violations of `operation` ("*": any) of `kind` at `where` (exact, or a prefix ending in
    '*') whose message contains `message` are not failures; `source` says why the contract is
    wrong."""

    operation: str
    kind: str
    where: str
    source: str
    message: str = ""

    def covers(self, violation: Violation) -> bool:
        if self.operation not in ("*", violation.operation) or violation.kind != self.kind:
            return False
        if self.where.endswith("*"):
            placed = violation.where.startswith(self.where[:-1])
        else:
            placed = violation.where == self.where
        return placed and self.message in violation.message


EXCEPTIONS: dict[str, Excepted] = {
    "expired-token-401": Excepted(
        operation="*",
        kind="status",
        where="-",
        message="status 401 is not published",
        source=(
            "developers.procore.com/documentation/content/error-reference (Error Code Reference, "
            "'the single source of truth for Procore API status codes'): 401 Unauthorized for a "
            "missing, expired or invalid access token, on any call; access tokens last 90 "
            "minutes (.../content/troubleshooting). Several operations' status lists omit it."
        ),
    ),
}
