"""The plan before the work: a light second walk of SOURCE beside the run, compared with the
state, so the files, bytes and API calls left (and how long they take at the API limit the
headers report) are known once the walk is done, not once the last file is sent: the run's own
planning keeps pace with the transfers (its queues are bounded), the census does not.

It stats each file once more and reads the state in batches; it never reads a file's content
(a file whose mtime alone changed is counted apart: it may turn out unchanged).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread

from bulkupload.errors import BulkUploadError
from bulkupload.events import Notice
from bulkupload.human import human_bytes, human_duration
from bulkupload.models import FileEntry, WalkItem
from bulkupload.plan import Send, decide, needs_md5
from bulkupload.preflight import refusal
from bulkupload.protocols.base import select

from .control import Stage
from .planning import state_rows
from .walking import walk_in_batches

__all__ = ["Census", "census_stage"]

BATCH = 500  # walk items (files, and the skipped) per state lookup


@dataclass(slots=True)
class Census:
    """What is left to send, as the state sees it."""

    files: int = 0
    bytes: int = 0
    checks: int = 0  # mtime-only changes: read at plan time, sent only if the content changed
    calls: float = 0.0
    folders_new: set[str] = field(default_factory=set)
    folders_known: set[str] = field(default_factory=set)

    def api_calls(self, per_folder: float) -> float:
        known = self.folders_known - self.folders_new
        return self.calls + per_folder * len(self.folders_new) + min(per_folder, 1) * len(known)


async def census_stage(stage: Stage) -> None:
    """Count what is left, then put the plan on `stage.control.plan` and announce it."""
    census = Census()
    control = stage.control

    async def compare(batch: list[WalkItem]) -> None:
        entries = [item for item in batch if isinstance(item, FileEntry)]
        rows = await state_rows(stage, [entry.rel for entry in entries])
        now = time.time()
        places = stage.destination.places
        for entry in entries:
            row = rows.get(entry.rel)
            if needs_md5(entry, row, checksum=stage.settings.checksum):
                census.checks += 1
                continue
            if not isinstance(decide(entry, row, md5=None, places=places, now=now), Send):
                continue
            if refusal(entry, stage.settings.blocked_extensions) is not None:
                continue
            try:
                protocol = select(stage.protocols, entry.size)
            except BulkUploadError:
                continue  # a size no protocol takes: the file fails at plan time
            census.files += 1
            census.bytes += entry.size
            census.calls += protocol.api_calls + stage.destination.api_calls_per_file
            folder = entry.rel.rpartition("/")[0]
            (census.folders_known if row is not None else census.folders_new).add(folder)

    try:
        complete = await anyio.to_thread.run_sync(walk_in_batches, stage, BATCH, compare)
    except Exception:  # the run's own walk reports what went wrong; the plan is only advice
        return
    if complete:
        control.plan = plan_of(stage, census)
        stage.events.emit(Notice("plan: " + plan_line(control.plan)))


def plan_of(stage: Stage, census: Census) -> dict[str, Any]:
    """The plan's figures: files, bytes and API calls left, and the time they take at the
    limit the rate-limit headers reported (None while none was seen)."""
    settings = stage.settings
    calls = census.api_calls(stage.destination.api_calls_per_folder)
    rate = stage.api_rate()
    duration = None if rate is None else calls / rate
    if duration is not None and settings.bwlimit:
        duration = max(duration, census.bytes / settings.bwlimit)
    window = settings.max_duration
    return {
        "files": census.files,
        "bytes": census.bytes,
        "checks": census.checks,
        "api_calls": round(calls, 1),
        "calls_per_s": None if rate is None else round(rate, 3),
        "api_share": settings.api_share,
        "duration_s": None if duration is None else round(duration, 1),
        "windows": None if duration is None or not window else math.ceil(duration / window),
    }


def plan_line(plan: dict[str, Any]) -> str:
    """One line for the live display (the summary has its own, `cli.summary.plan_text`)."""
    text = (
        f"{plan['files']:,} files ({human_bytes(plan['bytes'])}) to send, "
        f"about {plan['api_calls']:,.0f} API calls"
    )
    if plan["duration_s"] is not None:
        text += f", about {human_duration(plan['duration_s'])} at the API limit"
    return text
