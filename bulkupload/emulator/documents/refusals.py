"""Varied answers for refusals whose status and wording Procore does not publish.

A sibling-name clash, an upload already attached, a checked-out file (outside file PATCH,
whose 409 is published) and a read-only item are each answered in one of `FORM_COUNT` forms:
a status among the plausible ones for that refusal, one of six body shapes that all fit the
contract's loose v1 error schema, and one of a few wordings. A seeded `random.Random` picks
the form per answer, so no client can pass by matching one; tests pin a form (or enumerate
them all) through `/_emulator/documents/clash-form(s)`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, get_args

from aiohttp import web

from .model import RefusalKind, Refused


@dataclass(frozen=True, slots=True)
class Wording:
    """`phrase` completes a field-level error ("name" + phrase); `sentence` stands alone."""

    field: str
    phrase: str
    sentence: str
    code: str


@dataclass(frozen=True, slots=True)
class KindForms:
    statuses: tuple[int, ...]
    wordings: tuple[Wording, ...]


# {subject}: "folder"/"file"/"upload"; {name}: the item's name or the upload's uuid.
KINDS: dict[RefusalKind, KindForms] = {
    "name_taken": KindForms(
        (422, 409, 400),
        (
            Wording("name", "has already been taken", "Name has already been taken", "taken"),
            Wording(
                "name",
                "is already in use in this folder",
                "A {subject} named '{name}' already exists in this folder",
                "duplicate_name",
            ),
            Wording(
                "name",
                "must be unique among its siblings",
                "Another item in the destination folder uses the name {name}",
                "conflict",
            ),
        ),
    ),
    "already_attached": KindForms(
        (422, 409, 400),
        (
            Wording(
                "upload_uuid", "has already been used", "Upload has already been used", "taken"
            ),
            Wording(
                "upload_uuid",
                "is attached to another file",
                "Upload {name} is already attached to a document",
                "upload_in_use",
            ),
            Wording(
                "upload_uuid",
                "is not available",
                "The requested upload can no longer be attached",
                "invalid_upload",
            ),
        ),
    ),
    "checked_out": KindForms(
        (409,),
        (
            Wording("base", "is checked out", "File is checked out by another user", "checked_out"),
            Wording(
                "base",
                "is locked by another user",
                "{name} is locked for editing by someone else",
                "locked",
            ),
            Wording(
                "base",
                "cannot be changed while checked out",
                "This file cannot be changed while it is checked out",
                "conflict",
            ),
        ),
    ),
    "read_only": KindForms(
        (403, 422, 400),
        (
            Wording("base", "is read only", "The {subject} {name} is read only", "read_only"),
            Wording(
                "base",
                "cannot be modified",
                "You do not have permission to modify this {subject}",
                "forbidden",
            ),
            Wording(
                "base",
                "is locked",
                "Changes to a read-only {subject} are not allowed",
                "not_permitted",
            ),
        ),
    ),
}

_Shape = Callable[[int, Wording, str], dict[str, Any]]


def _reason(status: int) -> str:
    return HTTPStatus(status).phrase


SHAPES: tuple[_Shape, ...] = (
    lambda status, w, sentence: {"errors": sentence},
    lambda status, w, sentence: {"errors": {w.field: [w.phrase]}},
    lambda status, w, sentence: {"error": {"code": w.code, "message": sentence, "details": []}},
    lambda status, w, sentence: {"message": _reason(status), "errors": [sentence]},
    lambda status, w, sentence: {"errors": {"base": [sentence]}},
    lambda status, w, sentence: {
        "message": sentence,
        "error": {"code": _reason(status).upper().replace(" ", "_"), "message": _reason(status)},
    },
)
MAX_STATUSES = max(len(k.statuses) for k in KINDS.values())
FORM_COUNT = MAX_STATUSES * len(SHAPES)


def answer(form: int, refusal: Refused) -> tuple[int, dict[str, Any]]:
    """Status and body of `refusal` in form `form` (0 ≤ form < FORM_COUNT)."""
    kind = KINDS[refusal.kind]
    status = kind.statuses[(form // len(SHAPES)) % len(kind.statuses)]
    # Offset by the status block so every shape meets every wording across the forms.
    wording = kind.wordings[(form + form // len(SHAPES)) % len(kind.wordings)]
    sentence = wording.sentence.format(subject=refusal.subject, name=refusal.name)
    return status, SHAPES[form % len(SHAPES)](status, wording, sentence)


def sentence(form: int, refusal: Refused) -> str:
    """The wording alone (the published 409 of file PATCH puts it in `errors.base`)."""
    kind = KINDS[refusal.kind]
    wording = kind.wordings[(form + form // len(SHAPES)) % len(kind.wordings)]
    return wording.sentence.format(subject=refusal.subject, name=refusal.name)


class RefusalForms:
    """Which form the next refusal takes: pinned by a test, else drawn from a seeded Random."""

    def __init__(self, seed: int | None) -> None:
        self._random = random.Random(seed)
        self.pinned: int | None = None

    def pin(self, form: int | None) -> None:
        if form is not None and not 0 <= form < FORM_COUNT:
            raise ValueError(f"form must be in 0..{FORM_COUNT - 1} or null")
        self.pinned = form

    def next_form(self) -> int:
        return self.pinned if self.pinned is not None else self._random.randrange(FORM_COUNT)

    @staticmethod
    def catalogue() -> list[dict[str, Any]]:
        """Every form with an example answer per refusal kind (for `GET .../clash-forms`)."""
        out = []
        for form in range(FORM_COUNT):
            answers = {}
            for kind in get_args(RefusalKind):
                example = Refused(kind, subject="file", name="report.pdf")
                status, body = answer(form, example)
                answers[kind] = {"status": status, "body": body}
            out.append({"form": form, "answers": answers})
        return out


REFUSALS_KEY: web.AppKey[RefusalForms] = web.AppKey("documents_refusals", RefusalForms)
