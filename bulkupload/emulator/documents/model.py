"""The records of the emulated Documents tool, and the two ways a request is refused.

Kept free of aiohttp and of the store so views, store and handlers can all import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

SpaceKey = tuple[Literal["project", "company"], int]
"""Whose Documents tool: ``("project", P)`` or ``("company", C)``; each has its own root folder."""

RefusalKind = Literal["name_taken", "already_attached", "checked_out", "read_only"]
"""Refusals whose status and wording Procore does not publish; see `refusals`."""

RECYCLE_BIN = "Recycle Bin"
MAX_LISTING_DEPTH = 100  # filters[folder_id] returns descendants to this depth, as published


@dataclass(frozen=True, slots=True)
class User:
    """A Procore user reference (`created_by`, `checked_out_by`): `{id, login, name}`."""

    id: int
    login: str
    name: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "login": self.login, "name": self.name}


# The user an admin-made checkout belongs to: never one of the emulator's OAuth identities.
OTHER_USER = User(1, "pat.reviewer@example.com", "Pat Reviewer")


@dataclass(frozen=True, slots=True)
class FileVersion:
    """One version of a Documents file: the bytes of one attached upload.

    `upload_uuid` and `md5` are for the `/_emulator/documents` view only: Procore publishes
    neither, so no public answer carries them.
    """

    id: int
    number: int
    size: int
    md5: str
    upload_uuid: str
    created_at: float
    created_by: User
    prostore_id: int
    filename: str
    location: str  # "bucket/key" of the stored bytes, for the version's url
    notes: str | None = None


@dataclass(slots=True)
class Checkout:
    """Who holds a file checked out, and until when (Clock seconds)."""

    by: User
    until: float


@dataclass(slots=True)
class DocFile:
    """A file in the Documents tool; `versions` in ascending `number` order."""

    id: int
    space: SpaceKey
    name: str
    parent_id: int
    description: str
    created_at: float
    created_by: User
    updated_at: float
    private: bool = False
    is_tracked: bool = False
    read_only: bool = False
    checkout: Checkout | None = None
    versions: list[FileVersion] = field(default_factory=list)

    def checked_out(self, now: float) -> Checkout | None:
        """The checkout in force at `now` (an expired one counts as none)."""
        if self.checkout is not None and self.checkout.until > now:
            return self.checkout
        return None


@dataclass(slots=True)
class DocFolder:
    """A folder; children are kept by name so sibling uniqueness is a dict lookup."""

    id: int
    space: SpaceKey
    name: str
    parent_id: int | None
    created_at: float
    created_by: User | None  # None for the root and the recycle bin: nobody made them
    updated_at: float
    is_recycle_bin: bool = False
    private: bool = False
    is_tracked: bool = False
    read_only: bool = False
    folders: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FileChanges:
    """What one file PATCH asks for; None leaves a field as it is."""

    name: str | None = None
    parent_id: int | None = None
    description: str | None = None
    upload_uuid: str | None = None
    private: bool | None = None
    is_tracked: bool | None = None
    checkout_until: float | None = None  # check the file out to the caller until then
    release_checkout: bool = False  # `checked_out_until` sent empty


class Rejected(Exception):
    """A refusal with one fixed status and JSON body (published, or the plain v1 `{errors}`).

    Handlers turn it into a JSON response themselves rather than raising aiohttp's HTTP
    exceptions, so no middleware can replace the body with a bare reason.
    """

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


def rejected(status: int, message: object) -> Rejected:
    """The v1 error body `{"errors": message}` (valid under every operation's error schema)."""
    return Rejected(status, {"errors": message})


class Refused(Exception):
    """A refusal Procore publishes no status or wording for: answered in a varied form.

    `subject` names what was refused in words ("folder", "file", "upload"); `name` is the
    item's name (or the upload's uuid); `file` is set for a checked-out file.
    """

    def __init__(
        self,
        kind: RefusalKind,
        *,
        subject: str,
        name: str,
        file: DocFile | None = None,
    ) -> None:
        super().__init__(f"{kind}: {subject} {name}")
        self.kind: RefusalKind = kind
        self.subject = subject
        self.name = name
        self.file = file


def iso(ts: float) -> str:
    """Unix seconds as Procore's UTC date-time (``2026-12-01T09:30:00Z``)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def numbered(name: str, n: int) -> str:
    """``report.pdf`` → ``report (n).pdf``, the way Procore's unique_name renames."""
    stem, dot, ext = name.rpartition(".")
    if not stem:  # no extension, or a dotfile such as ".env"
        return f"{name} ({n})"
    return f"{stem} ({n}){dot}{ext}"


def file_type(name: str) -> str:
    """The extension Procore reports as `file_type` (``"pdf"``), ``""`` when there is none."""
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if stem and dot else ""


def check_name(name: str) -> None:
    if not name or not name.strip():
        raise rejected(422, {"name": ["can't be blank"]})
    if "/" in name:
        raise rejected(422, {"name": ["cannot contain '/'"]})
