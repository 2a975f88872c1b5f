"""Which requirement rule applies to an upload, what it still lacks, and where it will be filed.

Rules (technical guide, step 1): a conditional rule applies when all its qualifiers match the
upload's values; of several, the one with the most qualifiers wins; otherwise the default rule
(no qualifiers). Required = `fields_required_by_project` + `additional_required_fields`.

Containers: the intro says revisions are grouped by "match criteria derived from key metadata
(often including Name and Format)", and the metadata details show `match_criteria` as
`"TEST4-SP-I-17|application/pdf"`. The emulator's match criteria is exactly that: the `name`
field's value, `|`, the upload's MIME type (the file name stands in for a missing name). On a
project with a naming standard the name is what scraping computed (e.g. `A-101`), so every
revision of `A-101_*.pdf` lands in one container.
"""

from __future__ import annotations

from .model import DocumentUpload
from .settings import PdmField, PdmProject, Requirement


def applicable_rule(project: PdmProject, upload: DocumentUpload) -> Requirement:
    best: Requirement | None = None
    for rule in project.requirements:
        if not all(_matches(project, upload, q.field, q.acceptable) for q in rule.qualifiers):
            continue
        if best is None or len(rule.qualifiers) > len(best.qualifiers):
            best = rule
    if best is None:  # a configuration without a default rule: nothing is required
        return Requirement("", ())
    return best


def _matches(
    project: PdmProject, upload: DocumentUpload, name: str, acceptable: tuple[str, ...]
) -> bool:
    field = project.field_named(name)
    return field is not None and bool(set(upload.held(field.id)) & set(acceptable))


def missing(project: PdmProject, upload: DocumentUpload) -> list[PdmField]:
    """The required fields of the applicable rule that hold no value."""
    rule = applicable_rule(project, upload)
    wanted = dict.fromkeys((*rule.required, *rule.additional))
    fields = [project.field_named(name) for name in wanted]
    return [f for f in fields if f is not None and not upload.held(f.id)]


def literal(project: PdmProject, upload: DocumentUpload, name: str) -> str | None:
    """The one value of a literal field (`name`, `revision`), if it holds one."""
    field = project.field_named(name)
    held = () if field is None else upload.held(field.id)
    return held[0] if held else None


def match_criteria(project: PdmProject, upload: DocumentUpload) -> str:
    name = literal(project, upload, "name") or upload.file_name
    return f"{name}|{upload.mime_type}"
