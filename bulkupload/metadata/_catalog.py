"""What metadata resolution asks of Procore: the project's fields, a field's values, and the
upload requirements. The real implementation calls the Document Management API (one call per
page, `per_page=100`); `InMemoryCatalog` answers from lists, for tests and offline checks.

API: `GET .../document_management/fields`, `.../fields/{id}/values[?keyword=]`,
`.../upload_requirements` (procore/documentation, document_management_technical_guide.md,
steps 1-3). Each is asked once per run: `MetadataResolver` keeps the answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ._records import FieldDef, FieldValue, Requirement

__all__ = ["Catalog"]


class Catalog(Protocol):
    """A project's Document Management catalog, read-only."""

    async def fields(self) -> Sequence[FieldDef]:
        """Every field of the project, all pages, in Procore's order."""
        ...

    async def values(self, field: FieldDef, keyword: str | None = None) -> Sequence[FieldValue]:
        """The values of `field`: all of them (every page) when `keyword` is None, else those
        Procore's keyword search finds for it. Inactive values are included
        (`include_inactive=true`) so that a file naming one is told "inactive", not "unknown";
        only active ones are ever sent."""
        ...

    async def requirements(self) -> Sequence[Requirement]:
        """Every upload requirement rule of the project, in Procore's order."""
        ...
