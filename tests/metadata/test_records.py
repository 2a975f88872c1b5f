"""Catalog records read Procore's published shapes, and what a file sends is a valid PATCH."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from bulkupload.metadata import FieldDef, FieldRef, FieldValue, Requirement
from tests.metadata.project import FIELDS, REQUIREMENTS, VALUES, contract, resolver


def check(schema: dict[str, Any], body: Any) -> None:
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(body)]
    assert not errors, errors


def test_the_sample_project_has_the_published_shapes() -> None:
    check(contract("FieldsGet")["responses"]["200"]["schema"], {"data": FIELDS})
    for values in VALUES.values():
        check(
            contract("FieldsFieldIdOrNameValuesGet")["responses"]["200"]["schema"], {"data": values}
        )
    check(contract("UploadRequirementsGet")["responses"]["200"]["schema"], {"data": REQUIREMENTS})


def test_fields_values_and_requirements_are_read() -> None:
    field = FieldDef.from_json(FIELDS[0])
    assert field == FieldDef("F-TYPE", "type", "Type", "lov_entry", variant="single_select")
    assert FieldDef.from_json(FIELDS[-3]).not_settable == "readonly"
    assert FieldDef.from_json(FIELDS[-2]).not_settable == "inactive"
    assert FieldDef.from_json(FIELDS[-1]).not_settable == "invisible"
    assert FieldValue.from_json(VALUES["F-STATUS"][2]) == FieldValue("S-VOID", "Void", "VD", False)
    drawing = Requirement.from_json(REQUIREMENTS[1])
    assert [ref.label for ref in drawing.required] == [
        "Type",
        "Name",
        "Revision",
        "Status",
        "Discipline",
        "Number",
    ]
    assert drawing.qualifiers[0].field.id == "F-TYPE"
    assert drawing.qualifiers[0].acceptable_ids == {"T-DRW"}
    assert drawing.qualifiers[0].acceptable_labels == {"drawing"}
    assert not drawing.allow_duplicate_revisions
    assert Requirement.from_json(REQUIREMENTS[0]).is_default


def test_the_guides_condensed_shapes_are_read_too() -> None:
    # The guide's example lists naming-standard and required fields with id/name/label/type only.
    requirement = Requirement.from_json(
        {
            "id": "01JDXMPK01REQ0GHAT3KNWPB5V",
            "naming_standard": {
                "id": "NS",
                "name": "Procore Default",
                "fields": [{"id": "F-NUM", "name": "number", "label": "Number", "type": "string"}],
            },
            "fields_required_by_project": [{"id": "F-TYPE", "name": "type", "label": "Type"}],
            "additional_required_fields": [{"id": "F-TYPE", "name": "type", "label": "Type"}],
            "rule_qualifiers": [],
            "allow_duplicate_revisions": True,
        }
    )
    assert requirement.required == (FieldRef("F-TYPE", "type", "Type"),)  # once
    assert requirement.naming_standard is not None
    assert requirement.naming_standard.fields[0].name == "number"


@pytest.mark.parametrize(
    "shape",
    [{}, {"id": "x", "name": "n", "type": "string", "active": "yes"}, {"id": None, "name": "n"}],
)
def test_an_unusable_shape_raises_what_decoded_catches(shape: dict[str, Any]) -> None:
    with pytest.raises((KeyError, TypeError, ValueError)):
        FieldDef.from_json(shape)


async def test_update_fields_make_a_valid_patch() -> None:
    rules = """
    [defaults]
    type = "Drawing"
    status = "IFC"
    revision = "B"
    discipline = "E"
    number = "E-101"
    date_authored = 2025-12-15
    trades = "Electrical; HV"
    sheets = "12"
    description = "<p>Lighting</p>"
    location = "Level 3"
    authored_by = "8972757"
    """
    outcome = await (await resolver(rules)).resolve("E-101.pdf")
    assert outcome.ok, outcome.problems
    body = {
        "update_params": [
            {"id": "U1", "upload_status": "COMPLETED", "fields": outcome.update_fields()}
        ]
    }
    check(contract("DocumentUploadsPatch")["request"]["schema"], body)
    assert {f["id"]: f["values"] for f in outcome.update_fields()} == {
        "F-TYPE": ["T-DRW"],
        "F-REV": ["B"],
        "F-STATUS": ["S-IFC"],
        "F-DISC": ["D-E"],
        "F-NUM": ["E-101"],
        "F-DESC": ["<p>Lighting</p>"],
        "F-DATE": ["2025-12-15T00:00:00Z"],
        "F-LOC": ["L-3"],
        "F-AUTH": ["8972757"],
        "F-TRADES": ["TR-EL", "TR-HV"],
        "F-SHEETS": ["12"],
    }
