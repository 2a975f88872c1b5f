"""Values by label or code, asked of Procore once per run: listed for option lists, searched by
keyword for long reference lists."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import anyio.lowlevel
import pytest

from bulkupload.metadata import FieldDef, FieldValue, InMemoryCatalog, ProblemKind
from bulkupload.metadata._lookup import Miss, ValueLookup
from tests.metadata.project import catalog

DISC = FieldDef("F-DISC", "discipline", "Discipline", "lov_entry")
STATUS = FieldDef("F-STATUS", "status", "Status", "lov_entry")
LOC = FieldDef("F-LOC", "location", "Location", "reference", variant="procore_location")


async def found_id(lookup: ValueLookup, field: FieldDef, text: str) -> str:
    found = await lookup.find(field, text)
    assert isinstance(found, FieldValue), found
    return found.id


@pytest.mark.parametrize("text", ["Electrical", "electrical", "E", "e"])
async def test_a_value_by_label_or_code_in_any_case(text: str) -> None:
    assert await found_id(ValueLookup(catalog()), DISC, text) == "D-E"


async def test_misses_say_why() -> None:
    lookup = ValueLookup(catalog())
    assert await lookup.find(STATUS, "Void") == Miss(
        ProblemKind.INACTIVE_VALUE, "is an inactive value of this field"
    )
    assert await lookup.find(DISC, "Elec") == Miss(
        ProblemKind.UNKNOWN_VALUE, "is not a label or code of a value of this field"
    )
    ambiguous = await lookup.find(LOC, "l1")
    assert ambiguous == Miss(
        ProblemKind.AMBIGUOUS_VALUE, "matches 2 values: Level 1 (L1), Lobby (L1)"
    )


async def test_the_label_is_tried_before_the_code() -> None:
    values = {"F": [FieldValue("1", "E", "X"), FieldValue("2", "Electrical", "E")]}
    field = FieldDef("F", "f", "F", "lov_entry")
    cat = InMemoryCatalog([field], values)
    assert await found_id(ValueLookup(cat), field, "E") == "1"
    # An inactive label does not hide an active code.
    values = {"F": [FieldValue("1", "E", "X", active=False), FieldValue("2", "Electrical", "E")]}
    cat = InMemoryCatalog([field], values)
    assert await found_id(ValueLookup(cat), field, "E") == "2"


async def test_option_lists_are_listed_once_per_run() -> None:
    cat = catalog()
    lookup = ValueLookup(cat)
    for text in ["E", "Mechanical", "nope", "E", "a", "nope"]:
        await lookup.find(DISC, text)
    assert cat.value_calls("F-DISC") == [None]


async def test_reference_values_are_searched_by_keyword_then_kept() -> None:
    cat = catalog()
    lookup = ValueLookup(cat)
    for text in ["Level 3", "Level 4", "Level 3"]:
        await lookup.find(LOC, text)
    assert cat.value_calls("F-LOC") == ["Level 3", "Level 4"]


async def test_a_keyword_miss_lists_the_field_once() -> None:
    # The keyword search may not cover codes: a miss lists the field, and the list answers after.
    cat = catalog()
    lookup = ValueLookup(cat)
    assert await found_id(lookup, LOC, "L3") == "L-3"
    assert await found_id(lookup, LOC, "L4") == "L-4"
    assert await found_id(lookup, LOC, "Level 5") == "L-5"
    assert cat.value_calls("F-LOC") == ["L3", None]


async def test_many_distinct_texts_switch_to_one_listing() -> None:
    cat = catalog()
    lookup = ValueLookup(cat, keyword_limit=3)
    for n in range(1, 10):
        assert await found_id(lookup, LOC, f"Level {n}") == f"L-{n}"
    assert cat.value_calls("F-LOC") == ["Level 1", "Level 2", "Level 3", None]


class YieldingCatalog(InMemoryCatalog):
    """Answers after giving other tasks a turn, as a real API call does."""

    async def values(self, field: FieldDef, keyword: str | None = None) -> Sequence[FieldValue]:
        await anyio.lowlevel.checkpoint()
        return await super().values(field, keyword)


async def test_concurrent_lookups_ask_once() -> None:
    sample = catalog()
    cat = YieldingCatalog(await sample.fields(), sample._values, await sample.requirements())
    lookup = ValueLookup(cat)
    async with anyio.create_task_group() as tasks:
        for _ in range(50):
            tasks.start_soon(lookup.find, DISC, "E")
            tasks.start_soon(lookup.find, LOC, "Level 7")
    assert cat.value_calls("F-DISC") == [None]
    assert cat.value_calls("F-LOC") == ["Level 7"]
