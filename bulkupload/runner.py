"""Assembles one upload run (sessions, credentials, API client, state, Documents) and reports it."""

from __future__ import annotations

import json
import logging
import signal
import sys
from typing import TextIO

import aiohttp
import anyio

from .config import Credentials, Settings
from .errors import BulkUploadError
from .models import printable
from .outcome import RunOutcome, summary_dict
from .pipeline import UploadRun
from .procore.auth import ClientCredentials, StaticToken, TokenSource
from .procore.client import ApiClient, make_api_session, make_storage_session
from .procore.documents import FolderMirror
from .procore.ratelimit import RateLimitPacer
from .progress import Progress, Tally, human_bytes, human_duration
from .retry import RetryPolicy
from .state import AsyncStateStore

log = logging.getLogger("bulkupload")
SHOWN_FAILURES = 20


def run_upload_sync(settings: Settings) -> int:
    """Run the upload to completion on a fresh event loop; returns the exit code."""
    return anyio.run(run_upload, settings)


def token_source(creds: Credentials, login_url: str, session: aiohttp.ClientSession) -> TokenSource:
    """Renewable client credentials when given, else the ready access token."""
    if creds.client_id and creds.client_secret:
        return ClientCredentials(session, login_url, creds.client_id, creds.client_secret)
    assert creds.access_token is not None
    return StaticToken(creds.access_token)


async def run_upload(settings: Settings, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    tally = Tally()
    progress = Progress(tally, mode=settings.progress)
    policy = RetryPolicy(attempts=settings.retries + 1, backoff=settings.retry_backoff)
    async with (
        make_api_session(settings.concurrency) as api_session,
        make_storage_session(settings.concurrency) as storage,
    ):
        tokens = token_source(settings.credentials, settings.login_url, api_session)
        api = ApiClient(
            api_session,
            settings.base_url,
            company_id=settings.company_id,
            tokens=tokens,
            policy=policy,
            pacer=RateLimitPacer(),
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
                upload_run = UploadRun(
                    settings,
                    api=api,
                    storage=storage,
                    store=store,
                    progress=progress,
                    mirror=mirror,
                )
                outcome = await unwrap_groups(upload_run.run())
        finally:
            await store.close()
    print_summary(outcome, settings, out)
    if settings.report is not None:
        write_report(outcome, settings)
    log.info("run finished", extra={"summary": summary_dict(outcome)})
    return exit_code(outcome)


async def unwrap_groups(run: object) -> RunOutcome:
    """Task groups wrap errors in ExceptionGroups: surface the first error of ours, plainly."""
    try:
        return await run  # type: ignore[misc, no-any-return]
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


def exit_code(outcome: RunOutcome) -> int:
    if outcome.interrupted is not None:
        return 128 + outcome.interrupted
    return 1 if outcome.tally.failed else 0


def print_summary(outcome: RunOutcome, settings: Settings, out: TextIO) -> None:
    tally = outcome.tally
    seconds = max(outcome.duration, 1e-6)
    lines = [
        f"{tally.found} files found: {tally.uploaded} uploaded, {tally.skipped} skipped, "
        f"{tally.failed} failed" + (" (dry run: nothing sent)" if settings.dry_run else ""),
        f"  {human_bytes(tally.bytes_uploaded)} in {human_duration(seconds)} "
        f"({human_bytes(tally.bytes_uploaded / seconds)}/s, {tally.done / seconds:.1f} files/s); "
        f"{outcome.api_calls} API calls, {outcome.rate_limited} rate-limited (429), "
        f"{tally.retries} retries",
    ]
    for reason, count in sorted(tally.skip_reasons.items(), key=lambda kv: -kv[1])[:10]:
        lines.append(f"  skipped {count}: {reason}")
    if outcome.failures:
        lines.append("  failures:")
        for rel, reason in outcome.failures[:SHOWN_FAILURES]:
            lines.append(f"    {printable(rel)}: {reason}")
        if len(outcome.failures) > SHOWN_FAILURES:
            lines.append(f"    … and {len(outcome.failures) - SHOWN_FAILURES} more (see manifest)")
    if outcome.gone:
        lines.append(
            f"  {len(outcome.gone)} files uploaded before are gone from SOURCE "
            "(nothing deleted in Procore; listed in --report)"
        )
    if not settings.attach and tally.uploaded and not settings.dry_run:
        lines.append(
            f"  WARNING: --no-attach: {tally.uploaded} uploads are not attached to any Procore "
            "resource; Procore deletes them after 7 days. Attach them with: bulkupload attach "
            f"--manifest {settings.manifest} --{settings.target.kind} {settings.target.id}"
        )
    if outcome.interrupted is not None:
        lines.append(
            f"  interrupted by {signal.Signals(outcome.interrupted).name}: "
            "run again to finish the job"
        )
    lines.append(f"  manifest: {settings.manifest}")
    print("\n".join(lines), file=out, flush=True)


def write_report(outcome: RunOutcome, settings: Settings) -> None:
    assert settings.report is not None
    report = summary_dict(outcome)
    report["target"] = settings.target.key
    report["manifest"] = str(settings.manifest)
    settings.report.parent.mkdir(parents=True, exist_ok=True)
    settings.report.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
