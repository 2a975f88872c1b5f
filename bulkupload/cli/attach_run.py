"""The work of `bulkupload attach`: attach the stored uploads a `--no-attach` manifest lists.

Each attached file is recorded in the state store as an upload run would record it (so a later
run skips it), and the manifest is rewritten with what was done even when the run stops midway.
Uploads older than 7 days were deleted by Procore: they are reported as expired, not retried.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from ..config import DEFAULT_STATE, OnConflict
from ..errors import (
    ApiError,
    AuthError,
    BulkUploadError,
    ConfigError,
    NotFound,
    StateError,
    TargetUnusable,
)
from ..manifest import original_rel, printable_values, read_manifest
from ..models import FileResult, Status, Target, printable
from ..procore.client import make_api_session
from ..procore.documents import FolderMirror, remote_name
from ..runner import api_client
from ..state import AsyncStateStore, StateRow
from .common import Connection
from .failures import describe

log = logging.getLogger("bulkupload")
WEEK = dt.timedelta(days=7)
# Errors no other record could get past: the run stops, the manifest keeps what was done.
FATAL = (AuthError, StateError, TargetUnusable)


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
        """The destination's key in the state store: the rule of `outcome.state_key` for a run
        that attaches (the target, and the folder when there is one)."""
        return f"{self.target.key}/{self.folder}" if self.folder else self.target.key


@dataclass(slots=True)
class AttachOutcome:
    attached: int = 0
    expired: int = 0
    failed: int = 0
    skipped: int = 0
    not_tried: int = 0  # left for the next `attach` by a stop
    stopped_by: BulkUploadError | None = None  # the error that stopped the run, if any


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


def load_manifest(path: Path) -> list[dict[str, Any]]:
    """Every record of a manifest, checked: any problem is a ConfigError naming the file."""
    shown = printable(str(path))
    try:
        records = list(read_manifest(path))
    except FileNotFoundError:
        raise ConfigError(f"manifest not found: {shown}") from None
    except IsADirectoryError:
        raise ConfigError(f"manifest {shown} is a directory") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"manifest {shown} is not UTF-8 text: {exc.reason}") from None
    except ValueError as exc:  # read_manifest names the bad line
        raise ConfigError(f"not a bulkupload manifest: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read manifest {shown}: {exc.strerror or exc}") from None
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict) or not isinstance(record.get("path"), str):
            raise ConfigError(f"not a bulkupload manifest: {shown} record {number} has no path")
    return records


def rewrite_manifest(path: Path, records: Sequence[dict[str, Any]]) -> None:
    """Replace the manifest with the updated records, atomically (a crash keeps the old one)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(printable_values(record), ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


async def attach_manifest(
    settings: AttachSettings, *, stop: anyio.Event | None = None
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
            retries=settings.retries,
            backoff=settings.retry_backoff,
            allow_http=conn.allow_http,
        )
        await tokens.token()  # wrong credentials or an unreachable host stop here
        mirror = FolderMirror(api, settings.target, settings.folder)
        work = Attaching(settings, mirror, store, outcome)
        try:
            await work.run(todo, stop or anyio.Event())
        finally:
            with anyio.CancelScope(shield=True):  # even on Ctrl-C: keep what was done
                await anyio.to_thread.run_sync(rewrite_manifest, settings.manifest, records)
    return outcome


class Attaching:
    """The records of one run, `concurrency` at a time; each outcome goes to state and record."""

    def __init__(
        self,
        settings: AttachSettings,
        mirror: FolderMirror,
        store: AsyncStateStore,
        outcome: AttachOutcome,
    ) -> None:
        self.settings = settings
        self.mirror = mirror
        self.store = store
        self.outcome = outcome
        self.now = dt.datetime.now(dt.UTC)
        self.run_id = 0
        self.rows: dict[str, list[StateRow]] = {}

    async def run(self, todo: list[dict[str, Any]], stop: anyio.Event) -> None:
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

        async with anyio.create_task_group() as group:
            for _ in range(min(self.settings.concurrency, len(todo))):
                group.start_soon(worker)
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

    async def _attach(self, record: dict[str, Any]) -> None:
        rel = original_rel(record)
        old = age(record, self.now)
        if old is not None and old > WEEK:
            await self._expired(record, rel, "Procore deletes unattached uploads after 7 days")
            return
        try:
            done = await self.mirror.attach(
                folder_id=await self._folder_id(rel),
                name=remote_name(posixpath.basename(rel)),
                upload_uuid=str(record["upload_uuid"]),
                size=int(record.get("size") or 0),
                on_conflict=self.settings.on_conflict,
            )
        except FATAL:
            raise
        except ApiError as exc:
            if exc.status == 410:  # Procore's clock, not the manifest's, decides: it deleted it
                await self._expired(record, rel, exc.message)
            else:
                await self._failed(record, rel, f"attach failed: {exc.message}")
            return
        except Exception as exc:  # one record's problem, whatever it is: the run goes on
            log.debug("attach failed: %s", printable(rel), exc_info=True)
            await self._failed(record, rel, f"attach failed: {describe(exc)[0]}")
            return
        record.update(file_id=done.file_id, folder_id=done.folder_id, version=done.version)
        if done.action == "skipped":
            record.update(status="skipped", error="exists in Procore (--on-conflict skip)")
            self.outcome.skipped += 1
            await self._record(record, rel, Status.SKIPPED)
        else:
            record.update(status="uploaded", error=None)
            self.outcome.attached += 1
            await self._record(record, rel, Status.UPLOADED)
        record["action"] = done.action

    async def _folder_id(self, rel: str) -> int:
        try:
            return await self.mirror.folder_id_for(remote_name(posixpath.dirname(rel)))
        except NotFound as exc:  # the project or company itself: no record can be attached
            target = self.settings.target
            raise TargetUnusable(
                f"{target.kind} {target.id} not found or not visible: {exc.message}"
            ) from exc

    async def _expired(self, record: dict[str, Any], rel: str, why: str) -> None:
        record.update(status="failed", error=f"upload expired: {why}")
        self.outcome.expired += 1
        await self._record(record, rel, Status.FAILED)  # the bytes are gone: send them again

    async def _failed(self, record: dict[str, Any], rel: str, error: str) -> None:
        record.update(status="failed", error=error)
        self.outcome.failed += 1
        # As an upload run whose attach failed: the state keeps the stored bytes for next time.
        await self._record(record, rel, Status.SENT)

    async def _record(self, record: dict[str, Any], rel: str, status: Status) -> None:
        uuid = record.get("upload_uuid")
        same = [row for row in self.rows.get(rel, []) if row.upload_uuid == uuid]
        mtime = record.get("mtime")
        mtime_ns = same[0].mtime_ns if same and same[0].mtime_ns is not None else None
        if mtime_ns is None and isinstance(mtime, int | float):
            mtime_ns = round(mtime * 1_000_000_000)  # no state row of that upload: the manifest's
        result = FileResult(
            rel=rel,
            size=record.get("size"),
            mtime=mtime if isinstance(mtime, int | float) else None,
            mtime_ns=mtime_ns,
            status=status,
            md5=record.get("md5"),
            upload_uuid=uuid,
            attempts=int(record.get("attempts") or 0),
            error=record.get("error"),
            started_at=record.get("started_at"),
            finished_at=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            file_id=record.get("file_id"),
            folder_id=record.get("folder_id"),
            version=record.get("version"),
        )
        await self.store.record(self.settings.state_key, [result], self.run_id)
