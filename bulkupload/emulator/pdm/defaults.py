"""The emulator's default Document Management set-up, one per project of the default companies.

Every project has the same field catalogue (`catalogue`, ids differ per project: `pdm_id`) and the
baseline requirement the guide names (Name, Type, Status, Revision). What differs:

- project 42 (company 1): a default rule and a conditional one (Type = Drawing also needs
  Discipline and Number); `allow_duplicate_revisions: false`.
- project 100 (company 1): the same two rules, duplicates allowed, and a naming standard
  `{discipline}-{number}_{revision}.{ext}` (e.g. `A-101_B.pdf`: Discipline by its code, Number,
  Revision; Name becomes `A-101`).
- project 200 (company 2): the default rule only, duplicates allowed, and a workflow (Standard
  Review) that every revision starts, so a second revision of a document conflicts.

Identities: `pdm-no-submit-client-id` lacks "Submit New Files", `pdm-no-upload-client-id`
lacks "Upload New Files"; every other client holds both.
"""

from __future__ import annotations

from dataclasses import replace

from .settings import (
    SUBMIT_NEW_FILES,
    UPLOAD_NEW_FILES,
    FieldType,
    NamingStandard,
    PdmField,
    PdmProject,
    PdmValue,
    Qualifier,
    Requirement,
    Workflow,
    pdm_id,
)

PDM_CLIENTS = {
    "pdm-no-submit-client-id": "pdm-no-submit-client-secret",
    "pdm-no-upload-client-id": "pdm-no-upload-client-secret",
}
DEFAULT_PDM_PERMISSIONS = {
    "pdm-no-submit-client-id": frozenset({UPLOAD_NEW_FILES}),
    "pdm-no-upload-client-id": frozenset({SUBMIT_NEW_FILES}),
}
BASELINE = ("name", "type", "status", "revision")
DRAWING_TAG = "ML:auto-detect.type.drawing"


def _v(code: str, label: str, active: bool = True, tag: str | None = None) -> PdmValue:
    """A value template: its id is given per project by `catalogue`."""
    return PdmValue("", code, label, active, () if tag is None else (tag,))


def _f(name: str, kind: FieldType, label: str, description: str, *values: PdmValue) -> PdmField:
    return PdmField("", name, label, kind, description, values)


_CATALOGUE: tuple[PdmField, ...] = (
    _f("name", "string", "Name", "A document's unique identifier"),
    replace(
        _f(
            "type",
            "lov_entry",
            "Type",
            "The document type",
            _v("DRW", "Drawing", tag=DRAWING_TAG),
            _v("SPC", "Specification", tag="ML:auto-detect.type.specification"),
            _v("RPT", "Report"),
            _v("SUP", "Superseded", active=False),
        ),
        can_affect_permissions=True,
    ),
    replace(
        _f(
            "status",
            "lov_entry",
            "Status",
            "The document status",
            _v("OPN", "Open"),
            _v("INR", "In Review"),
            _v("APR", "Approved"),
            _v("CLS", "Closed"),
            _v("VOD", "Void", active=False),
        ),
        can_affect_permissions=True,
    ),
    _f("revision", "string", "Revision", "The document revision identifier"),
    _f(
        "discipline",
        "lov_entry",
        "Discipline",
        "Discipline associated with the document",
        _v("A", "Architectural"),
        _v("S", "Structural"),
        _v("M", "Mechanical"),
        _v("E", "Electrical"),
        _v("L", "Landscape", active=False),
    ),
    _f("number", "string", "Number", "The document number"),
    _f("description", "rich_text", "Description", "A brief title for the document"),
    _f("date_authored", "timestamp", "Date Authored", "Date the document was created"),
    replace(
        _f(
            "location",
            "reference",
            "Location",
            "Location associated with the document",
            _v("L1", "Level 1"),
            _v("L2", "Level 2"),
            _v("RF", "Roof"),
        ),
        variant="procore_location",
    ),
    replace(
        _f(
            "custom_field_501",
            "lov_entries",
            "Trades",
            "Custom Field",
            _v("03", "Concrete"),
            _v("05", "Metals"),
            _v("23", "HVAC"),
            _v("26", "Electrical"),
            _v("04", "Masonry", active=False),
        ),
        custom_field_definition_id="501",
    ),
    _f("page_count", "numeric", "Page Count", "Number of pages"),
    # Readonly, set by the system on every upload (its one value is made per project).
    replace(
        _f("project", "reference", "Project", "An abbreviation of the project's name"),
        readonly=True,
        variant="procore_project",
    ),
    replace(
        _f(
            "volume",
            "lov_entry",
            "Volume / System",
            "Groups related documents together",
            _v("V1", "Volume 1"),
        ),
        active=False,
    ),
)


def catalogue(project: int) -> tuple[PdmField, ...]:
    """The fields of `project`: field n (1-based, in `_CATALOGUE` order) has id
    `pdm_id(project, "F", n)`, its i-th value `pdm_id(project, "V", 100 n + i)`, except
    reference values, whose ids are numbers as Procore's location ids are (`1000 project + i`)."""
    fields = []
    for number, template in enumerate(_CATALOGUE, 1):
        values = tuple(
            replace(
                value,
                id=str(1000 * project + i)
                if template.type == "reference"
                else pdm_id(project, "V", 100 * number + i),
            )
            for i, value in enumerate(template.values, 1)
        )
        field = replace(template, id=pdm_id(project, "F", number), values=values)
        if field.name == "project":
            own = PdmValue(str(project), f"P{project}", f"Project {project}")
            field = replace(field, values=(own,), system_value=own.id)
        fields.append(field)
    return tuple(fields)


def system_fields(project: int) -> tuple[PdmField, ...]:
    """Fields every upload shows but nobody sets (List Project Fields leaves them out)."""
    return (
        PdmField(
            pdm_id(project, "S", 1),
            "original_filename",
            "Original Filename",
            "string",
            "Original file name of a document at the time of upload",
            readonly=True,
        ),
    )


def _value_id(fields: tuple[PdmField, ...], field: str, code: str) -> str:
    found = next(f for f in fields if f.name == field)
    return next(v.id for v in found.values if v.code == code)


def project_setup(
    project: int,
    *,
    conditional: bool = True,
    allow_duplicate_revisions: bool = True,
    naming_standard: bool = False,
    workflow: bool = False,
) -> PdmProject:
    """A project with the catalogue and the baseline rule, plus what is asked for."""
    fields = catalogue(project)
    rules = [
        Requirement(
            pdm_id(project, "R", 1),
            BASELINE,
            allow_duplicate_revisions=allow_duplicate_revisions,
        )
    ]
    if conditional:
        drawing = Qualifier("type", (_value_id(fields, "type", "DRW"),))
        rules.append(
            Requirement(
                pdm_id(project, "R", 2),
                BASELINE,
                additional=("discipline", "number"),
                qualifiers=(drawing,),
                allow_duplicate_revisions=allow_duplicate_revisions,
            )
        )
    standard = None
    if naming_standard:
        standard = NamingStandard(
            pdm_id(project, "N", 1),
            "Discipline-Number_Revision",
            "{discipline}-{number}_{revision}.{ext}",
            "{discipline}-{number}",
        )
    return PdmProject(
        fields,
        tuple(rules),
        system_fields(project),
        naming_standard=standard,
        workflow=Workflow("Standard Review") if workflow else None,
    )


def default_pdm_projects() -> dict[int, PdmProject]:
    """Projects 42, 100 (company 1) and 200 (company 2) as the module docstring says."""
    return {
        42: project_setup(42, allow_duplicate_revisions=False),
        100: project_setup(100, naming_standard=True),
        200: project_setup(200, conditional=False, workflow=True),
    }
