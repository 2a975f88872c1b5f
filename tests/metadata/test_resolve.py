"""From a path to what Procore needs: values resolved, the right upload requirement, and every
problem said per file."""

from __future__ import annotations

import unicodedata
from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulkupload.metadata import FileMetadata, MetadataResolver, ProblemKind, parse_rules
from tests.metadata.project import DRAWING_RULES, FIELDS, REQUIREMENTS, catalog, field, resolver


def sent(outcome: FileMetadata) -> dict[str, list[str]]:
    return {str(f["id"]): list(f["values"]) for f in outcome.update_fields()}


def problems(outcome: FileMetadata) -> list[str]:
    return [str(problem) for problem in outcome.problems]


async def test_a_drawing_gets_its_values_and_the_drawing_requirement() -> None:
    outcome = await (await resolver(DRAWING_RULES)).resolve("Drawings/M/M-201_Duct layout.pdf")
    assert outcome.ok, problems(outcome)
    assert outcome.rule == 1
    assert sent(outcome) == {
        "F-TYPE": ["T-DRW"],
        "F-REV": ["A"],
        "F-STATUS": ["S-IFC"],
        "F-DISC": ["D-M"],
        "F-NUM": ["M-201"],
        "F-DESC": ["Duct layout"],
    }
    assert outcome.requirement is not None
    assert outcome.requirement.id == "R-DRAWING"
    assert outcome.allow_duplicate_revisions is False


async def test_the_rule_with_most_qualifiers_matched_wins() -> None:
    outcome = await (await resolver(DRAWING_RULES)).resolve("Drawings/E/E-101_Lighting.pdf")
    assert outcome.requirement is not None
    assert outcome.requirement.id == "R-ELEC-DRAWING"
    assert problems(outcome) == ["Date Authored: is required and has no value"]
    assert outcome.problems[0].kind is ProblemKind.MISSING
    assert outcome.problems[0].field_id == "F-DATE"


async def test_other_files_fall_back_to_the_default_requirement() -> None:
    meta = await resolver(DRAWING_RULES)
    spec = await meta.resolve("Specs/260500 Wiring.docx")
    assert spec.ok, problems(spec)
    assert spec.rule == 2
    assert spec.requirement is not None
    assert spec.requirement.id == "R-DEFAULT"
    assert sent(spec) == {"F-TYPE": ["T-SPC"], "F-REV": ["0"], "F-STATUS": ["S-IFC"]}
    photo = await meta.resolve("Photos/site.jpg")
    assert photo.rule is None
    # Name is required too, but Procore computes it from the file name: not asked for.
    assert problems(photo) == [
        "Type: is required and has no value",
        "Revision: is required and has no value",
    ]


async def test_the_sidecar_wins_over_the_rules_where_a_cell_is_filled() -> None:
    sidecar = "path,Revision,status,Discipline\nDrawings/M/M-201_Duct.pdf,C,,\n"
    meta = await resolver(DRAWING_RULES, sidecar)
    outcome = await meta.resolve("Drawings/M/M-201_Duct.pdf")
    assert sent(outcome)["F-REV"] == ["C"]
    assert sent(outcome)["F-STATUS"] == ["S-IFC"]  # an empty cell leaves the rules' value
    assert next(s for s in outcome.fields if s.field.id == "F-REV").source == "sidecar"
    assert meta.unmatched_sidecar_paths() == []


async def test_sidecar_rows_for_paths_not_in_the_tree_are_reported() -> None:
    meta = await resolver("", "path,Type\na.pdf,Drawing\n.\\gone\\b.pdf,Drawing\n")
    await meta.resolve("a.pdf")
    assert meta.unmatched_sidecar_paths() == ["gone/b.pdf"]


async def test_the_sidecar_alone_is_enough() -> None:
    meta = await MetadataResolver.create(catalog())
    outcome = await meta.resolve("a.pdf")
    assert outcome.rule is None
    assert [p.field for p in outcome.problems] == ["Type", "Revision", "Status"]


async def test_unknown_field_keys_are_problems_of_the_files_they_touch() -> None:
    rules = '[[rule]]\nmatch = "D/**"\nfields = { dicipline = "E" }\n'
    meta = await resolver(rules, "path,Colour\nx.pdf,Red\ny.pdf,\n")
    touched = await meta.resolve("D/1.pdf")
    assert touched.problems[0].kind is ProblemKind.UNKNOWN_FIELD
    assert str(touched.problems[0]) == "dicipline: 'E' (from rule 1) names no field of this project"
    assert str((await meta.resolve("x.pdf")).problems[0]) == (
        "Colour: 'Red' (from sidecar) names no field of this project"
    )
    assert all(p.kind is ProblemKind.MISSING for p in (await meta.resolve("y.pdf")).problems)


async def test_field_keys_are_names_or_labels_in_any_case() -> None:
    rules = """
    [defaults]
    TYPE = "specification"
    "date authored" = "2025-01-02"
    custom_field_8 = 3
    "volume / system" = ""
    Status = "issued for construction"
    revision = "1"
    """
    outcome = await (await resolver(rules)).resolve("a.pdf")
    assert outcome.ok, problems(outcome)
    assert sent(outcome) == {
        "F-TYPE": ["T-SPC"],
        "F-REV": ["1"],
        "F-STATUS": ["S-IFC"],
        "F-DATE": ["2025-01-02T00:00:00Z"],
        "F-SHEETS": ["3"],
    }


async def test_a_label_shared_by_two_fields_must_be_given_by_name() -> None:
    zones = [
        field("F-Z1", "custom_field_11", "Zone", "string"),
        field("F-Z2", "zone", "Area", "string"),
        field("F-Z3", "custom_field_12", "ZONE", "string"),
    ]
    cat = catalog(fields=[*FIELDS, *zones], requirements=[])
    meta = await resolver("[defaults]\nzone = 'a'\ncustom_field_11 = 'b'", cat=cat)
    outcome = await meta.resolve("x.pdf")
    assert sent(outcome) == {"F-Z1": ["b"], "F-Z2": ["a"]}  # a name wins over a label
    meta = await resolver(
        "[defaults]\n'Zone ' = 'c'",
        cat=catalog(fields=[*FIELDS, zones[0], zones[2]], requirements=[]),
    )
    assert problems(await meta.resolve("x.pdf")) == [
        "Zone: 'c' (from defaults) is the label of 2 fields: use a name (custom_field_11, "
        "custom_field_12)"
    ]


async def test_values_fields_cannot_take_are_problems() -> None:
    rules = """
    [defaults]
    type = "Drawing"
    revision = "A"
    number = "1"
    status = ["Issued for Construction", "Issued for Review"]
    sheets = "ten"
    date_authored = "15/12/2025"
    authored_by = "Jane Doe"
    volume = "HVAC"
    custom_field_9 = "old"
    custom_field_10 = "hidden"
    trades = "Electrical;Plumbing; Roofs"
    discipline = "E;M"
    location = "L1"
    """
    outcome = await (await resolver(rules)).resolve("a.pdf")
    found = {(p.kind, p.field): str(p) for p in outcome.problems}
    wrong, unknown = ProblemKind.WRONG_TYPE, ProblemKind.UNKNOWN_VALUE
    assert found == {
        (wrong, "Status"): "Status: 'Issued for Construction; Issued for Review' (from defaults) "
        "is 2 values: the field takes one",
        (
            wrong,
            "Sheets",
        ): "Sheets: 'ten' (from defaults) is not a number (write it like 42 or 3.14)",
        (wrong, "Date Authored"): "Date Authored: '15/12/2025' (from defaults) is not an ISO date "
        "(write it like 2025-12-15)",
        (wrong, "Authored By"): "Authored By: 'Jane Doe' (from defaults) is not a Procore user id "
        "(a number)",
        (ProblemKind.NOT_SETTABLE, "Volume / System"): "Volume / System: 'HVAC' (from defaults) "
        "cannot be set: the field is readonly",
        (ProblemKind.NOT_SETTABLE, "Old Code"): "Old Code: 'old' (from defaults) cannot be set: "
        "the field is inactive",
        (ProblemKind.NOT_SETTABLE, "Hidden"): "Hidden: 'hidden' (from defaults) cannot be set: "
        "the field is invisible",
        (unknown, "Trades"): "Trades: 'Electrical;Plumbing; Roofs' (from defaults) includes "
        "'Roofs', which is not a label or code of a value of this field",
        (unknown, "Discipline"): "Discipline: 'E;M' (from defaults) is not a label or code of a "
        "value of this field",
        (ProblemKind.AMBIGUOUS_VALUE, "Location"): "Location: 'L1' (from defaults) matches 2 "
        "values: Level 1 (L1), Lobby (L1)",
    }
    # Plumbing is no trade either: each bad value of a list is its own problem.
    assert sum(p.field == "Trades" for p in outcome.problems) == 2
    # A required field given an unusable value is reported once, not also as missing.
    assert not any(p.kind is ProblemKind.MISSING for p in outcome.problems)
    assert sent(outcome) == {"F-TYPE": ["T-DRW"], "F-REV": ["A"], "F-NUM": ["1"]}


async def test_a_field_type_bulkupload_does_not_know_is_a_problem() -> None:
    fields = [*FIELDS, field("F-NEW", "shape", "Shape", "string")]
    fields[-1]["type"] = "polygon"  # off-contract: read anyway, refused per file
    meta = await resolver("[defaults]\nshape = 'x'", cat=catalog(fields=fields))
    outcome = await meta.resolve("a.pdf")
    assert (
        str(outcome.problems[0])
        == "Shape: 'x' (from defaults) cannot be set: type 'polygon' is unknown"
    )


async def test_naming_standard_fields_need_not_be_given_but_are_sent() -> None:
    standard = {"id": "NS", "name": "Project", "fields": [{"id": "F-TYPE", "name": "type"}]}
    requirements: list[dict[str, Any]] = [REQUIREMENTS[0] | {"naming_standard": standard}]
    meta = await resolver(
        "[defaults]\nrevision='A'\nstatus='IFC'", cat=catalog(requirements=requirements)
    )
    assert (await meta.resolve("X-DR-001.pdf")).ok  # Type is scraped from the name by Procore
    meta = await resolver(
        "[defaults]\nrevision='A'\nstatus='IFC'\ntype='SPC'", cat=catalog(requirements=requirements)
    )
    assert sent(await meta.resolve("X-DR-001.pdf"))["F-TYPE"] == ["T-SPC"]  # given: it wins


async def test_no_requirement_rule_means_nothing_required() -> None:
    meta = await resolver("", cat=catalog(requirements=[]))
    outcome = await meta.resolve("a.pdf")
    assert outcome.ok
    assert outcome.requirement is None
    assert outcome.allow_duplicate_revisions is None
    assert outcome.update_fields() == []


async def test_qualifiers_on_text_fields_and_ties() -> None:
    by_number = {
        "type": "string",
        "field": {"id": "F-NUM", "name": "number", "label": "Number"},
        "acceptable_values": [{"label": "X-1"}],
    }
    first = REQUIREMENTS[1] | {"id": "FIRST", "rule_qualifiers": [by_number]}
    second = REQUIREMENTS[1] | {"id": "SECOND", "rule_qualifiers": [by_number]}
    meta = await resolver("[defaults]\nnumber = 'x-1'", cat=catalog(requirements=[second, first]))
    outcome = await meta.resolve("a.pdf")
    assert outcome.requirement is not None
    assert outcome.requirement.id == "SECOND"  # equal qualifier counts: Procore's order


async def test_lookups_are_made_once_for_many_files() -> None:
    cat = catalog()
    meta = await MetadataResolver.create(cat, parse_rules(DRAWING_RULES))
    for n in range(200):
        await meta.resolve(f"Drawings/{'EMA'[n % 3]}/{n}_T.pdf")
    assert [c for c in cat.calls if c[0] != "values"] == [
        ("fields", None, None),
        ("requirements", None, None),
    ]
    listed = sorted(str(call[1]) for call in cat.calls if call[0] == "values")
    assert listed == ["F-DISC", "F-STATUS", "F-TYPE"]


names = st.text(
    st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="/_"), min_size=1
).filter(lambda text: text.strip() != "")


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(number=names, title=names)
def test_captured_text_reaches_procore_as_named(number: str, title: str) -> None:
    async def main() -> FileMetadata:
        meta = await resolver(DRAWING_RULES)
        return await meta.resolve(f"Drawings/A/{number}_{title}.pdf")

    outcome = anyio.run(main)
    assert sent(outcome)["F-NUM"] == [unicodedata.normalize("NFC", number).strip()]
    assert sent(outcome)["F-DESC"] == [unicodedata.normalize("NFC", title).strip()]


async def test_required_fields_the_user_cannot_fill_are_not_asked_for() -> None:
    absent = field("F-GONE", "custom_field_99", "Gone", "string")  # not among the project's
    required = list(REQUIREMENTS[0]["fields_required_by_project"])
    required += [next(f for f in FIELDS if f["id"] == "F-VOL"), absent]  # readonly, unknown
    default = REQUIREMENTS[0] | {"fields_required_by_project": required}
    rules = "[defaults]\ntype='SPC'\nrevision='0'"
    meta = await resolver(rules, cat=catalog(requirements=[default]))
    assert problems(await meta.resolve("a.pdf")) == ["Status: is required and has no value"]
    assert [header for header, _ in meta.sheet_columns()] == ["Type", "Revision", "Status"]
    assert meta.unmatched_sidecar_paths() == []  # no sidecar at all


async def test_one_element_lists_and_empty_separated_lists() -> None:
    rules = "[defaults]\nrevision = ['B']\ntrades = ' ; '\nnumber = ['1', '']"
    outcome = await (await resolver(rules, cat=catalog(requirements=[]))).resolve("a.pdf")
    assert sent(outcome) == {"F-REV": ["B"], "F-NUM": ["1"]}
    assert problems(outcome) == ["Trades: ';' (from defaults) holds no value between the ';'"]
