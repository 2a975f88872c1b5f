"""What runs after an upload is set COMPLETED: filename scraping (projects with a naming standard)
and ML (PDFs only), each `in_progress` until the store says they are done.

Procore's sources: the intro's "ML and Automated Features" (PDF only, asynchronous, user-provided
values win, predictions applied to fields left empty) and the metadata details (`label_source`
FILENAME_SCRAPING / SCRAPING_FAILED / ML / ML_FAILED, `confidence_score` for ML only). What ML
predicts is not published beyond the list of fields; the emulator predicts two of them: Type
(the value tagged `ML:auto-detect.type.drawing`, confidence 0.93) and Description (the file
name without its extension, 0.88). Scraping goes first, then ML fills what is still empty.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from .model import (
    DONE,
    ERROR,
    IN_PROGRESS,
    ML,
    ML_FAILED,
    NOT_APPLICABLE,
    SCRAPED,
    SCRAPING_FAILED,
    DocumentUpload,
    FieldValue,
)
from .settings import PdmField, PdmProject

ML_TYPE_TAG = "ML:auto-detect.type.drawing"
ML_FIELDS = ("type", "description")


def is_pdf(upload: DocumentUpload) -> bool:
    return upload.mime_type == "application/pdf" or upload.file_name.lower().endswith(".pdf")


def begin(upload: DocumentUpload, project: PdmProject, *, ml_fails: bool) -> None:
    """COMPLETED was set: which of the two runs, and whether ML will end in `error`."""
    upload.ml = IN_PROGRESS if is_pdf(upload) else NOT_APPLICABLE
    upload.scraping = IN_PROGRESS if project.naming_standard is not None else NOT_APPLICABLE
    upload.ml_fails = ml_fails


def finish(upload: DocumentUpload, project: PdmProject) -> None:
    """Both runs end now: their values go into the fields nobody has filled."""
    if upload.scraping == IN_PROGRESS:
        upload.scraping = _scrape(upload, project)
    if upload.ml == IN_PROGRESS:
        upload.ml = _predict(upload, project)


def _empty(upload: DocumentUpload, field: PdmField) -> bool:
    return not upload.held(field.id)


def _scrape(upload: DocumentUpload, project: PdmProject) -> str:
    standard = project.naming_standard
    assert standard is not None
    found = standard.scrape(upload.file_name)
    if found is None:  # the name does not fit: every field it would have filled failed
        for name in (*standard.field_names, "name"):
            field = project.field_named(name)
            if field is not None and _empty(upload, field):
                upload.fields[field.id] = FieldValue((), SCRAPING_FAILED)
        return ERROR
    for name in standard.field_names:
        field = project.field_named(name)
        if field is None or not _empty(upload, field):
            continue
        value = _scraped_value(field, found[name])
        upload.fields[field.id] = FieldValue(
            () if value is None else (value,), SCRAPING_FAILED if value is None else SCRAPED
        )
    name_field = project.field_named("name")
    if name_field is not None and _empty(upload, name_field):
        name = standard.name_template.format(**found)
        upload.fields[name_field.id] = FieldValue((name,), SCRAPED)
    return DONE


def _scraped_value(field: PdmField, text: str) -> str | None:
    """Text for a literal field; for a lookup, the active value whose code it is (any case)."""
    if not field.lookup:
        return text
    wanted = text.casefold()
    return next((v.id for v in field.values if v.active and v.code.casefold() == wanted), None)


def _predict(upload: DocumentUpload, project: PdmProject) -> str:
    for name in ML_FIELDS:
        field = project.field_named(name)
        if field is None or not field.active or not _empty(upload, field):
            continue
        if upload.ml_fails:
            upload.fields[field.id] = FieldValue((), ML_FAILED)
        elif name == "type":
            tagged = [v.id for v in field.values if v.active and ML_TYPE_TAG in v.tags]
            if tagged:
                upload.fields[field.id] = FieldValue((tagged[0],), ML, 0.93)
        else:
            stem = PurePosixPath(upload.file_name).stem
            upload.fields[field.id] = FieldValue((stem,), ML, 0.88)
    return ERROR if upload.ml_fails else DONE
