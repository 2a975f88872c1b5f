"""The work of `bulkupload attach`: attach the stored uploads a `--no-attach` manifest lists.

Each record goes through the Documents destination an upload run uses (locate, then attach),
and its outcome is recorded in the state store as an upload run records it (so a later run
skips it); the manifest is rewritten with what was done even when the run stops midway.
Uploads older than 7 days were deleted by Procore: they are reported as expired, not retried.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from ..config import DEFAULT_STATE
from ..destinations.documents import Documents, documents_state_key
from ..digests import manifest_digest
from ..errors import STOPS_THE_RUN, ApiError, ConfigError, StateError
from ..manifest import load_manifest, original_rel, rewrite_manifest
from ..messages import Planned, Stored
from ..models import FileEntry, FileResult, OnConflict, Target, printable
from ..procore.sessions import make_api_session
from ..results import failed, unplaced
from ..retry import Policies
from ..runner import api_client
from ..state import AsyncStateStore, StateRow, now_iso
from ..stats import KEPT_FAILURES
from .common import Connection
from .failures import describe

log = logging.getLogger("bulkupload")
WEEK = dt.timedelta(days=7)
WEEK_S = WEEK.total_seconds()
# Errors no other record could get past: the run stops, the manifest keeps what was done.
FATAL = STOPS_THE_RUN


@dataclass(frozen=True, slots=True)
class AttachSettings:
    """Everything one `bulkupload attach` run needs to know."""

    manifest: Path
    target: Target
    connection: Connection
    folder: str = ""
    on_conflict: OnConflict = "version"
    concurrency: int = 8
    retries: int = 5
    state: Path = Path(DEFAULT_STATE)
    retry_backoff: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= 512:
            raise ConfigError(f"--concurrency must be between 1 and 512, not {self.concurrency}")
        if self.retries < 0:
            raise ConfigError("--retries must be 0 or more")
        if self.on_conflict not in ("version", "skip", "rename"):
            raise ConfigError("--on-conflict must be version, skip or rename")

    @property
    def state_key(self) -> str:
        """The destination's key in the state store, as an upload run that attaches uses it."""
        return documents_state_key(self.target, self.folder)


@dataclass(slots=True)
class AttachOutcome:
    attached: int = 0
    expired: int = 0
    failed: int = 0
    skipped: int = 0
    not_tried: int = 0  # left for the next `attach` by a stop
    stopped_by: Exception | None = None  # the error that stopped the run, if any
    aborted: bool = False  # a hard stop cancelled the attaches in flight
    # (expired|failed, path, reason) of the first KEPT_FAILURES records that did not attach
    failures: list[tuple[str, str, str]] = field(default_factory=list)


def pending(record: Mapping[str, Any]) -> bool:
    """Stored but not attached, by the upload run or an earlier `attach`: running `attach`
    again is how to retry a failed one."""
    return (
        record.get("status") in ("uploaded", "failed")
        and bool(record.get("upload_uuid"))
        and record.get("file_id") is None
    )


def age(record: Mapping[str, Any], now: dt.datetime) -> dt.timedelta | None:
    stamp = record.get("finished_at") or record.get("started_at")
    if not stamp:
        return None
    try:
        return now - dt.datetime.fromisoformat(str(stamp))
    except (TypeError, ValueError):
        return None


async def attach_manifest(
    settings: AttachSettings,
    *,
    stop: anyio.Event | None = None,
    abort: anyio.Event | None = None,
) -> AttachOutcome:
    """Attach every pending record; setup problems raise, a later fatal one is `stopped_by`."""
    records = await anyio.to_thread.run_sync(load_manifest, settings.manifest)
    outcome = AttachOutcome()
    todo = [record for record in records if pending(record)]
    if not todo:
        return outcome
    conn = settings.connection
    # The state first: a locked or broken store stops the run before any network call.
    async with (
        await AsyncStateStore.open(settings.state) as store,
        make_api_session(settings.concurrency) as session,
    ):
        tokens, api = api_client(
            session,
            credentials=conn.credentials,
            login_url=conn.login_url,
            base_url=conn.base_url,
            company_id=conn.company_id,
            policies=Policies.for_run(settings.retries, backoff=settings.retry_backoff),
            allow_http=conn.allow_http,
        )
        await tokens.token()  # wrong credentials or an unreachable host stop here
        documents = Documents(
            api, settings.target, folder=settings.folder, on_conflict=settings.on_conflict
        )
        work = Attaching(settings, documents, store, outcome)
        try:
            await work.run(todo, stop or anyio.Event(), abort or anyio.Event())
        finally:
            with anyio.CancelScope(shield=True):  # even on Ctrl-C: keep what was done
                await anyio.to_thread.run_sync(rewrite_manifest, settings.manifest, records)
    return outcome


class Attaching:
    """The records of one run, `concurrency` at a time; each outcome goes to state and record."""

    def __init__(
        self,
        settings: AttachSettings,
        documents: Documents,
        store: AsyncStateStore,
        outcome: AttachOutcome,
    ) -> None:
        self.settings = settings
        self.documents = documents
        self.store = store
        self.outcome = outcome
        self.now = dt.datetime.now(dt.UTC)
        self.run_id = 0
        self.rows: dict[str, list[StateRow]] = {}

    async def run(self, todo: list[dict[str, Any]], stop: anyio.Event, abort: anyio.Event) -> None:
        key, target_key = self.settings.state_key, self.settings.target.key
        rels = [original_rel(record) for record in todo]
        # The --no-attach run recorded each file under the target, with its exact mtime_ns.
        for store_key in dict.fromkeys((target_key, key)):
            for rel, row in (await self.store.lookup(store_key, rels)).items():
                self.rows.setdefault(rel, []).append(row)
        self.run_id = await self.store.begin_run(key)
        records = iter(todo)

        async def worker() -> None:
            for record in records:
                if stop.is_set() or self.outcome.stopped_by is not None:
                    self.outcome.not_tried += 1
                else:
                    await self.one(record)

        async def abort_when_set(scope: anyio.CancelScope) -> None:
            await abort.wait()
            self.outcome.aborted = True
            scope.cancel()

        async with anyio.create_task_group() as watch:
            async with anyio.create_task_group() as group:
                watch.start_soon(abort_when_set, group.cancel_scope)
                for _ in range(min(self.settings.concurrency, len(todo))):
                    group.start_soon(worker)
            watch.cancel_scope.cancel()
        if not isinstance(self.outcome.stopped_by, StateError):  # the store itself failed
            await self.store.finish_run(self.run_id, self.summary())

    def summary(self) -> dict[str, Any]:
        out = self.outcome
        return {
            "command": "attach",
            "attached": out.attached,
            "expired": out.expired,
            "failed": out.failed,
            "skipped": out.skipped,
            "not_tried": out.not_tried,
            "stopped_by": None if out.stopped_by is None else str(out.stopped_by),
        }

    async def one(self, record: dict[str, Any]) -> None:
        try:
            await self._attach(record)
        except FATAL as exc:
            if self.outcome.stopped_by is None:
                self.outcome.stopped_by = exc
            self.outcome.not_tried += 1  # the record stays as it was: the next attach tries it

    def _placed(self, rel: str, upload_id: str) -> StateRow | None:
        """The state's row saying upload `upload_id` of `rel` is placed, if one does."""
        rows = self.rows.get(rel, [])
        placed = (r for r in rows if r.upload_uuid == upload_id and r.status == "uploaded")
        return next((r for r in placed if r.file_id is not None), None)

    def _stored(self, record: dict[str, Any], rel: str) -> Stored:
        """The record as the pipeline's stored upload: the file as the upload run saw it."""
        uuid = str(record["upload_uuid"])
        same = [row for row in self.rows.get(rel, []) if row.upload_uuid == uuid]
        row = same[0] if same else None
        mtime = record.get("mtime")
        mtime_ns = row.mtime_ns if row is not None else None
        if mtime_ns is None and isinstance(mtime, int | float):
            mtime_ns = round(mtime * 1_000_000_000)  # no state row of that upload: the manifest's
        entry = FileEntry(
            path="", rel=rel, size=int(record.get("size") or 0), mtime_ns=mtime_ns or 0
        )
        started = str(record.get("started_at") or now_iso())
        digest = manifest_digest(record)
        item = Planned(entry, row, started, md5=digest)
        old = age(record, self.now)
        stored_at = (self.now - old).timestamp() if old is not None else self.now.timestamp()
        return Stored(
            item,
            uuid,
            digest or "",
            int(record.get("attempts") or 0),
            stored_at,
            expires_at=row.expires_at if row is not None else None,
        )

    async def _attach(self, record: dict[str, Any]) -> None:
        rel = original_rel(record)
        stored = self._stored(record, rel)
        if (row := self._placed(rel, stored.upload_id)) is not None:
            # An upload run attached these very bytes since (the state says where): the
            # record says so too, and nothing is asked of Procore.
            record.update(
                status="uploaded", error=None, file_id=row.file_id, folder_id=row.folder_id,
                version=row.version, action="attached by an upload run",
            )  # fmt: skip
            self.outcome.skipped += 1
            return
        old = age(record, self.now)
        if old is not None and old > WEEK:
            await self._expired(record, stored, "Procore deletes unattached uploads after 7 days")
            return
        try:
            located = await self.documents.locate(stored.item)
            if isinstance(located, FileResult):  # a file of that name, and --on-conflict skip
                result = replace(located, upload_uuid=stored.upload_id, md5=stored.md5)
            else:
                result = await self.documents.attach(replace(stored, item=located))
        except FATAL:
            raise
        except ApiError as exc:
            if exc.status == 410:  # Procore's clock, not the manifest's, decides: it deleted it
                await self._expired(record, stored, exc.message)
            else:
                await self._done(
                    record, unplaced(stored, f"attach failed: {exc.message}", lifetime=WEEK_S)
                )
            return
        except Exception as exc:  # one record's problem, whatever it is: the run goes on
            log.debug("attach failed: %s", printable(rel), exc_info=True)
            await self._done(
                record, unplaced(stored, f"attach failed: {describe(exc)[0]}", lifetime=WEEK_S)
            )
            return
        await self._done(record, result)

    async def _expired(self, record: dict[str, Any], stored: Stored, why: str) -> None:
        # The bytes are gone: the state says failed, so the next upload run sends them again.
        await self._done(record, failed(stored.item, f"upload expired: {why}"), expired=True)

    async def _done(
        self, record: dict[str, Any], result: FileResult, *, expired: bool = False
    ) -> None:
        placement = result.placement
        record.update(
            status=result.status.value,
            error=result.error,
            file_id=placement.file_id if placement else None,
            folder_id=placement.folder_id if placement else None,
            version=placement.version if placement else None,
        )
        if placement is not None and placement.action:
            record["action"] = placement.action
        failures = self.outcome.failures
        if (expired or result.status.value == "failed") and len(failures) < KEPT_FAILURES:
            word = "expired" if expired else "failed"
            failures.append((word, result.rel, result.error or word))
        if expired:
            self.outcome.expired += 1
        elif result.status.value == "failed":
            self.outcome.failed += 1
        elif result.status.value == "skipped":
            self.outcome.skipped += 1
        else:
            self.outcome.attached += 1
        await self.store.record(self.settings.state_key, [result], self.run_id)
