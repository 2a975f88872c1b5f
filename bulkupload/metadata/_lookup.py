"""Given text to a value id of a lookup field (lov_entry, lov_entries, reference), asked of
Procore once per run and kept.

A text names a value by its label or its code ("Electrical" or "E"), tried in this order: the
exact label, the label ignoring case, the code ignoring case; the first of these that matches
one active value decides. Several active values at that step is "ambiguous"; only inactive
ones (at any step) is "inactive"; nothing is "unknown".

How values are fetched, per field:
  lov_entry, lov_entries  listed whole, once: these are option lists a project admin keeps
                          (types, disciplines, statuses), short by nature.
  reference               may be long (locations, projects, workflows): each distinct text is
                          asked with `keyword` (Procore's guide suggests it for large lists),
                          and the field is listed whole instead, once, as soon as a keyword
                          search finds no match (the search may not cover codes) or after
                          `keyword_limit` distinct texts (listing is then the cheaper way).
So a field costs at most keyword_limit + 1 calls per run; answers, misses included, are kept
for the run (memory: the values of the fields listed, plus one entry per distinct text).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import anyio

from ._catalog import Catalog
from ._outcome import ProblemKind
from ._records import FieldDef, FieldType, FieldValue

__all__ = ["KEYWORD_LIMIT", "Miss", "ValueLookup"]

KEYWORD_LIMIT = 20


@dataclass(frozen=True, slots=True)
class Miss:
    """A text that names no usable value: `kind` and the end of a sentence saying why."""

    kind: ProblemKind
    reason: str


@dataclass(slots=True)
class _Index:
    """Values by exact label, by casefolded label and by casefolded code."""

    steps: tuple[dict[str, list[FieldValue]], ...]

    @classmethod
    def of(cls, values: Iterable[FieldValue]) -> _Index:
        exact: dict[str, list[FieldValue]] = defaultdict(list)
        label: dict[str, list[FieldValue]] = defaultdict(list)
        code: dict[str, list[FieldValue]] = defaultdict(list)
        for value in values:
            exact[value.label].append(value)
            label[value.label.casefold()].append(value)
            if value.code:
                code[value.code.casefold()].append(value)
        return cls((dict(exact), dict(label), dict(code)))

    def pick(self, text: str) -> FieldValue | Miss:
        inactive = False
        for step, key in zip(self.steps, (text, text.casefold(), text.casefold()), strict=True):
            found = step.get(key, ())
            active = list({v.id: v for v in found if v.active}.values())
            if len(active) == 1:
                return active[0]
            if active:
                names = ", ".join(_name(v) for v in active[:5])
                return Miss(ProblemKind.AMBIGUOUS_VALUE, f"matches {len(active)} values: {names}")
            inactive = inactive or bool(found)
        if inactive:
            return Miss(ProblemKind.INACTIVE_VALUE, "is an inactive value of this field")
        return Miss(ProblemKind.UNKNOWN_VALUE, "is not a label or code of a value of this field")


def _name(value: FieldValue) -> str:
    return f"{value.label} ({value.code})" if value.code else value.label


@dataclass(slots=True)
class _FieldValues:
    """What is known of one field's values so far."""

    lock: anyio.Lock = dataclasses.field(default_factory=anyio.Lock)
    listing: _Index | None = None
    searched: dict[str, FieldValue | Miss] = dataclasses.field(default_factory=dict)


class ValueLookup:
    """Text to value, per field, through a `Catalog`, cached for the run. Safe to use from
    many tasks: one field's fetches are serialised, so each is made once."""

    def __init__(self, catalog: Catalog, *, keyword_limit: int = KEYWORD_LIMIT) -> None:
        self._catalog = catalog
        self._keyword_limit = keyword_limit
        self._fields: dict[str, _FieldValues] = {}

    async def find(self, field: FieldDef, text: str) -> FieldValue | Miss:
        """The active value of `field` that `text` names, or why there is none."""
        known = self._fields.setdefault(field.id, _FieldValues())
        if (answer := _known(known, text)) is not None:
            return answer
        async with known.lock:
            if (answer := _known(known, text)) is not None:  # found while we waited
                return answer
            if field.type != FieldType.REFERENCE or len(known.searched) >= self._keyword_limit:
                known.listing = _Index.of(await self._catalog.values(field))
                return known.listing.pick(text)
            answer = _Index.of(await self._catalog.values(field, keyword=text)).pick(text)
            if isinstance(answer, Miss) and answer.kind is ProblemKind.UNKNOWN_VALUE:
                known.listing = _Index.of(await self._catalog.values(field))
                answer = known.listing.pick(text)
            known.searched[text] = answer
            return answer


def _known(known: _FieldValues, text: str) -> FieldValue | Miss | None:
    if known.listing is not None:
        return known.listing.pick(text)
    return known.searched.get(text)
