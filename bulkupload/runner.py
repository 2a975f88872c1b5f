"""Assembles one upload run (sessions, credentials, API client, state, Documents): `upload()`,
the library's entry point, which the command line's `upload` uses too."""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import Awaitable
from typing import Any

import aiohttp
import anyio
import anyio.to_thread

from .config import Credentials, Settings
from .errors import BulkUploadError
from .outcome import RunOutcome, summary_dict
from .pipeline import UploadRun
from .procore.auth import ClientCredentials, StaticToken, TokenSource
from .procore.client import ApiClient, make_api_session, make_storage_session
from .procore.documents import FolderMirror
from .procore.ratelimit import RateLimitPacer
from .progress import Progress, Tally
from .retry import RetryPolicy
from .state import AsyncStateStore

log = logging.getLogger("bulkupload")


async def upload(
    settings: Settings, *, stop: anyio.Event | None = None, events: Any = None
) -> RunOutcome:
    """Upload `settings.sources` into Procore; returns the run's outcome.

    Writes the manifest, the state store and (when set) `settings.report`, as the command line
    does; prints nothing and configures no logging (log records go to the `bulkupload` logger).
    Errors that stop the whole run (credentials, target, state store, configuration) raise a
    `BulkUploadError`; a file that fails is in `outcome.failures` and the manifest.

    `stop`: when set, the run stops as on a first SIGINT: no new file starts, files in flight
    finish, every file found gets its manifest line, and `outcome.interrupted` is SIGINT.
    `events`: reserved for the typed event stream; not used yet, must be None.
    """
    if events is not None:
        raise NotImplementedError("upload(events=...) is not available yet: pass None")
    return await _finish(settings, await unwrap_groups(_run(settings, stop)))


async def upload_with_signals(settings: Settings) -> RunOutcome:
    """`upload` for the command line: SIGINT/SIGTERM stop it (first gracefully, then hard)."""
    return await _finish(settings, await unwrap_groups(_run(settings, None, signals=True)))


async def _finish(settings: Settings, outcome: RunOutcome) -> RunOutcome:
    if settings.report is not None:
        await anyio.to_thread.run_sync(write_report, outcome, settings)
    log.info("run finished", extra={"summary": summary_dict(outcome)})
    return outcome


def retry_policy(retries: int, *, backoff: bool = True) -> RetryPolicy:
    """The API call policy of a run: `retries` after the first try."""
    return RetryPolicy(attempts=retries + 1, backoff=backoff)


def token_source(
    creds: Credentials,
    login_url: str,
    session: aiohttp.ClientSession,
    *,
    allow_http: bool = False,
) -> TokenSource:
    """Renewable client credentials when given, else the ready access token."""
    if creds.client_id and creds.client_secret:
        return ClientCredentials(
            session, login_url, creds.client_id, creds.client_secret, allow_http=allow_http
        )
    assert creds.access_token is not None
    return StaticToken(creds.access_token)


def api_client(
    session: aiohttp.ClientSession,
    *,
    credentials: Credentials,
    login_url: str,
    base_url: str,
    company_id: int,
    retries: int,
    backoff: bool = True,
    allow_http: bool = False,
) -> tuple[TokenSource, ApiClient]:
    """The token source and API client every command uses: one retry policy, paced by
    Procore's rate-limit headers, the same URL rule for the login and API hosts."""
    tokens = token_source(credentials, login_url, session, allow_http=allow_http)
    api = ApiClient(
        session,
        base_url,
        company_id=company_id,
        tokens=tokens,
        policy=retry_policy(retries, backoff=backoff),
        pacer=RateLimitPacer(),
        allow_http=allow_http,
    )
    return tokens, api


async def _run(
    settings: Settings, stop: anyio.Event | None, *, signals: bool = False
) -> RunOutcome:
    progress = Progress(Tally(), mode=settings.progress)
    async with (
        make_api_session(settings.concurrency) as api_session,
        make_storage_session(settings.concurrency) as storage,
    ):
        tokens, api = api_client(
            api_session,
            credentials=settings.credentials,
            login_url=settings.login_url,
            base_url=settings.base_url,
            company_id=settings.company_id,
            retries=settings.retries,
            backoff=settings.retry_backoff,
            allow_http=settings.allow_http,
        )
        mirror = None
        if not settings.dry_run:
            await tokens.token()  # wrong credentials or an unreachable host stop here, clearly
            if settings.attach:
                # Folders are resolved lazily: an unchanged tree costs no API call at all.
                mirror = FolderMirror(api, settings.target, settings.folder)
        store = await AsyncStateStore.open(settings.state)
        try:
            with progress:
                run = UploadRun(
                    settings,
                    api=api,
                    storage=storage,
                    store=store,
                    progress=progress,
                    mirror=mirror,
                )
                if stop is None and not signals:
                    return await run.run()
                async with anyio.create_task_group() as group:
                    if stop is not None:
                        group.start_soon(_stop_when_set, stop, run)
                    if signals:
                        group.start_soon(_stop_on_signals, run)
                    outcome = await run.run()
                    group.cancel_scope.cancel()
                return outcome
        finally:
            await store.close()


async def _stop_when_set(stop: anyio.Event, run: UploadRun) -> None:
    await stop.wait()
    run.request_stop()


async def _stop_on_signals(run: UploadRun) -> None:
    """SIGINT/SIGTERM for the command line: the first stops the run gracefully, the second
    aborts what is in flight. Only `upload_with_signals` (the CLI) installs this."""
    try:
        receiver = anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM)
    except (ValueError, NotImplementedError, RuntimeError):
        return  # not the main thread: nothing to watch
    with receiver as signals:
        async for signum in signals:
            if run.stopping:
                run.request_stop(hard=True)
                return
            run.request_stop(signum)


async def unwrap_groups(run: Awaitable[RunOutcome]) -> RunOutcome:
    """Task groups wrap errors in ExceptionGroups: surface the first error of ours, plainly."""
    try:
        return await run
    except BaseExceptionGroup as group:
        ours = first_of(group)
        if ours is not None:
            raise ours from group
        raise


def first_of(group: BaseExceptionGroup[BaseException]) -> BulkUploadError | None:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            found = first_of(exc)
            if found is not None:
                return found
        elif isinstance(exc, BulkUploadError):
            return exc
    return None


def write_report(outcome: RunOutcome, settings: Settings) -> None:
    assert settings.report is not None
    report = summary_dict(outcome)
    report["target"] = settings.target.key
    report["manifest"] = str(settings.manifest)
    settings.report.parent.mkdir(parents=True, exist_ok=True)
    settings.report.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
