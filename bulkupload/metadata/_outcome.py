"""What metadata resolution decides for one file: the field values to send, the upload
requirement that applies, and every problem found. Small and frozen: the pipeline holds one per
file in flight, and the catalog records they point to are shared, not copied."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ._records import FieldDef, Requirement

__all__ = ["FieldSetting", "FileMetadata", "Problem", "ProblemKind"]


class ProblemKind(enum.StrEnum):
    """Why a file's metadata is not ready for Procore."""

    MISSING = "missing"  # a required field has no value
    UNKNOWN_VALUE = "unknown value"  # no value of the field has that label or code
    INACTIVE_VALUE = "inactive value"  # the value exists but is switched off
    AMBIGUOUS_VALUE = "ambiguous value"  # several active values match the text
    WRONG_TYPE = "wrong type"  # not a number, not a date, several values for one...
    NOT_SETTABLE = "not settable"  # readonly, inactive or invisible field
    UNKNOWN_FIELD = "unknown field"  # a rules-file key or sidecar column names no field


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem of one file. `field` is the field's label (for an unknown field, the key as
    written); `given` the text as given and `source` where it came from ("rule 3",
    "rule 3 defaults", "defaults", "sidecar"); `reason` completes the sentence."""

    kind: ProblemKind
    field: str
    reason: str
    given: str | None = None
    source: str | None = None
    field_id: str | None = None

    def __str__(self) -> str:
        if self.given is None:
            return f"{self.field}: {self.reason}"
        origin = f" (from {self.source})" if self.source else ""
        return f"{self.field}: {self.given!r}{origin} {self.reason}"


@dataclass(frozen=True, slots=True)
class FieldSetting:
    """One field ready for the PATCH: `values` are value ids (lookup fields) or the one literal
    (text, number, timestamp); `text` is what was given, several values joined by "; "."""

    field: FieldDef
    values: tuple[str, ...]
    text: str
    source: str

    def as_param(self) -> dict[str, str | list[str]]:
        """The `update_params[].fields[]` item: ``{"id": field id, "values": [...]}``."""
        return {"id": self.field.id, "values": list(self.values)}


@dataclass(frozen=True, slots=True)
class FileMetadata:
    """The metadata outcome of one file.

    `rule` is the number of the rules-file rule that matched (None: none did, only defaults and
    the sidecar applied). `requirement` is the upload requirement Procore applies to these
    values (None: the project has none that applies). Which document container the file joins
    is Procore's decision (its match criteria), not made here.
    """

    rel: str
    rule: int | None
    fields: tuple[FieldSetting, ...]
    requirement: Requirement | None
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        """No problem: every value resolved and every required field is given (or Procore
        fills it from the file name)."""
        return not self.problems

    @property
    def allow_duplicate_revisions(self) -> bool | None:
        """The requirement's `allow_duplicate_revisions`, for the destination (None: no rule)."""
        return None if self.requirement is None else self.requirement.allow_duplicate_revisions

    def update_fields(self) -> list[dict[str, str | list[str]]]:
        """The `fields` array of this file's `update_params` item in the PATCH."""
        return [setting.as_param() for setting in self.fields]
