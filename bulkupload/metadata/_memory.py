"""A `Catalog` held in memory: for tests, demos and the emulator's own checks.

Keyword search finds values whose label contains the keyword, case-insensitively (Procore
documents the keyword as matching "by value name"; codes are not searched here, which is the
harder case for the resolver). Every call is logged in `calls`, so a test can count them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ._records import FieldDef, FieldValue, Requirement

__all__ = ["InMemoryCatalog"]


class InMemoryCatalog:
    """Fields, values by field id, and requirements, answered as given.

    `calls` logs each call as ("fields"|"values"|"requirements", field id or None, keyword).
    """

    def __init__(
        self,
        fields: Iterable[FieldDef],
        values: Mapping[str, Iterable[FieldValue]] | None = None,
        requirements: Iterable[Requirement] = (),
    ) -> None:
        self._fields = tuple(fields)
        self._values = {key: tuple(found) for key, found in (values or {}).items()}
        self._requirements = tuple(requirements)
        self.calls: list[tuple[str, str | None, str | None]] = []

    async def fields(self) -> Sequence[FieldDef]:
        self.calls.append(("fields", None, None))
        return self._fields

    async def values(self, field: FieldDef, keyword: str | None = None) -> Sequence[FieldValue]:
        self.calls.append(("values", field.id, keyword))
        found = self._values.get(field.id, ())
        if keyword is None:
            return found
        folded = keyword.casefold()
        return tuple(value for value in found if folded in value.label.casefold())

    async def requirements(self) -> Sequence[Requirement]:
        self.calls.append(("requirements", None, None))
        return self._requirements

    def value_calls(self, field_id: str) -> list[str | None]:
        """The keywords of the values calls made for one field (None: a full listing)."""
        return [kw for kind, fid, kw in self.calls if kind == "values" and fid == field_id]
