"""Stage 2, plan: compare each batch with the state store and decide per file (`plan.decide`):
skip it, resume it from stored bytes, or send it."""

from __future__ import annotations

import functools
import time

import anyio
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from bulkupload.errors import FileUnreadable
from bulkupload.events import SendPlanned
from bulkupload.human import shown
from bulkupload.messages import Planned
from bulkupload.models import WOULD_UPLOAD, FileEntry, FileResult, SkippedEntry, WalkItem
from bulkupload.plan import Skip, decide, needs_md5, touched
from bulkupload.preflight import name_notes, refusal
from bulkupload.protocols.base import select
from bulkupload.protocols.parts import content_digest
from bulkupload.results import failed, left_behind, skipped, walk_skip
from bulkupload.state import StateRow, TransferRow, now_iso

from .control import Stage
from .rule import as_state_error, per_file

__all__ = ["plan_stage", "state_rows"]


class _DryRunLines:
    """A dry run's `would ...` lines for stdout, printed once per walk batch from a worker
    thread: a slow stdout (a pipe, a terminal) never stalls the event loop per file."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    async def flush(self) -> None:
        if self.lines:
            text, self.lines = "\n".join(self.lines), []
            with anyio.CancelScope(shield=True):  # lines of planned files are never lost
                await anyio.to_thread.run_sync(functools.partial(print, text, flush=True))


async def state_rows(stage: Stage, rels: list[str]) -> dict[str, StateRow]:
    """What the state knows of these files; 'sent' rows under the destination's other keys
    (stored by a `--no-attach` run, never placed) count too."""
    rows = await stage.store.lookup(stage.destination.state_key, rels)
    for key in stage.destination.sent_keys:
        missing = [rel for rel in rels if rel not in rows]
        others = await stage.store.lookup(key, missing) if missing else {}
        rows.update((rel, row) for rel, row in others.items() if row.status == "sent")
    return rows


async def plan_stage(
    stage: Stage,
    batches: MemoryObjectReceiveStream[list[WalkItem]],
    planned: MemoryObjectSendStream[Planned],
    results: MemoryObjectSendStream[FileResult],
) -> None:
    settings, control = stage.settings, stage.control
    planner = _Planner(stage, planned, results)
    async with batches, planned, results:
        async for batch in batches:
            rels = [item.rel for item in batch if isinstance(item, FileEntry)]
            try:
                rows = await state_rows(stage, rels)
                transfers = await stage.store.transfers(stage.destination.state_key, rels)
                if not settings.dry_run:
                    await stage.store.mark_seen(stage.destination.state_key, rels, stage.run_id)
            except Exception as exc:  # the state store cannot answer: no file can be planned
                control.fail(as_state_error(exc))
                return
            for item in batch:
                if isinstance(item, SkippedEntry):
                    await results.send(walk_skip(item))
                    continue
                row, transfer = rows.get(item.rel), transfers.get(item.rel)
                async with per_file(control, results, functools.partial(failed, item)):
                    await planner.plan(item, row, transfer)
            await planner.end_batch()
    if planner.odd_names:
        rel, note = planner.odd_example
        control.notes.append(
            f"{planner.odd_names:,} file name(s) Procore Drive and Procore's extracts show or "
            f"save differently (sent as they are), e.g. {shown(rel)}: {note}"
        )


class _Planner:
    """Plans one file after another; what a batch learnt goes out once per batch (the dry
    run's lines, the new mtimes of files whose content did not change)."""

    def __init__(
        self,
        stage: Stage,
        planned: MemoryObjectSendStream[Planned],
        results: MemoryObjectSendStream[FileResult],
    ) -> None:
        self.stage, self.planned, self.results = stage, planned, results
        self.dry_run = _DryRunLines()
        self.touched: list[tuple[str, int]] = []
        self.odd_names = 0  # names Windows tools rewrite (`preflight.name_notes`)
        self.odd_example = ("", "")

    async def plan(
        self, entry: FileEntry, row: StateRow | None, transfer: TransferRow | None
    ) -> None:
        stage, settings = self.stage, self.stage.settings
        md5 = None
        if needs_md5(entry, row, checksum=settings.checksum):
            like = row.md5 if row is not None else None  # the kind of digest to compare
            md5 = await anyio.to_thread.run_sync(content_digest, entry, like)
        decision = decide(entry, row, md5=md5, places=stage.destination.places, now=time.time())
        if isinstance(decision, Skip):
            if touched(entry, row, md5):
                self.touched.append((entry.rel, entry.mtime_ns))
            await self.results.send(skipped(entry, decision.reason, prior=row, md5=md5))
            return
        # Before any API call: a file we may not read, a size no protocol of this run takes,
        # or a type the account refuses, fails here with its reason (dry runs too).
        if not entry.readable:
            raise FileUnreadable(f"{entry.display_rel}: permission denied")
        select(stage.protocols, entry.size)
        if (refused := refusal(entry, settings.blocked_extensions)) is not None:
            raise refused
        remote = f"{settings.folder}/{entry.rel}" if settings.folder else entry.rel
        if notes := name_notes(entry, remote):
            self.odd_names += 1
            if self.odd_names == 1:
                self.odd_example = (entry.rel, "; ".join(notes))
        item = Planned(entry, row, now_iso(), md5=md5, resume=decision.resume, transfer=transfer)
        if stage.control.stopping:
            await self.results.send(left_behind(item, stage.control.why, sending=False))
            return
        stage.events.emit(SendPlanned(1, entry.size))
        if settings.dry_run and not stage.destination.checks_in_dry_run:
            self.dry_run.lines.append(f"would upload: {shown(entry.rel)}")
            await self.results.send(skipped(entry, WOULD_UPLOAD, prior=row, md5=md5))
        else:
            stage.ledger.planned(item)
            await self.planned.send(item)

    async def end_batch(self) -> None:
        await self.dry_run.flush()
        if self.touched and not self.stage.settings.dry_run:
            touched_now, self.touched = self.touched, []
            try:
                await self.stage.store.refresh_mtimes(self.stage.destination.state_key, touched_now)
            except Exception as exc:
                self.stage.control.fail(as_state_error(exc))
