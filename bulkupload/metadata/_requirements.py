"""Which upload requirement applies to a file's values, and which required fields it lacks.

As Procore's guide says (procore/documentation, document_management_technical_guide.md, step 1):
a conditional rule applies when all its `rule_qualifiers` match the document's values, the one
with the most qualifiers wins (a tie: the first in Procore's order), and otherwise the default
rule (empty qualifiers) applies. Required fields are `fields_required_by_project` plus
`additional_required_fields`.

Qualifiers are checked against the values this run sends. A field Procore would fill itself
(naming standard, ML) cannot be seen here, so a file that relies on it for a qualifier field
(say Type) is checked against the default rule: give such fields explicitly to be sure.

A required field is not asked of the user when Procore fills it: a field of the rule's naming
standard (scraped from the file name; a value given anyway is sent and wins), a computed field
(`variant: computed`, as Name is: Procore derives it from the file name), and a field this
project does not let the API set (readonly, inactive, invisible, or not among its fields).
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence

from ._outcome import FieldSetting
from ._records import FieldDef, FieldRef, Qualifier, Requirement

__all__ = ["choose_requirement", "missing_fields", "user_fillable"]


def choose_requirement(
    requirements: Sequence[Requirement], settings: Mapping[str, FieldSetting]
) -> Requirement | None:
    """The requirement for a file whose values are `settings` (by field id), or None."""
    best: Requirement | None = None
    for requirement in requirements:
        if requirement.is_default:
            continue
        if all(_matches(q, settings.get(q.field.id)) for q in requirement.qualifiers) and (
            best is None or len(requirement.qualifiers) > len(best.qualifiers)
        ):
            best = requirement
    if best is not None:
        return best
    return next((r for r in requirements if r.is_default), None)


def _matches(qualifier: Qualifier, setting: FieldSetting | None) -> bool:
    if setting is None:
        return False
    if not qualifier.acceptable_ids.isdisjoint(setting.values):
        return True
    # Literal fields (and values Procore named only by label): compare the texts.
    texts = (*setting.values, setting.text)
    return any(text.casefold() in qualifier.acceptable_labels for text in texts)


def user_fillable(ref: FieldRef, fields: Mapping[str, FieldDef]) -> FieldDef | None:
    """The project field behind a required `ref` when the user is the one to fill it."""
    field = fields.get(ref.id)
    if field is None or field.not_settable or ref.readonly:
        return None
    if "computed" in (field.variant, ref.variant):
        return None
    return field


def missing_fields(
    requirement: Requirement | None, given: Container[str], fields: Mapping[str, FieldDef]
) -> list[FieldRef]:
    """The required fields of `requirement` that no value was `given` for (by field id) and
    that the user is the one to fill."""
    if requirement is None:
        return []
    standard = requirement.naming_standard
    scraped = {k for ref in standard.fields for k in (ref.id, ref.name) if k} if standard else set()
    return [
        ref
        for ref in requirement.required
        if ref.id not in given
        and ref.id not in scraped
        and ref.name not in scraped
        and user_fillable(ref, fields)
    ]
