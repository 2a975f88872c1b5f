"""Wires the stages of an upload run with anyio task groups and bounded memory-object streams.

    walk (thread) ─batches─▶ classify (state) ─jobs─▶ instructions ×C ─ready─▶ transfer+attach ×C
                                   │                        │                        │
                                   └──────────── results ───┴────────────────────────┴─▶ record

Back-pressure is the streams' buffers: `ready` has none, so at most C instructions exist unused at
any moment (each held by an instruction worker waiting for a free transfer worker), and every
instruction is checked for age again just before its bytes go out.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import posixpath
import signal
import time
from collections.abc import Callable
from dataclasses import replace

import aiohttp
import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .config import Settings
from .errors import (
    AuthError,
    BulkUploadError,
    FileChanged,
    FileProblem,
    NotFound,
    PolicyExpired,
    StateError,
    TargetUnusable,
)
from .manifest import ManifestWriter, open_manifest
from .models import (
    FileEntry,
    FileResult,
    SkippedEntry,
    Status,
    UploadInstruction,
    WalkItem,
    printable,
)
from .outcome import (
    KEPT_FAILURES,
    KEPT_GONE,
    Job,
    RunOutcome,
    content_type_for,
    error_text,
    file_md5,
    now_iso,
    restat,
    same_file,
    skipped_result,
    state_key,
    summary_dict,
)
from .procore.client import ApiClient
from .procore.documents import CLOCK_SKEW, FolderMirror, RemoteFile, attach, remote_name
from .procore.uploads import create_upload
from .progress import Progress
from .retry import RetryPolicy, call_with_retries
from .segmented import send_segmented
from .sources import walk_sources
from .state import AsyncStateStore, StateRow
from .transfer import send_to_storage

log = logging.getLogger("bulkupload")

WALK_BATCH = 200
RECORD_BATCH = 500
RECORD_LINGER = 0.05  # seconds a result may wait to share its batch's write
# A storage 403 "Policy expired" or a file that changed gets fresh instructions this often at most.
MAX_RENEWALS = 3


# Errors that no other file could get past: they stop the whole run (exit 2).
FATAL = (AuthError, StateError, TargetUnusable)


class _DryRunLines:
    """A dry run's `would ...` lines for stdout, printed in order once per walk batch from a
    worker thread: a slow stdout (a pipe, a terminal) never stalls the event loop per file."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    async def flush(self) -> None:
        if self.lines:
            text, self.lines = "\n".join(self.lines), []
            with anyio.CancelScope(shield=True):  # lines of classified files are never lost
                await anyio.to_thread.run_sync(functools.partial(print, text, flush=True))

    async def __aenter__(self) -> _DryRunLines:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.flush()


class UploadRun:
    """One run of `bulkupload SOURCE...`: owns the stages, the tally and the stop signals."""

    def __init__(
        self,
        settings: Settings,
        *,
        api: ApiClient,
        storage: aiohttp.ClientSession,
        store: AsyncStateStore,
        progress: Progress,
        mirror: FolderMirror | None,
    ) -> None:
        self.settings = settings
        self.api = api
        self.storage = storage
        self.store = store
        self.progress = progress
        self.tally = progress.tally
        self.mirror = mirror
        self.target_key = state_key(settings)
        self.policy = RetryPolicy(attempts=settings.retries + 1, backoff=settings.retry_backoff)
        self.stopping = False
        self.stop_signal: int | None = None
        # Jobs past the walk without a result yet, by rel: a hard stop records them all.
        self.open_jobs: dict[str, Job] = {}
        self._work_scope: anyio.CancelScope | None = None
        self._fatal: BulkUploadError | None = None
        self._batch: list[WalkItem] = []
        self._batch_pos = 0
        self._walk_tail: MemoryObjectReceiveStream[list[WalkItem]] | None = None
        self.failures: list[tuple[str, str]] = []
        self.run_id = 0

    # ── the whole run ──────────────────────────────────────────────────────────────────
    async def run(self) -> RunOutcome:
        started = time.monotonic()
        self.run_id = await self.store.begin_run(self.target_key)
        results_send, results_recv = anyio.create_memory_object_stream[FileResult](RECORD_BATCH)
        async with (
            open_manifest(self.settings.manifest) as manifest,
            anyio.create_task_group() as outer,
        ):
            async with anyio.create_task_group() as recording:
                recording.start_soon(self._record, results_recv, manifest)
                async with results_send:
                    async with anyio.create_task_group() as work:
                        self._work_scope = work.cancel_scope
                        self._start_stages(work, results_send)
                    # Only a hard stop leaves files without a line: each still gets one.
                    aborted = work.cancel_scope.cancel_called
                    for item in self._unclassified() if aborted else []:
                        await results_send.send(self._interrupted_item(item))
                    if self._walk_tail is not None:
                        self._walk_tail.close()
                    why = f"run stopped: {self._fatal}" if self._fatal else "run interrupted"
                    for job in list(self.open_jobs.values()) if aborted else []:
                        error = (
                            f"aborted mid-upload: {why}"
                            if job.attempts
                            else f"not sent: {why} (the next run sends it)"
                        )
                        status = Status.FAILED if job.attempts else Status.SKIPPED
                        await results_send.send(
                            self._result(job, status, error=error, record_state=False)
                        )
            outer.cancel_scope.cancel()  # the recorder is done; end the signal watcher
        if self._fatal is not None:
            raise self._fatal  # every file found has its line; now the run fails as a whole
        # "Not seen" only means "gone" after a full walk that marked what it saw: a dry run marks
        # nothing, and a stopped walk never reached the rest of SOURCE.
        gone_count, gone_rows = (
            await self.store.gone(self.target_key, self.run_id, KEPT_GONE)
            if self.tally.walk_done and not self.settings.dry_run
            else (0, [])
        )
        self.tally.retried("api", self.api.stats.retries)
        outcome = RunOutcome(
            tally=self.tally,
            duration=time.monotonic() - started,
            interrupted=self.stop_signal,
            failures=self.failures,
            gone=[row.rel for row in gone_rows],
            gone_count=gone_count,
            api_calls=self.api.stats.calls,
            rate_limited=self.api.stats.rate_limited,
            run_id=self.run_id,
        )
        await self.store.finish_run(self.run_id, summary_dict(outcome))
        return outcome

    def _start_stages(self, work: TaskGroup, results: MemoryObjectSendStream[FileResult]) -> None:
        concurrency = self.settings.concurrency
        walk_send, walk_recv = anyio.create_memory_object_stream[list[WalkItem]](4)
        jobs_send, jobs_recv = anyio.create_memory_object_stream[Job](concurrency)
        ready_send, ready_recv = anyio.create_memory_object_stream[Job](0)
        work.start_soon(self._walk, walk_send)
        # A spare receiver: after a hard stop it collects the batches nobody classified.
        self._walk_tail = walk_recv.clone()
        work.start_soon(self._classify, walk_recv, jobs_send, results.clone())
        for _ in range(concurrency):
            work.start_soon(self._instruct, jobs_recv.clone(), ready_send.clone(), results.clone())
            work.start_soon(self._transfer, ready_recv.clone(), results.clone())
        # Each task holds its own clone; closing the originals lets each loop end with its inputs.
        for stream in (jobs_recv, ready_send, ready_recv):
            stream.close()

    def request_stop(self, signum: int = signal.SIGINT, *, hard: bool = False) -> None:
        """Stop taking files (what is in flight finishes and is recorded); `hard` aborts those
        too. The caller owns the process's signals (the CLI); the library never installs any."""
        if hard:
            self.progress.message("second interrupt: aborting uploads in flight")
            if self._work_scope is not None:
                self._work_scope.cancel()
            return
        if not self.stopping:
            self.stopping = True
            self.stop_signal = signum
            self.progress.message(
                "interrupted: finishing uploads in flight (interrupt again to abort)"
            )

    # ── stage 1: walk ──────────────────────────────────────────────────────────────────
    async def _walk(self, send: MemoryObjectSendStream[list[WalkItem]]) -> None:
        settings = self.settings

        def produce() -> None:
            batch: list[WalkItem] = []

            def deliver() -> None:
                anyio.from_thread.run(send.send, batch)
                # Counted once handed over (not downstream), so the display shows the real total
                # early, and a batch lost to an abort is never counted as found.
                self.tally.found += len(batch)
                self.tally.found_bytes += sum(i.size for i in batch if isinstance(i, FileEntry))

            for item in walk_sources(settings):
                if self.stopping:
                    break
                batch.append(item)
                if len(batch) >= WALK_BATCH:
                    deliver()
                    batch = []
            if batch:
                deliver()

        async with send:
            await anyio.to_thread.run_sync(produce, abandon_on_cancel=True)
        self.tally.walk_done = not self.stopping

    # ── stage 2: compare with the state store ──────────────────────────────────────────
    async def _classify(
        self,
        batches: MemoryObjectReceiveStream[list[WalkItem]],
        jobs: MemoryObjectSendStream[Job],
        results: MemoryObjectSendStream[FileResult],
    ) -> None:
        async with batches, jobs, results, _DryRunLines() as dry_run:
            async for batch in batches:
                # Items of this batch from `_batch_pos` on have no result yet (see _unclassified).
                self._batch, self._batch_pos = batch, 0
                entries = [item for item in batch if isinstance(item, FileEntry)]
                rels = [e.rel for e in entries]
                rows = await self.store.lookup(self.target_key, rels)
                if self.target_key != self.settings.target.key:
                    # Uploads sent with --no-attach belong to the target, not to a folder yet.
                    missing = [rel for rel in rels if rel not in rows]
                    unattached = await self.store.lookup(self.settings.target.key, missing)
                    rows.update(
                        (rel, row)
                        for rel, row in unattached.items()
                        if row.status == Status.SENT.value
                    )
                if not self.settings.dry_run:
                    await self.store.mark_seen(self.target_key, rels, self.run_id)
                for pos, item in enumerate(batch):
                    self._batch_pos = pos
                    if isinstance(item, SkippedEntry):
                        await results.send(skipped_result(item))
                        continue
                    job = Job(entry=item, row=rows.get(item.rel))
                    try:
                        reason = await self._unchanged_reason(job)
                    except FileProblem as exc:  # --checksum met an unreadable or vanished file
                        await results.send(self._failed(job, exc))
                        continue
                    if reason is not None:
                        if self.settings.dry_run:
                            dry_run.lines.append(f"would skip: {item.display_rel} ({reason})")
                        await results.send(
                            self._result(job, Status.SKIPPED, error=reason, record_state=False)
                        )
                    elif self.stopping:
                        await results.send(self._interrupted(job))
                    elif self.settings.dry_run:
                        dry_run.lines.append(f"would upload: {item.display_rel}")
                        await results.send(
                            self._result(
                                job,
                                Status.SKIPPED,
                                error="dry run: would upload",
                                record_state=False,
                            )
                        )
                    else:
                        await jobs.send(job)
                        self.open_jobs[item.rel] = job
                self._batch = []
                await dry_run.flush()

    def _stop_run(self, exc: BulkUploadError) -> None:
        """An error no file can get past (credentials, target, state): stop every stage now;
        `run` records what was left and then raises it."""
        if self._fatal is None:
            self._fatal = exc
        self.stopping = True
        if self._work_scope is not None:
            self._work_scope.cancel()

    def _unclassified(self) -> list[WalkItem]:
        """Walked items that never got a result: the rest of the batch being classified when
        the run was aborted, and the batches still queued behind it."""
        left = list(self._batch[self._batch_pos :])
        while self._walk_tail is not None:
            try:
                left.extend(self._walk_tail.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
        return left

    def _interrupted_item(self, item: WalkItem) -> FileResult:
        if isinstance(item, SkippedEntry):
            return skipped_result(item)
        return self._interrupted(Job(entry=item, row=None))

    async def _unchanged_reason(self, job: Job) -> str | None:
        """Why this file needs no upload, or None. An unattached ('sent') row counts as done
        only when this run does not attach either; otherwise `_plan` attaches those bytes."""
        row, entry = job.row, job.entry
        done = ("uploaded",) if self.settings.attach else ("uploaded", Status.SENT.value)
        if row is None or row.status not in done or row.size != entry.size:
            return None
        suffix = "" if row.status == "uploaded" else " (not attached)"
        if self.settings.checksum:
            job.md5 = await anyio.to_thread.run_sync(file_md5, entry.path, entry.display_rel)
            return f"unchanged since last upload (same MD5){suffix}" if job.md5 == row.md5 else None
        if row.mtime_ns == entry.mtime_ns:
            return f"unchanged since last upload{suffix}"
        return None

    # ── stage 3: instructions, just in time ───────────────────────────────────────────
    async def _instruct(
        self,
        jobs: MemoryObjectReceiveStream[Job],
        ready: MemoryObjectSendStream[Job],
        results: MemoryObjectSendStream[FileResult],
    ) -> None:
        async with jobs, ready, results:
            async for job in jobs:
                if self.stopping:
                    await results.send(self._interrupted(job))
                    continue
                job.started_at = now_iso()
                try:
                    done = await self._plan(job)
                    if done is not None:
                        await results.send(done)
                        continue
                    if not self._segmented(job):  # a segmented upload creates its own
                        job.instruction = await self._new_instruction(job)
                except FATAL as exc:
                    self._stop_run(exc)
                    return
                except BulkUploadError as exc:  # this file only: recorded, the run goes on
                    await results.send(self._failed(job, exc))
                    continue
                await ready.send(job)

    async def _plan(self, job: Job) -> FileResult | None:
        """Decide against Documents before spending an upload: skip, resume or go ahead."""
        if self.mirror is None:
            return None
        entry = job.entry
        folder_rel = posixpath.dirname(entry.rel)
        try:
            job.folder_id = await self.mirror.folder_id_for(remote_name(folder_rel))
            job.existing = await self.mirror.existing_file(job.folder_id, remote_name(entry.name))
        except NotFound as exc:
            raise TargetUnusable(
                f"{self.settings.target.kind} {self.settings.target.id} "
                f"not found or not visible: {exc.message}"
            ) from exc
        existing, row = job.existing, job.row
        if existing is not None and self.settings.on_conflict == "skip":
            return self._result(
                job,
                Status.SKIPPED,
                error="exists in Procore (--on-conflict skip)",
                file_id=existing.id,
                folder_id=job.folder_id,
            )
        if row is None or not same_file(row, entry):
            return None
        if (
            existing is not None
            # --checksum already found other content: same size and mtime prove nothing here.
            and (job.md5 is None or job.md5 == row.md5)
            and existing.size == entry.size
            and (row.status == "uploaded" or (row.status == "sent" and self._ours(existing, row)))
        ):
            return self._result(
                job,
                Status.UPLOADED,
                md5=row.md5,
                upload_uuid=row.upload_uuid,
                file_id=existing.id,
                folder_id=job.folder_id,
                version=existing.latest_version,
                note="already in Procore, unchanged since it was sent",
            )
        if row.status == "sent" and row.upload_uuid and await self._same_content(job, row):
            # Stored before a crash (or a failed attach) but never attached: attach those bytes,
            # send nothing; a new file or, when one exists, a new version by --on-conflict.
            try:
                return await self._attach(job, row.upload_uuid, md5=row.md5)
            except FATAL:
                raise
            except BulkUploadError as exc:
                log.info("stored bytes not attachable, sending again: %s: %s", entry.rel, exc)
                return None  # expired, deleted or refused: upload again
        return None

    def _ours(self, existing: RemoteFile, row: StateRow) -> bool:
        """Is the latest version of `existing` the upload the state says we sent? Procore shows
        no upload uuid: a version created since that row was written, by us when we know who
        we are, of the same size (checked by the caller) is taken as ours."""
        created = existing.latest_created_at
        try:
            sent = dt.datetime.fromisoformat(row.updated_at).timestamp()
        except ValueError:
            return False
        if created is None or created < sent - CLOCK_SKEW:
            return False
        me = self.mirror.me if self.mirror is not None else None
        return me is None or existing.latest_created_by in (None, me)

    async def _same_content(self, job: Job, row: StateRow) -> bool:
        """With --checksum, size and mtime are not proof: compare the MD5 too."""
        if not self.settings.checksum:
            return True
        if job.md5 is None:
            job.md5 = await anyio.to_thread.run_sync(
                file_md5, job.entry.path, job.entry.display_rel
            )
        return job.md5 == row.md5

    async def _new_instruction(self, job: Job) -> UploadInstruction:
        entry = job.entry
        try:
            return await create_upload(
                self.api,
                self.settings.target,
                filename=remote_name(entry.name),
                content_type=content_type_for(entry.name),
                size=entry.size,
                api_version=self.settings.api_version,
            )
        except NotFound as exc:
            raise TargetUnusable(
                f"{self.settings.target.kind} {self.settings.target.id} not found or not "
                f"visible to these credentials ({exc.message})"
            ) from exc

    # ── stage 4: transfer and attach ──────────────────────────────────────────────────
    async def _transfer(
        self, ready: MemoryObjectReceiveStream[Job], results: MemoryObjectSendStream[FileResult]
    ) -> None:
        async with ready, results:
            async for job in ready:
                if self.stopping:
                    await results.send(self._interrupted(job))
                    continue
                try:
                    result = await self._send_and_attach(job)
                except FATAL as exc:
                    self._stop_run(exc)
                    return
                await results.send(result)

    async def _send_and_attach(self, job: Job) -> FileResult:
        try:
            send = self._send_segmented if self._segmented(job) else self._send
            uuid, md5 = await send(job)
        except FATAL:
            raise
        except BulkUploadError as exc:
            return self._failed(job, exc)
        if self.mirror is None:
            # Not attached yet: a later run with attaching on attaches these bytes (resume rule).
            result = self._result(job, Status.UPLOADED, md5=md5, upload_uuid=uuid)
            result.state_status = Status.SENT
            return result
        await self.store.record(
            self.target_key,
            [self._result(job, Status.SENT, md5=md5, upload_uuid=uuid)],
            self.run_id,
        )
        try:
            return await self._attach(job, uuid, md5=md5)
        except FATAL:
            raise
        except BulkUploadError as exc:
            failed = self._result(
                job,
                Status.FAILED,
                md5=md5,
                upload_uuid=uuid,
                error=f"stored but not attached to Documents: {exc} "
                "(the next run attaches these bytes without sending them again)",
            )
            failed.state_status = Status.SENT  # the state keeps the stored bytes for next time
            return failed

    async def _attach(self, job: Job, uuid: str, *, md5: str | None) -> FileResult:
        assert self.mirror is not None and job.folder_id is not None
        done = await attach(
            self.api,
            self.settings.target,
            folder_id=job.folder_id,
            name=remote_name(job.entry.name),
            upload_uuid=uuid,
            size=job.entry.size,
            on_conflict=self.settings.on_conflict,
            existing=job.existing,
            mirror=self.mirror,
        )
        return self._result(
            job,
            Status.UPLOADED,
            md5=md5,
            upload_uuid=uuid,
            file_id=done.file_id,
            folder_id=done.folder_id,
            version=done.version,
            note=done.action,
        )

    def _segmented(self, job: Job) -> bool:
        return job.entry.size > self.settings.segment_threshold

    async def _send_segmented(self, job: Job) -> tuple[str, str]:
        """A big file in segments (each retried on its own); once more if it changed."""
        changed_once = False
        while True:
            job.attempts += 1
            try:
                receipt = await send_segmented(
                    self.api,
                    self.storage,
                    self.settings.target,
                    job.entry,
                    segment_size=self.settings.segment_size,
                    content_type=content_type_for(job.entry.name),
                    policy=self.policy,
                    on_progress=self._counter(job),
                    allow_http=self.settings.allow_http,
                    api_version=self.settings.api_version,
                )
            except FileChanged:
                self._reread_changed(job, changed_once)
                self.tally.retried("changed_file")
                changed_once = True
            else:
                return receipt.uuid, receipt.md5
            finally:
                self._settle(job)

    @staticmethod
    def _reread_changed(job: Job, changed_before: bool) -> None:
        """A file that changed mid-upload gets one more try from a fresh stat; twice fails it."""
        if changed_before:
            raise FileChanged("changed during upload (twice): not sent")
        job.entry = restat(job.entry)

    def _counter(self, job: Job) -> Callable[[int], None]:
        """Progress callback: bytes on the wire move forward, and back when a body rewinds."""

        def count(delta: int) -> None:
            job.sent_bytes += delta
            self.tally.bytes_in_flight += delta

        return count

    def _settle(self, job: Job) -> None:
        """The transfer is over (done or failed): its bytes leave the in-flight count."""
        self.tally.bytes_in_flight -= job.sent_bytes
        job.sent_bytes = 0

    async def _send(self, job: Job) -> tuple[str, str]:
        """Send the bytes, renewing instructions on "Policy expired" and once on a changed file."""
        renewals = 0
        changed_once = False
        while True:
            assert job.instruction is not None
            if time.monotonic() - job.instruction.created > self.settings.instruction_max_age:
                self.tally.retried("renewal")
                job.instruction = await self._new_instruction(job)
            try:
                md5 = await self._send_with_retries(job)
            except PolicyExpired:
                renewals += 1
                if renewals > MAX_RENEWALS:
                    raise
                log.info("instructions expired for %s: creating fresh ones", job.entry.display_rel)
                self.tally.retried("renewal")
            except FileChanged:
                self._reread_changed(job, changed_once)
                self.tally.retried("changed_file")
                changed_once = True
            else:
                return job.instruction.uuid, md5
            job.instruction = await self._new_instruction(job)

    async def _send_with_retries(self, job: Job) -> str:
        assert job.instruction is not None
        instruction = job.instruction
        count = self._counter(job)

        async def attempt() -> str:
            job.attempts += 1
            receipt = await send_to_storage(
                self.storage,
                instruction,
                job.entry,
                chunk_size=self.settings.chunk_size,
                on_progress=count,
                allow_http=self.settings.allow_http,
            )
            return receipt.md5

        def on_retry(exc: BaseException) -> None:
            self.tally.retried("storage")

        try:
            return await call_with_retries(self.policy, attempt, on_retry=on_retry)
        finally:
            self._settle(job)

    # ── stage 5: record ──────────────────────────────────────────────────────────────
    async def _record(
        self, results: MemoryObjectReceiveStream[FileResult], manifest: ManifestWriter
    ) -> None:
        def write(done: list[FileResult], keep: list[FileResult]) -> None:
            manifest.write_many(done)
            if keep:
                self.store.store.record(self.target_key, keep, self.run_id)
            for result in done:  # here, not on the loop: a --log-file line is a file write too
                log.info("file", extra={"result": result})

        async with results:
            while True:
                first = await receive_or_none(results)
                if first is None:
                    return
                done = [first]
                # Gather for a moment: one thread hop and one transaction per batch, not per
                # file (per-file hand-offs were the largest CPU cost of small files).
                with anyio.move_on_after(RECORD_LINGER):
                    while len(done) < RECORD_BATCH:
                        more = await receive_or_none(results)
                        if more is None:
                            break
                        done.append(more)
                keep = [
                    replace(r, status=r.state_status) if r.state_status else r
                    for r in done
                    if r.record_state and not self.settings.dry_run
                ]
                with anyio.CancelScope(shield=True):
                    await self.store.call(write, done, keep)
                for result in done:
                    self.tally.count(result)
                    if result.status is Status.FAILED:
                        reason = result.error or "failed"
                        if len(self.failures) < KEPT_FAILURES:  # the manifest has them all
                            self.failures.append((result.rel, reason))
                        self.progress.message(f"failed: {printable(result.rel)}: {reason}")
                self.progress.tick()

    # ── results ─────────────────────────────────────────────────────────────────────
    def _result(
        self,
        job: Job,
        status: Status,
        *,
        error: str | None = None,
        md5: str | None = None,
        upload_uuid: str | None = None,
        file_id: int | None = None,
        folder_id: int | None = None,
        version: int | None = None,
        note: str | None = None,
        record_state: bool = True,
    ) -> FileResult:
        entry = job.entry
        self.open_jobs.pop(entry.rel, None)
        row = job.row if record_state is False else None  # unchanged: repeat what state knows
        result = FileResult(
            rel=entry.rel,
            size=entry.size,
            mtime=entry.mtime_ns / 1e9,
            mtime_ns=entry.mtime_ns,
            status=status,
            md5=md5 or job.md5 or (row.md5 if row else None),
            upload_uuid=upload_uuid or (row.upload_uuid if row else None),
            attempts=job.attempts,
            error=error,
            started_at=job.started_at or now_iso(),
            finished_at=now_iso(),
            file_id=file_id or (row.file_id if row else None),
            folder_id=folder_id or job.folder_id or (row.folder_id if row else None),
            version=version or (row.version if row else None),
            record_state=record_state,
        )
        if note:
            result.extra["action"] = note
        return result

    def _interrupted(self, job: Job) -> FileResult:
        return self._result(
            job,
            Status.SKIPPED,
            error="not sent: run interrupted (the next run sends it)",
            record_state=False,
        )

    def _failed(self, job: Job, exc: BaseException) -> FileResult:
        return self._result(job, Status.FAILED, error=error_text(exc))


# ── small pure pieces ─────────────────────────────────────────────────────────────────
async def receive_or_none(stream: MemoryObjectReceiveStream[FileResult]) -> FileResult | None:
    try:
        return await stream.receive()
    except anyio.EndOfStream:
        return None
