"""A sample Document Management project, as Procore's API would describe it (shapes from the
contract; checked against it in test_records), and helpers to build catalogs and resolvers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from bulkupload.metadata import (
    FieldDef,
    FieldValue,
    InMemoryCatalog,
    MetadataResolver,
    Requirement,
    parse_rules,
    parse_sidecar,
)
from tests.contract.validator import CONTRACT_DIR

OP = "RestV20CompaniesCompanyIdProjectsProjectIdDocumentManagement"


def contract(name: str) -> dict[str, Any]:
    """One contract file, e.g. contract("FieldsGet")."""
    data: dict[str, Any] = json.loads((CONTRACT_DIR / f"{OP}{name}.json").read_text())
    return data


def field(
    id: str, name: str, label: str, type: str, **extra: Any
) -> dict[str, Any]:  # the FieldsGet item shape
    item = {
        "id": id,
        "name": name,
        "label": label,
        "description": f"{label} of the document",
        "position": "1",
        "active": True,
        "visible": True,
        "readonly": False,
        "can_affect_permissions": False,
        "type": type,
    }
    return item | extra


FIELDS = [
    field("F-TYPE", "type", "Type", "lov_entry", variant="single_select"),
    field("F-NAME", "name", "Name", "string", variant="computed"),
    field("F-REV", "revision", "Revision", "string"),
    field("F-STATUS", "status", "Status", "lov_entry"),
    field("F-DISC", "discipline", "Discipline", "lov_entry"),
    field("F-NUM", "number", "Number", "string"),
    field("F-DESC", "description", "Description", "rich_text"),
    field("F-DATE", "date_authored", "Date Authored", "timestamp"),
    field("F-LOC", "location", "Location", "reference", variant="procore_location"),
    field("F-AUTH", "authored_by", "Authored By", "reference", variant="procore_user"),
    field("F-TRADES", "custom_field_7", "Trades", "lov_entries", custom_field_definition_id="7"),
    field("F-SHEETS", "custom_field_8", "Sheets", "numeric", custom_field_definition_id="8"),
    field("F-VOL", "volume", "Volume / System", "lov_entry", readonly=True),
    field("F-OLD", "custom_field_9", "Old Code", "string", active=False),
    field("F-HID", "custom_field_10", "Hidden", "string", visible=False),
]


def value(id: str, label: str, code: str = "", active: bool = True) -> dict[str, Any]:
    return {"id": id, "code": code, "label": label, "active": active, "tags": []}


VALUES = {
    "F-TYPE": [value("T-DRW", "Drawing", "DRW"), value("T-SPC", "Specification", "SPC")],
    "F-STATUS": [
        value("S-IFC", "Issued for Construction", "IFC"),
        value("S-IFR", "Issued for Review", "IFR"),
        value("S-VOID", "Void", "VD", active=False),
    ],
    "F-DISC": [
        value("D-E", "Electrical", "E"),
        value("D-M", "Mechanical", "M"),
        value("D-A", "Architectural", "A"),
        value("D-S", "Structural", "S"),
        value("D-P", "Plumbing", "P"),
    ],
    "F-LOC": [value(f"L-{n}", f"Level {n}", f"L{n}") for n in range(1, 40)]
    + [value("L-LOBBY", "Lobby", "L1")],  # code L1 twice: the text "L1" is ambiguous
    "F-TRADES": [value("TR-EL", "Electrical", "EL"), value("TR-HV", "HVAC", "HV")],
}


def ref(fid: str) -> dict[str, Any]:
    """A required-field item as upload requirements list it (the full field shape)."""
    return next(f for f in FIELDS if f["id"] == fid)


BASE_REQUIRED = [ref("F-TYPE"), ref("F-NAME"), ref("F-REV"), ref("F-STATUS")]

REQUIREMENTS = [
    {  # the default rule
        "id": "R-DEFAULT",
        "naming_standard": None,
        "fields_required_by_project": BASE_REQUIRED,
        "additional_required_fields": [],
        "rule_qualifiers": [],
        "allow_duplicate_revisions": True,
    },
    {  # drawings also need a discipline and a number
        "id": "R-DRAWING",
        "naming_standard": None,
        "fields_required_by_project": BASE_REQUIRED,
        "additional_required_fields": [ref("F-DISC"), ref("F-NUM")],
        "rule_qualifiers": [
            {
                "type": "lov_entry",
                "field": {"id": "F-TYPE", "name": "type", "label": "Type"},
                "acceptable_values": [value("T-DRW", "Drawing", "DRW")],
            }
        ],
        "allow_duplicate_revisions": False,
    },
    {  # electrical drawings also need the date authored
        "id": "R-ELEC-DRAWING",
        "naming_standard": None,
        "fields_required_by_project": BASE_REQUIRED,
        "additional_required_fields": [ref("F-DISC"), ref("F-NUM"), ref("F-DATE")],
        "rule_qualifiers": [
            {
                "type": "lov_entry",
                "field": {"id": "F-TYPE", "name": "type", "label": "Type"},
                "acceptable_values": [value("T-DRW", "Drawing", "DRW")],
            },
            {
                "type": "lov_entry",
                "field": {"id": "F-DISC", "name": "discipline", "label": "Discipline"},
                "acceptable_values": [value("D-E", "Electrical", "E")],
            },
        ],
        "allow_duplicate_revisions": False,
    },
]


def catalog(
    *,
    fields: Iterable[Mapping[str, Any]] = FIELDS,
    values: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
    requirements: Iterable[Mapping[str, Any]] = REQUIREMENTS,
) -> InMemoryCatalog:
    """An in-memory catalog of the sample project (or of the shapes given)."""
    return InMemoryCatalog(
        [FieldDef.from_json(f) for f in fields],
        {k: [FieldValue.from_json(v) for v in vs] for k, vs in (values or VALUES).items()},
        [Requirement.from_json(r) for r in requirements],
    )


async def resolver(
    rules: str = "",
    sidecar: str | None = None,
    cat: InMemoryCatalog | None = None,
    **options: Any,
) -> MetadataResolver:
    """A resolver over the sample project with a rules file's text and a sidecar's text."""
    return await MetadataResolver.create(
        cat or catalog(),
        parse_rules(rules, source="rules.toml"),
        None if sidecar is None else parse_sidecar(sidecar.splitlines(True), source="meta.csv"),
        **options,
    )


DRAWING_RULES = """
[defaults]
status = "Issued for Construction"

[[rule]]
match = "Drawings/{discipline}/{number}_{title}.pdf"
[rule.fields]
type = "Drawing"
discipline = "{discipline}"
number = "{number}"
revision = "{revision|A}"
description = "{title}"

[[rule]]
regex = '^Specs/(?P<number>\\d{6}) (?P<title>[^/]+)\\.docx$'
[rule.fields]
type = "SPC"
revision = "0"
"""
