"""Document Management's project catalog as typed records: fields, their values, upload rules.

Shapes from the contract files `...DocumentManagementFieldsGet`, `...FieldsFieldIdOrNameValuesGet`
and `...UploadRequirementsGet` (`responses.200.schema`), which follow Procore's reference and
`procore/documentation` `document_management_integration/document_management_technical_guide.md`
(steps 1-3) and `document_management_metadata_details.md` (field types, value objects). Each
`from_json` reads one item of an answer's `data` array and raises KeyError, TypeError or
ValueError on an unusable shape, as `bulkupload.procore.remote.decoded` expects.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "USER_VARIANTS",
    "FieldDef",
    "FieldRef",
    "FieldType",
    "FieldValue",
    "NamingStandard",
    "Qualifier",
    "Requirement",
]


class FieldType(enum.StrEnum):
    """A field's `type`: what its `values` array holds on a PATCH."""

    STRING = "string"
    RICH_TEXT = "rich_text"
    NUMERIC = "numeric"
    TIMESTAMP = "timestamp"
    LOV_ENTRY = "lov_entry"
    LOV_ENTRIES = "lov_entries"
    REFERENCE = "reference"


#: Reference variants whose values endpoint answers `data: []` (a known Procore limitation):
#: their values are Procore user ids, listed by `GET /rest/v1.0/projects/{id}/users` instead.
USER_VARIANTS = frozenset({"procore_user", "procore_tool_user", "procore_users"})


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One project field (`GET .../fields`). `type` is kept as Procore sent it: a type this
    version does not know is reported per file, not refused for the whole catalog."""

    id: str
    name: str
    label: str
    type: str
    active: bool = True
    visible: bool = True
    readonly: bool = False
    variant: str | None = None
    custom_field_definition_id: str | None = None

    @property
    def not_settable(self) -> str | None:
        """Why a value given for this field cannot be sent (None: it can)."""
        if self.readonly:
            return "readonly"
        if not self.active:
            return "inactive"
        if not self.visible:
            return "invisible"
        return None

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> FieldDef:
        return cls(
            id=_text(obj["id"]),
            name=_text(obj["name"]),
            label=_text(obj.get("label") or obj["name"]),
            type=_text(obj["type"]),
            active=_flag(obj.get("active"), default=True),
            visible=_flag(obj.get("visible"), default=True),
            readonly=_flag(obj.get("readonly"), default=False),
            variant=_optional_text(obj.get("variant")),
            custom_field_definition_id=_optional_text(obj.get("custom_field_definition_id")),
        )


@dataclass(frozen=True, slots=True)
class FieldValue:
    """One value of a lookup field (`GET .../fields/{id}/values`): its id goes on the PATCH.
    `code` is the short form naming standards use ("E" for "Electrical"), often empty."""

    id: str
    label: str
    code: str = ""
    active: bool = True

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> FieldValue:
        return cls(
            id=_text(obj["id"]),
            label=_text(obj.get("label") or ""),
            code=_text(obj.get("code") or ""),
            active=_flag(obj.get("active"), default=True),
        )


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A field as upload requirements name it (id, name, label, and type when given)."""

    id: str
    name: str
    label: str
    type: str | None = None
    variant: str | None = None
    readonly: bool = False

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> FieldRef:
        name = _text(obj.get("name") or "")
        return cls(
            id=_text(obj["id"]),
            name=name,
            label=_text(obj.get("label") or name),
            type=_optional_text(obj.get("type")),
            variant=_optional_text(obj.get("variant")),
            readonly=_flag(obj.get("readonly"), default=False),
        )


@dataclass(frozen=True, slots=True)
class Qualifier:
    """One condition of a conditional upload rule: the document's value for `field` is one of
    `acceptable` (value ids for lookup fields, texts for literal ones)."""

    field: FieldRef
    type: str
    acceptable_ids: frozenset[str]
    acceptable_labels: frozenset[str]  # casefolded

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Qualifier:
        values = [v for v in obj["acceptable_values"] if isinstance(v, Mapping)]
        return cls(
            field=FieldRef.from_json(obj["field"]),
            type=_text(obj["type"]),
            acceptable_ids=frozenset(_text(v["id"]) for v in values if v.get("id") is not None),
            acceptable_labels=frozenset(
                _text(v["label"]).casefold() for v in values if v.get("label") is not None
            ),
        )


@dataclass(frozen=True, slots=True)
class NamingStandard:
    """The project's naming standard: Procore scrapes `fields` from each uploaded file name."""

    id: str
    name: str
    fields: tuple[FieldRef, ...]

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> NamingStandard:
        return cls(
            id=_text(obj["id"]),
            name=_text(obj.get("name") or ""),
            fields=tuple(FieldRef.from_json(f) for f in obj["fields"]),
        )


@dataclass(frozen=True, slots=True)
class Requirement:
    """One upload requirement rule. `required` is `fields_required_by_project` followed by
    `additional_required_fields` (each field once); no `qualifiers` marks the default rule."""

    id: str
    qualifiers: tuple[Qualifier, ...]
    required: tuple[FieldRef, ...]
    naming_standard: NamingStandard | None = None
    allow_duplicate_revisions: bool = True

    @property
    def is_default(self) -> bool:
        """The catch-all rule (empty `rule_qualifiers`)."""
        return not self.qualifiers

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Requirement:
        required: dict[str, FieldRef] = {}
        for key in ("fields_required_by_project", "additional_required_fields"):
            for item in obj.get(key) or ():
                ref = FieldRef.from_json(item)
                required.setdefault(ref.id, ref)
        standard = obj.get("naming_standard")
        return cls(
            id=_text(obj["id"]),
            qualifiers=tuple(Qualifier.from_json(q) for q in obj.get("rule_qualifiers") or ()),
            required=tuple(required.values()),
            naming_standard=None if standard is None else NamingStandard.from_json(standard),
            allow_duplicate_revisions=_flag(obj.get("allow_duplicate_revisions"), default=True),
        )


def _text(value: Any) -> str:
    """Ids arrive as strings in the contract; a number is accepted and kept as its digits."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return str(value)


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _flag(value: Any, *, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise TypeError(f"expected a boolean, got {type(value).__name__}")
    return value
