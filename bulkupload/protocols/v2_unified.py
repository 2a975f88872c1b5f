"""Procore's v2.1 Unified File Uploads: every file in parts, PUT in parallel, completed with
the parts' ETags, then polled until Procore has processed it; resumable to the part.

Each stored part is recorded at once (`Transport.journal`), so a run killed in the middle of a
big file leaves the next run only the missing parts to send: it asks the upload's status for
fresh URLs instead of creating a new upload. Part URLs expire: a part whose URL will not outlast
its sending gets fresh ones from the status call, never a new upload.
"""

from __future__ import annotations

import asyncio
import functools
import mimetypes
import time

import anyio

from bulkupload.config import MAX_PART
from bulkupload.digests import parts_digest
from bulkupload.errors import (
    ApiError,
    NotFound,
    ProcessingFailed,
    UploadProcessing,
)
from bulkupload.messages import Planned, Stored, Ticket
from bulkupload.models import FileEntry, Target
from bulkupload.procore.remote import remote_name
from bulkupload.procore.unified import (
    DONE,
    complete_upload,
    create_upload,
    unified_path,
    upload_status,
)
from bulkupload.retry import call_with_retries, compute_wait
from bulkupload.state import PartPlan, TransferRow

from .base import Meter, Transport
from .body import OCTETS
from .files import verify_unchanged
from .parts import MAX_SIZE, hash_parts, part_size_for, release_part
from .v2_parts import PartSender, UnifiedTicket

__all__ = ["UnifiedTicket", "V2Unified"]

DAY = 24 * 3600.0
# An upload in progress is resumed only with this much of its life left: a resume that
# expires before it is linked would be lost work.
RESUME_MARGIN = 3600.0


def _parts_digest(transfer: TransferRow) -> str:
    """What the state and manifest keep of a v2.1 file (`bulkupload.digests`): a file of one
    part is cut in parts of 100 MiB, the size up to which v2.1 sends a file whole."""
    parts = transfer.parts
    part_size = parts[0].size if len(parts) > 1 else MAX_PART
    return parts_digest(part_size, [part.sha256 for part in parts])


class V2Unified:
    """Every file of 1 byte to ~1 TB as a v2.1 unified upload."""

    api_calls = 2.0  # Create Upload and its completion, for the plan's estimate

    name = "v2.1 unified"

    def __init__(
        self,
        transport: Transport,
        target: Target,
        *,
        company_id: int,
        part_size: int,
        uploader_tool: str | None = "document_management",
    ) -> None:
        self.transport = transport
        self.path = unified_path(target, company_id)
        self.part_size = part_size
        self.uploader_tool = uploader_tool

    def accepts(self, size: int) -> bool:
        return 1 <= size <= MAX_SIZE

    def stale(self, ticket: Ticket, now: float) -> bool:
        return False  # part URLs are renewed part by part; the upload itself lasts a day

    async def prepare(self, item: Planned) -> UnifiedTicket:
        resumed = await self._resume(item) if item.transfer is not None else None
        if resumed is not None:
            return resumed
        entry = item.entry
        parts, sha256, md5 = await self._plan(entry, part_size_for(entry.size, self.part_size))
        upload = await create_upload(
            self.transport.api,
            self.path,
            file_name=remote_name(entry.name),
            content_type=mimetypes.guess_type(entry.name, strict=False)[0] or OCTETS,
            parts=parts,
            sha256=sha256,
            md5=md5,
            uploader_tool=self.uploader_tool,
        )
        deadline = upload.expires_at or time.time() + DAY
        transfer = TransferRow(
            upload.upload_id, entry.size, entry.mtime_ns, tuple(parts), sha256, md5, deadline
        )
        if self.transport.journal is not None:
            await self.transport.journal.began(entry.rel, transfer)
        return UnifiedTicket(item, self.name, time.monotonic(), transfer, upload.parts, "ready")

    async def _plan(self, entry: FileEntry, part_size: int) -> tuple[list[PartPlan], str, str]:
        """What Create is told: each part's SHA-256, which Procore requires and storage checks
        on every PUT (a file of one part: also the whole file's, the same digest). The MD5s and
        the whole file's digests are optional; MD5 costs 2.4 times the CPU of SHA-256 here, and
        a digest through a whole file in several parts makes the pass before the first byte
        several times longer (README, "What Create is told")."""
        return await hash_parts(self.transport, entry, part_size, whole_sha256=False, md5=False)

    async def _resume(self, item: Planned) -> UnifiedTicket | None:
        """The upload an earlier run left for this file, if it is the same file and Procore
        still has it; None to start over (counted as a `recreate`)."""
        transfer, entry, events = item.transfer, item.entry, self.transport.events
        if transfer is None or (transfer.size, transfer.mtime_ns) != (entry.size, entry.mtime_ns):
            return None  # the file changed since: its parts were promised other bytes
        why = "expired"
        if transfer.expires_at - time.time() > RESUME_MARGIN:
            try:
                upload = await upload_status(self.transport.api, self.path, transfer.upload_id)
            except (NotFound, ApiError) as exc:
                why = f"gone ({exc})"
            else:
                if upload.status != "failed" and (
                    upload.status not in ("ready", "receiving")
                    or len(upload.parts) == len(transfer.parts)
                ):
                    return UnifiedTicket(
                        item, self.name, time.monotonic(), transfer, upload.parts, upload.status
                    )
                why = f"{upload.status} at Procore"
        events.retried("recreate", f"{entry.display_rel}: upload {transfer.upload_id} {why}")
        return None

    async def send(self, ticket: Ticket, meter: Meter) -> Stored:
        if not isinstance(ticket, UnifiedTicket):
            raise TypeError(f"{self.name} cannot send a {type(ticket).__name__}")
        transport, entry = self.transport, ticket.item.entry
        transfer = ticket.transfer
        meter.attempt()
        counted_before = meter.net
        on_stored = None
        if len(transfer.parts) > 1:  # read twice: each part's pages go once it is stored
            on_stored = functools.partial(release_part, entry, transfer.parts[0].size)
        parts = PartSender(self.transport, self.path, ticket, meter, on_stored=on_stored)
        status = ticket.status
        try:
            if status in ("ready", "receiving"):
                await parts.send_missing()
                # Checked before completing, so a file changed mid-upload never becomes one.
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(
                    transport.reader, verify_unchanged, entry, "during upload"
                )
                status = await complete_upload(
                    transport.api, self.path, transfer.upload_id, parts.etag_list()
                )
            await self._until_available(ticket, status)
        except BaseException:
            meter.moved(counted_before - meter.net)
            if parts.started and not parts.complete:
                await parts.tell_procore()
            raise
        return Stored(
            item=ticket.item,
            upload_id=transfer.upload_id,
            md5=transfer.md5 or _parts_digest(transfer),
            attempts=meter.attempts,
            stored_at=time.time(),
            expires_at=transfer.expires_at,
            sent=meter.net if meter.net != entry.size else None,  # parts stored earlier: less
        )

    async def _until_available(self, ticket: UnifiedTicket, status: str) -> None:
        """Ask the status until Procore has processed the upload: scanning waits (policy
        `poll`); failed is ProcessingFailed (`retryable`: a new upload may pass)."""
        if status == DONE:
            return
        policy, events = self.transport.policies.poll_status, self.transport.events
        upload_id, rel = ticket.transfer.upload_id, ticket.item.entry.display_rel

        async def attempt() -> None:
            upload = await upload_status(self.transport.api, self.path, upload_id)
            if upload.status == DONE:
                return
            if upload.status == "failed":
                raise ProcessingFailed(
                    f"Procore did not accept the upload: {upload.error or 'failed'}",
                    retryable=upload.retryable,
                )
            raise UploadProcessing(f"{rel}: upload {upload_id} is {upload.status}")

        await anyio.sleep(compute_wait(policy, 1, None))  # Procore needs a moment to scan
        await call_with_retries(
            policy, attempt, on_retry=lambda exc: events.retried(policy.name, str(exc))
        )
