"""Every REST path bulkupload calls, in one place: the uploads of each API version and the
Documents tool's folders and files, at project or company level."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bulkupload.errors import NotFound, TargetUnusable
from bulkupload.models import Target

__all__ = ["DocumentsRoutes", "target_errors", "uploads_path"]


def uploads_path(target: Target, api_version: str) -> str:
    """Create Upload (v1.0 / v1.1); `{path}/{uuid}` shows or updates one upload."""
    collection = "projects" if target.kind == "project" else "companies"
    return f"/rest/v{api_version}/{collection}/{target.id}/uploads"


@dataclass(frozen=True, slots=True)
class DocumentsRoutes:
    """Paths and query parameters of the Documents endpoints (v1.0) for a project or company."""

    target: Target

    @property
    def prefix(self) -> str:
        if self.target.kind == "company":
            return f"/rest/v1.0/companies/{self.target.id}"
        return "/rest/v1.0"

    def params(self, **extra: str) -> dict[str, str]:
        """Project-level calls name the project in the query; company-level ones in the path."""
        base = {"project_id": str(self.target.id)} if self.target.kind == "project" else {}
        return base | extra

    @property
    def folders(self) -> str:
        """GET: the root folder with its children; POST: create a folder."""
        return f"{self.prefix}/folders"

    def folder(self, folder_id: int) -> str:
        return f"{self.prefix}/folders/{folder_id}"

    @property
    def files(self) -> str:
        return f"{self.prefix}/files"

    def file(self, file_id: int) -> str:
        return f"{self.prefix}/files/{file_id}"


@contextmanager
def target_errors(target: Target) -> Iterator[None]:
    """A 404 on the target's own routes (uploads, folders) means the project or company does not
    exist or is not visible to these credentials: no file can get past that, the run stops."""
    try:
        yield
    except NotFound as exc:
        raise TargetUnusable(
            f"{target.kind} {target.id} not found or not visible to these credentials "
            f"({exc.message})"
        ) from exc
