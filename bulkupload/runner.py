"""Assembles one upload run (sessions, credentials, API client, protocols, destination, state,
events) and runs it: `upload()`, the library's entry point, which the command line uses too."""

from __future__ import annotations

import importlib
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import anyio
import anyio.to_thread

from .config import Credentials, Settings, clock_time
from .destinations.base import Destination
from .destinations.documents import Documents
from .destinations.storage_only import StorageOnly
from .errors import BulkUploadError
from .events import EventBus, Subscriber
from .logs import log_event
from .pipeline.control import Control, Stage
from .pipeline.ledger import Ledger
from .pipeline.placing import PLACING_PER_SLOT
from .pipeline.recording import StateJournal
from .pipeline.run import finish, run_stages
from .procore.auth import ClientCredentials, StaticToken, TokenSource
from .procore.client import ApiClient
from .procore.ratelimit import RateLimitPacer
from .procore.sessions import make_api_session, make_storage_session
from .progress import Progress
from .protocols import protocols_for
from .protocols.base import Transport, UploadProtocol
from .protocols.cached import CachedReads
from .protocols.throttle import Bandwidth
from .retry import Policies
from .state import AsyncStateStore
from .stats import RunOutcome, Tally, summary_dict

__all__ = ["api_client", "upload", "write_report"]

log = logging.getLogger("bulkupload")


async def upload(
    settings: Settings,
    *,
    stop: anyio.Event | None = None,
    abort: anyio.Event | None = None,
    events: Subscriber | None = None,
) -> RunOutcome:
    """Upload `settings.sources` into Procore; returns the run's outcome.

    Writes the manifest, the state store and (when set) `settings.report`, as the command line
    does; configures no logging (log records go to the `bulkupload` logger) and prints nothing
    unless `settings.progress` asks for a display. Errors that stop the whole run (credentials,
    target, state store, configuration) raise a `BulkUploadError` once every file found has its
    manifest line; a file that fails is in `outcome.failures` and the manifest.

    `stop`: when set, the run stops as on a first SIGINT: no new file starts, files in flight
    finish, every file found gets its line, and `outcome.stopped_by` is SIGINT. `abort`: when
    set, files in flight are cancelled too (they get a line each). `events`: called with every
    event of the run (`bulkupload.events`), on the event loop; it must not block.
    """
    await anyio.to_thread.run_sync(import_what_it_needs, settings)
    await anyio.to_thread.run_sync(ready_report, settings)
    tally = Tally()
    progress = Progress(tally, mode=settings.progress)
    bus = EventBus(tally.on_event, progress.on_event, log_event)
    if events is not None:
        bus.subscribe(events)
    with progress:
        outcome = await _run(settings, bus, tally, stop, abort)
    if settings.report is not None:
        await anyio.to_thread.run_sync(write_report, outcome, settings)
    log.info("run finished", extra={"summary": summary_dict(outcome)})
    return outcome


def places_in_document_management(settings: Settings) -> bool:
    """Whether the run's files go to Document Management (its modules are imported then)."""
    return settings.attach and settings.destination == "document-management"


def import_what_it_needs(settings: Settings) -> None:
    """Import the modules only some runs need (a terminal's live line, --bwlimit, Document
    Management), which a plain run never loads (start-up time). Blocking: in a worker thread,
    so no import reads files on the event loop."""
    names = []
    if settings.progress == "tty" or (settings.progress == "auto" and sys.stderr.isatty()):
        names += ["rich.console", "rich.live", "rich.text"]
    if settings.bwlimit:
        names.append("aiolimiter")
    if places_in_document_management(settings):
        names += [
            "bulkupload.destinations.document_management",
            "bulkupload.destinations.pdm_setup",
            "bulkupload.procore.pdm",
        ]
    for name in names:
        importlib.import_module(name)


def token_source(
    creds: Credentials, login_url: str, session: aiohttp.ClientSession, *, allow_http: bool = False
) -> TokenSource:
    """Renewable client credentials when given, else the ready access token."""
    if creds.client_id and creds.client_secret:
        return ClientCredentials(
            session, login_url, creds.client_id, creds.client_secret, allow_http=allow_http
        )
    if creds.access_token is None:
        raise ValueError("credentials hold neither client credentials nor an access token")
    return StaticToken(creds.access_token)


def api_client(
    session: aiohttp.ClientSession,
    *,
    credentials: Credentials,
    login_url: str,
    base_url: str,
    company_id: int,
    policies: Policies,
    allow_http: bool = False,
    events: EventBus | None = None,
    api_share: float = 1.0,
) -> tuple[TokenSource, ApiClient]:
    """The token source and API client every command uses: the run's API call policy, paced
    by Procore's rate-limit headers (`api_share` of them), the same URL rule for the login and
    API hosts."""
    tokens = token_source(credentials, login_url, session, allow_http=allow_http)
    api = ApiClient(
        session,
        base_url,
        company_id=company_id,
        tokens=tokens,
        policy=policies.api_call,
        pacer=RateLimitPacer(share=api_share),
        allow_http=allow_http,
        events=events,
    )
    return tokens, api


async def destination_for(
    settings: Settings, api: ApiClient, store: AsyncStateStore
) -> Destination:
    if not settings.attach:
        return StorageOnly(settings.target)
    if places_in_document_management(settings):
        # Imported here: the Document Management modules are a tenth of a plain run's start-up.
        from .destinations.document_management import DocumentManagement
        from .destinations.pdm_setup import document_management
        from .procore.pdm import PdmApi

        pdm = PdmApi(api, settings.target, settings.company_id)
        journal = StateJournal(store, DocumentManagement.key_for(settings.target))
        return await document_management(settings, pdm, journal)
    return Documents(api, settings.target, folder=settings.folder, on_conflict=settings.on_conflict)


def protocols(settings: Settings, transport: Transport) -> Sequence[UploadProtocol]:
    return protocols_for(
        transport,
        target=settings.target,
        api_version=settings.api_version,
        segment_threshold=settings.segment_threshold,
        segment_size=settings.segment_size,
        instruction_max_age=settings.instruction_max_age,
        company_id=settings.company_id,
        part_size=settings.part_size,
    )


async def _run(
    settings: Settings,
    events: EventBus,
    tally: Tally,
    stop: anyio.Event | None,
    abort: anyio.Event | None,
) -> RunOutcome:
    policies = Policies.for_run(settings.retries, backoff=settings.retry_backoff)
    # File reads (and their hashing) run here: a thread per body being written at once, that is
    # one per transfer, two for a segmented file (its parts in flight); threads start lazily.
    reader = ThreadPoolExecutor(2 * settings.concurrency, thread_name_prefix="bulkupload-read")
    try:
        async with (
            # Preparers (one per slot) and placers call the API at once: a pool sized for the
            # preparers alone held attaching back (issue 14).
            make_api_session((1 + PLACING_PER_SLOT) * settings.concurrency) as api_session,
            make_storage_session(settings.concurrency) as storage,
        ):
            tokens, api = api_client(
                api_session,
                credentials=settings.credentials,
                login_url=settings.login_url,
                base_url=settings.base_url,
                company_id=settings.company_id,
                policies=policies,
                allow_http=settings.allow_http,
                events=events,
                api_share=settings.api_share,
            )
            pacer = api.pacer
            assert pacer is not None
            # Wrong credentials or an unreachable host stop here (a dry run into Document
            # Management reads the project's catalog: it needs the token too).
            if not settings.dry_run or settings.destination == "document-management":
                await tokens.token()
            async with await AsyncStateStore.open(settings.state) as store:
                remember_limits(pacer, await store.api_limits())
                destination = await destination_for(settings, api, store)
                transport = Transport(
                    api=api,
                    storage=storage,
                    policies=policies,
                    events=events,
                    allow_http=settings.allow_http,
                    chunk_size=settings.chunk_size,
                    storage_slots=anyio.CapacityLimiter(settings.concurrency),
                    journal=StateJournal(store, destination.state_key),
                    reader=reader,
                    bandwidth=Bandwidth(settings.bwlimit) if settings.bwlimit else None,
                    cached_reads=await anyio.to_thread.run_sync(CachedReads.here),
                )
                stage = Stage(
                    settings=settings,
                    store=store,
                    destination=destination,
                    protocols=protocols(settings, transport),
                    policies=policies,
                    events=events,
                    ledger=Ledger(),
                    control=Control(events),
                    run_id=await store.begin_run(destination.state_key),
                    api_rate=pacer.sustainable_rate,
                )
                outcome = await _run_stages(stage, tally, stop, abort)
                check = getattr(destination, "check", None)  # Document Management's dry run
                if check is not None:
                    from .destinations.pdm_setup import DryRunCheck

                    if isinstance(check, DryRunCheck):
                        outcome.notes.extend(await check.close())
                outcome.api_calls = api.stats.calls
                outcome.rate_limited = api.stats.rate_limited
                outcome.api_usage = api.stats.usage()
                outcome.api_limits = pacer.known()
                await finish(stage, outcome)
                return outcome
    finally:
        reader.shutdown(wait=False, cancel_futures=True)


async def _run_stages(
    stage: Stage, tally: Tally, stop: anyio.Event | None, abort: anyio.Event | None
) -> RunOutcome:
    """The stages, with `stop` and `abort` watched; a run-wide error raised as it is."""
    control = stage.control
    fatal: BulkUploadError | None = None
    async with anyio.create_task_group() as watchers:
        if stop is not None:
            watchers.start_soon(_when_set, stop, control.request_stop)
        if abort is not None:
            watchers.start_soon(_when_set, abort, control.abort)
        if (limit := time_limit(stage.settings, time.time())) is not None:
            watchers.start_soon(_run_window, control, limit, stage.settings.stop_grace)
        try:
            outcome = await run_stages(stage, tally)
        except BulkUploadError as exc:  # raised below, not wrapped in a group
            fatal = exc
        finally:
            watchers.cancel_scope.cancel()
    if fatal is not None:
        raise fatal
    return outcome


def time_limit(settings: Settings, now: float) -> float | None:
    """When no new file may start (Unix seconds): `max_duration` after `now` or the next
    `stop_at` (local time), whichever comes first; None without a limit."""
    limits = []
    if settings.max_duration is not None:
        limits.append(now + settings.max_duration)
    if settings.stop_at is not None:
        hour, minute = clock_time(settings.stop_at)
        start = datetime.fromtimestamp(now).astimezone()
        at = start.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if at <= start:
            at += timedelta(days=1)
        limits.append(at.timestamp())
    return min(limits) if limits else None


async def _run_window(control: Control, limit: float, grace: float) -> None:
    """At the limit, a graceful stop; `grace` seconds later, what is still in flight aborts."""
    await anyio.sleep(max(limit - time.time(), 0.0))
    control.stop_for_time()
    await anyio.sleep(grace)
    control.abort()


def remember_limits(pacer: RateLimitPacer, known: dict[str, Any]) -> None:
    """What an earlier run learnt of the rate limits (`RateLimitPacer.known`): the plan's
    estimate has a rate at once, and the hourly share holds from the first call."""
    for name, window in (("spike", pacer.spike), ("hourly", pacer.hourly)):
        seen = known.get(name)
        if isinstance(seen, dict) and isinstance(seen.get("limit"), int):
            window.limit = seen["limit"]
            length = seen.get("length")
            if name == "spike" and isinstance(length, int | float) and length > 0:
                window.length = float(length)


async def _when_set(event: anyio.Event, then: Callable[[], None]) -> None:
    await event.wait()
    then()


def ready_report(settings: Settings) -> None:
    """Make sure `--report` can be written before any work: its folder made, the file opened
    for appending (one made for the test is removed again: a run that stops on an error
    leaves no empty report). A path that cannot be written is the usage error the manifest's
    would be, not a surprise after the upload."""
    report = settings.report
    if report is None:
        return
    report.parent.mkdir(parents=True, exist_ok=True)
    existed = report.exists()
    with report.open("a"):
        pass
    if not existed:
        report.unlink()


def write_report(outcome: RunOutcome, settings: Settings) -> None:
    """The run's summary as a JSON file (`--report`); blocking, for a worker thread."""
    if settings.report is None:
        return
    report = summary_dict(outcome)
    report["target"] = settings.target.key
    report["manifest"] = str(settings.manifest)
    settings.report.parent.mkdir(parents=True, exist_ok=True)
    settings.report.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
