"""Every document upload, container and revision of one emulator, and the rules of time: a new
`latest_event_id` on each change, ML and filename scraping finishing after so many reads or so
many seconds, deletion 24 h after creation. One store per app (`PDM_KEY`)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from aiohttp import web

from bulkupload.emulator.core import Clock
from bulkupload.emulator.upload_records import new_ulid

from .model import LIFETIME, Container, DocumentUpload
from .processing import finish
from .settings import PdmProject


@dataclass(frozen=True, slots=True)
class Timing:
    """How long ML and filename scraping run after COMPLETED: `reads` reads of the upload
    answered in_progress, or `seconds` on the emulator's clock, whichever ends first."""

    reads: int = 1
    seconds: float = 10.0


class PdmStore:
    """Document Management of every project the configuration knows."""

    def __init__(self, clock: Clock, projects: dict[int, PdmProject], timing: Timing) -> None:
        self.clock, self.projects, self.timing = clock, projects, timing
        self.uploads: dict[str, DocumentUpload] = {}
        self.containers: dict[str, Container] = {}
        self._by_criteria: dict[tuple[int, str], str] = {}  # (project, criteria) -> container
        self.links: dict[str, str] = {}  # v2.1 upload id -> the document upload linking it
        # Creation order is deadline order (one lifetime) while the clock only moves on.
        self._deadlines: deque[tuple[float, str]] = deque()

    def now(self) -> float:
        return self.clock.now()

    def new_id(self) -> str:
        return new_ulid(self.clock.now())

    def add(self, upload: DocumentUpload) -> None:
        self.uploads[upload.id] = upload
        self._deadlines.append((upload.created + LIFETIME, upload.id))

    def touch(self, upload: DocumentUpload) -> None:
        """The upload changed: a new `latest_event_id`."""
        upload.event_id = self.new_id()

    def live(self, upload_id: str, company_id: int, project_id: int) -> DocumentUpload | None:
        """The upload of that project, unless it never existed, was submitted or has been
        deleted; its background processing brought up to the clock."""
        self.sweep()
        upload = self.uploads.get(upload_id)
        if upload is None or upload.state != "live":
            return None
        if (upload.company_id, upload.project_id) != (company_id, project_id):
            return None
        self.catch_up(upload)
        return upload

    def in_project(self, project_id: int) -> Iterator[DocumentUpload]:
        """Every live upload of the project, oldest first (ULIDs made in one millisecond are
        not in creation order: the dict's insertion order is)."""
        self.sweep()
        for upload in list(self.uploads.values()):
            if upload.project_id == project_id and upload.state == "live":
                self.catch_up(upload)
                yield upload

    def sweep(self) -> None:
        """Delete the uploads left unsubmitted 24 h after creation (their file links go too)."""
        now = self.clock.now()
        while self._deadlines and self._deadlines[0][0] <= now:
            _, upload_id = self._deadlines.popleft()
            upload = self.uploads[upload_id]
            if upload.state == "live":
                upload.state = "expired"
                if upload.file_upload_id is not None:
                    self.links.pop(upload.file_upload_id, None)

    # -- ML and filename scraping ---------------------------------------------------------

    def catch_up(self, upload: DocumentUpload) -> None:
        """Finish the upload's processing if its time on the clock is up."""
        started = upload.completed_at
        if (
            upload.processing
            and started is not None
            and self.clock.now() >= started + (self.timing.seconds)
        ):
            self._finish(upload)

    def read(self, upload: DocumentUpload) -> None:
        """A read of the upload (show, list, selected uploads): one of those processing waits."""
        if not upload.processing:
            return
        if upload.reads_left:
            upload.reads_left -= 1
        else:
            self._finish(upload)

    def start_processing(self, upload: DocumentUpload) -> None:
        """COMPLETED was just set: processing ends at once when no read is to wait for it."""
        upload.completed_at = self.clock.now()
        upload.reads_left = self.timing.reads
        if upload.processing and not self.timing.reads:
            self._finish(upload)

    def _finish(self, upload: DocumentUpload) -> None:
        finish(upload, self.projects[upload.project_id])
        self.touch(upload)  # an integration status and maybe values changed: a new event

    # -- containers ----------------------------------------------------------------------

    def container(self, project_id: int, criteria: str) -> Container | None:
        found = self._by_criteria.get((project_id, criteria))
        return None if found is None else self.containers[found]

    def open_container(self, project_id: int, criteria: str) -> Container:
        found = self.container(project_id, criteria)
        if found is None:
            found = Container(self.new_id(), project_id, criteria)
            self.containers[found.id] = found
            self._by_criteria[(project_id, criteria)] = found.id
        return found


PDM_KEY: web.AppKey[PdmStore] = web.AppKey("emulator_pdm", PdmStore)
