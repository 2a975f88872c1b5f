"""How one project's Document Management is set up (fields and their values, upload requirements,
naming standard, workflow) and which PDM permissions an identity holds. Pure data, frozen:
`EmulatorConfig.pdm_projects` maps a project id to its `PdmProject`; `pdm.defaults` has the
emulator's defaults.

Shapes follow what Procore publishes for List Project Fields, List Project Metadata Values and
List Project Upload Requirements (developers.procore.com reference, Document Management v2.0,
via the contract) and the technical guide (`document_management_technical_guide.md`: a default
rule with empty `rule_qualifiers`, conditional rules, the most matching qualifiers winning).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

FieldType = Literal[
    "string", "reference", "lov_entry", "lov_entries", "rich_text", "timestamp", "numeric"
]
LOOKUP_TYPES = frozenset({"lov_entry", "lov_entries", "reference"})
# Reference variants whose values endpoint answers `[]` (the guide's "known limitation").
USER_VARIANTS = frozenset({"procore_user", "procore_tool_user", "procore_users"})

# The two Document Management tool permissions the guide names; an identity needs both.
UPLOAD_NEW_FILES = "Upload New Files"
SUBMIT_NEW_FILES = "Submit New Files"
ALL_PERMISSIONS = frozenset({UPLOAD_NEW_FILES, SUBMIT_NEW_FILES})

_PLACEHOLDER = re.compile(r"\{([a-z0-9_]+)\}")


def pdm_id(project: int, kind: str, number: int) -> str:
    """A fixed, readable 26-character ULID-shaped id: `01JP` + project + kind letter + number
    (kind F field, V value, R requirement, N naming standard, S system field)."""
    return f"01JP{project:06d}{kind}{number:015d}"


@dataclass(frozen=True, slots=True)
class PdmValue:
    """One entry of a field's list of values (lookup fields only)."""

    id: str
    code: str
    label: str
    active: bool = True
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PdmField:
    """A project field as List Project Fields shows it, with its values when it is a lookup.

    `system_value`: a readonly field's value id that every upload carries (label_source SYSTEM).
    """

    id: str
    name: str
    label: str
    type: FieldType
    description: str
    values: tuple[PdmValue, ...] = ()
    active: bool = True
    visible: bool = True
    readonly: bool = False
    can_affect_permissions: bool = False
    variant: str | None = None
    custom_field_definition_id: str | None = None
    system_value: str | None = None

    def value(self, value_id: str) -> PdmValue | None:
        return next((v for v in self.values if v.id == value_id), None)

    @property
    def lookup(self) -> bool:
        return self.type in LOOKUP_TYPES


@dataclass(frozen=True, slots=True)
class Qualifier:
    """A rule applies when the upload's `field` (a name) holds one of `acceptable` (value ids)."""

    field: str
    acceptable: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Requirement:
    """One upload requirement rule: no qualifiers makes it the project's default rule."""

    id: str
    required: tuple[str, ...]  # field names: `fields_required_by_project`
    additional: tuple[str, ...] = ()  # field names: `additional_required_fields`
    qualifiers: tuple[Qualifier, ...] = ()
    allow_duplicate_revisions: bool = True


@dataclass(frozen=True, slots=True)
class NamingStandard:
    """File names of the form `pattern` fill the fields it names; `{ext}` is the extension.

    `name_template` (the same placeholders) builds the `name` field from the scraped text, as
    Procore computes a document's name from its naming standard.
    """

    id: str
    name: str
    pattern: str
    name_template: str

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(n for n in _PLACEHOLDER.findall(self.pattern) if n != "ext")

    def scrape(self, file_name: str) -> dict[str, str] | None:
        """The text of each placeholder in `file_name`, or None when the name does not fit."""
        regex, last = "", 0
        for match in _PLACEHOLDER.finditer(self.pattern):
            regex += re.escape(self.pattern[last : match.start()])
            body = "[^.]+" if match.group(1) == "ext" else ".+?"
            regex += f"(?P<{match.group(1)}>{body})"
            last = match.end()
        regex += re.escape(self.pattern[last:])
        found = re.fullmatch(regex, file_name)
        return None if found is None else found.groupdict()


@dataclass(frozen=True, slots=True)
class Workflow:
    """Every revision submitted on the project starts this workflow; another revision into a
    container whose current revision is still in it is a WORKFLOW_CONFLICT."""

    name: str
    step: str = "Under Review"


@dataclass(frozen=True, slots=True)
class PdmProject:
    """One project's Document Management configuration."""

    fields: tuple[PdmField, ...]
    requirements: tuple[Requirement, ...]
    system_fields: tuple[PdmField, ...] = ()  # shown on uploads, not by List Project Fields
    naming_standard: NamingStandard | None = None
    workflow: Workflow | None = None
    updated_at: str = "2026-01-09T09:38:08.847Z"

    def field(self, id_or_name: str) -> PdmField | None:
        """A user-settable field by id or by name (the values endpoint takes either)."""
        return next((f for f in self.fields if id_or_name in (f.id, f.name)), None)

    def field_named(self, name: str) -> PdmField | None:
        return next((f for f in self.fields if f.name == name), None)
