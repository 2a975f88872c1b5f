"""Setting up a run into Document Management: the rules and sidecar read, the catalog asked
once, the status that ends a conflicting workflow resolved, and the dry run's report."""

from __future__ import annotations

from pathlib import Path

import anyio
import anyio.to_thread

from bulkupload.config import Settings
from bulkupload.errors import ConfigError
from bulkupload.metadata import (
    FileMetadata,
    MetadataResolver,
    ProblemSheet,
    Summary,
    load_rules,
    read_sidecar,
)
from bulkupload.procore.pdm import PdmApi

from .document_management import DocumentJournal, DocumentManagement, Ready

__all__ = ["DryRunCheck", "document_management"]


class DryRunCheck:
    """A dry run's verdict on every file's metadata: the summary, and the sheet of the files
    whose metadata is not ready (to fill in and give back as the sidecar)."""

    def __init__(self, destination: DocumentManagement, sheet_path: Path) -> None:
        self.destination = destination
        self.summary = Summary()
        self.sheet_path = sheet_path
        self._sheet: ProblemSheet | None = None
        self._writing = anyio.Lock()  # files are located concurrently; the sheet is one file

    async def add(self, outcome: FileMetadata) -> None:
        self.summary.add(outcome)
        if outcome.ok:
            return
        async with self._writing:
            if self._sheet is None:
                columns = (await self.destination.ready()).resolver.sheet_columns()
                self._sheet = await anyio.to_thread.run_sync(
                    ProblemSheet.create, self.sheet_path, columns
                )
            await anyio.to_thread.run_sync(self._sheet.add, outcome)

    async def close(self) -> list[str]:
        """Close the sheet; the lines to show (none when no file needed checking)."""
        resolver = self.destination.resolver
        if resolver is None:
            return []
        lines = self.summary.lines(resolver.unmatched_sidecar_paths())
        if self._sheet is not None:
            await anyio.to_thread.run_sync(self._sheet.close)
            lines.append(
                f"metadata to fill in: {self.sheet_path} ({self._sheet.rows:,} files); "
                "give it back with --sidecar"
            )
        return lines


async def document_management(
    settings: Settings, pdm: PdmApi, journal: DocumentJournal
) -> DocumentManagement:
    """The destination of a `--to document-management` run. The rules and sidecar are read
    now (a mistake in them stops the run before any call); the catalog when a file needs it."""
    rules = await anyio.to_thread.run_sync(load_rules, settings.rules) if settings.rules else None
    sidecar = (
        await anyio.to_thread.run_sync(read_sidecar, settings.sidecar) if settings.sidecar else None
    )

    async def setup() -> Ready:
        resolver = await MetadataResolver.create(pdm, rules, sidecar)
        termination = None
        if settings.terminate_workflows and settings.terminated_status:
            status_id = await _status_id(pdm, resolver, settings.terminated_status)
            termination = (settings.terminate_workflows, status_id)
        return Ready(resolver, termination)

    destination = DocumentManagement(pdm, setup, settings.target, journal)
    if settings.dry_run:
        sheet = settings.metadata_sheet or settings.manifest.with_name(
            settings.manifest.stem + "-metadata.csv"
        )
        destination.check = DryRunCheck(destination, sheet)
    return destination


async def _status_id(pdm: PdmApi, resolver: MetadataResolver, given: str) -> str:
    """The id of the status value `given` (label or code) that an ended revision takes."""
    field = next((f for f in resolver.fields if f.name.lower() == "status"), None)
    if field is None:
        raise ConfigError("--terminated-status: the project has no Status field")
    wanted = given.strip().lower()
    for value in await pdm.values(field, keyword=given):
        if value.active and wanted in (value.label.lower(), value.code.lower()):
            return value.id
    raise ConfigError(f"--terminated-status {given!r}: no active Status of that label or code")
