"""What `bulkupload upload` prints at the end of a run, and the exit code it picks."""

from __future__ import annotations

import shlex
import signal
from datetime import datetime
from typing import Any, TextIO

from ..config import Settings
from ..human import count, human_bytes, human_duration, reason_text, shown
from ..models import WOULD_UPLOAD
from ..stats import RunOutcome, summary_dict

SHOWN_FAILURES = 20


EXIT_TIME_LIMIT = 75  # EX_TEMPFAIL: stopped by the run window, the next run continues


def exit_code(outcome: RunOutcome) -> int:
    """0 all uploaded or skipped on purpose, 1 some failed, 75 stopped by the time limit (the
    next run continues), 128+N stopped by signal N."""
    if outcome.stopped_by is not None:
        return 128 + outcome.stopped_by
    if outcome.time_limited:
        return EXIT_TIME_LIMIT
    return 1 if outcome.tally.failed else 0


def report_dict(outcome: RunOutcome, settings: Settings) -> dict[str, Any]:
    """The summary with the fields `--report` has (`runner.write_report`), for `--json`."""
    report = summary_dict(outcome)
    report["target"] = settings.target.key
    report["manifest"] = str(settings.manifest)
    return report


def print_summary(outcome: RunOutcome, settings: Settings, out: TextIO) -> None:
    tally = outcome.tally
    seconds = max(outcome.duration, 1e-6)
    would = tally.skip_reasons.get(WOULD_UPLOAD, 0)
    if settings.dry_run:  # would-be uploads are no skips (newcomer audit W11)
        first = (
            f"{count(tally.found, 'file')} found: {would} would be uploaded, "
            f"{tally.skipped - would} skipped, {tally.failed} failed (dry run: nothing sent)"
        )
    else:
        earlier = tally.placed_only
        attached = f", {earlier} of them sent by an earlier run" if earlier else ""
        unsent = (
            f" ({tally.not_started} of them not started: the run stopped first; the next run "
            "sends them)"
            if tally.not_started
            else ""
        )
        first = (
            f"{count(tally.found, 'file')} found: {tally.uploaded} uploaded{attached}, "
            f"{tally.skipped} skipped, {tally.failed} failed{unsent}"
        )
    lines = [
        first,
        f"  {human_bytes(tally.bytes_uploaded)} in {human_duration(seconds)} "
        f"({human_bytes(tally.bytes_uploaded / seconds)}/s, {tally.done / seconds:.1f} files/s); "
        f"{count(outcome.api_calls, 'API call')}, {outcome.rate_limited} rate-limited (429), "
        f"{count(tally.retries, 'retry', 'retries')}",
    ]
    if tally.api_wait_s >= 1:
        lines.append(
            f"  API calls waited {human_duration(tally.api_wait_s)} in all for Procore's rate "
            "limit (paced from its headers: no 429)"
        )
    reasons = sorted(tally.skip_reasons.items(), key=lambda kv: -kv[1])
    for reason, n in [(r, n) for r, n in reasons if r != WOULD_UPLOAD][:10]:
        lines.append(f"  skipped {n}: {reason_text('', reason, prefix='skipped')}")
    if outcome.failures:
        lines.append("  failures:")
        for rel, reason in outcome.failures[:SHOWN_FAILURES]:
            lines.append(f"    {shown(rel)}: {reason_text(rel, reason, prefix='failed')}")
        if tally.failed > SHOWN_FAILURES:
            lines.append(f"    … and {tally.failed - SHOWN_FAILURES} more (see manifest)")
    if outcome.gone_count:
        lines.append(
            f"  {count(outcome.gone_count, 'file')} uploaded before "
            f"{'is' if outcome.gone_count == 1 else 'are'} gone from SOURCE "
            "(nothing deleted in Procore; listed in --report)"
        )
    lines.extend(f"  {note}" for note in outcome.notes)
    if outcome.unplaced_stored or (tally.unplaced and not settings.dry_run):
        lines.extend(unplaced_warning(outcome, settings))
    if outcome.plan is not None:
        lines.append(f"  plan: {plan_text(outcome.plan)}")
    if outcome.stopped_by is not None:
        lines.append(
            f"  interrupted by {signal.Signals(outcome.stopped_by).name}: "
            "run again to finish the job"
        )
    elif outcome.time_limited:
        lines.append(
            f"  stopped by the time limit (exit {EXIT_TIME_LIMIT}): the next run continues "
            "where this one stopped"
        )
    lines.append(f"  manifest: {shown(str(settings.manifest))}")
    print("\n".join(lines), file=out, flush=True)


def unplaced_warning(outcome: RunOutcome, settings: Settings) -> list[str]:
    """Uploads this run stored but did not attach: Procore deletes them, so say when and how to
    finish them."""
    tally = outcome.tally
    # The state's count covers earlier runs' too: every run says so until they are placed.
    stored = max(outcome.unplaced_stored, tally.unplaced)
    deadlines = [d for d in (outcome.unplaced_deadline, tally.first_deadline) if d is not None]
    when = (
        ""
        if not deadlines
        else " from " + datetime.fromtimestamp(min(deadlines)).strftime("%Y-%m-%d %H:%M") + " on"
    )
    earlier = stored - tally.unplaced
    by = f" ({earlier} by earlier runs)" if earlier > 0 and tally.unplaced else ""
    by = " (by earlier runs)" if earlier > 0 and not tally.unplaced else by
    lines = [
        f"  WARNING: {stored} uploads are stored but not attached to any Procore "
        f"resource{by}; Procore deletes them{when}"
    ]
    if settings.api_version == "2.1":
        lines.append(
            "  (v2.1 uploads: 24 hours after creation unless a Document Management upload "
            "links them; a later run sends expired ones again)"
        )
    else:
        folder = f" --folder {shlex.quote(settings.folder)}" if settings.folder else ""
        lines.append(
            "  (7 days after upload). Attach them with: bulkupload attach "
            f"--manifest {shlex.quote(str(settings.manifest))} "
            f"--{settings.target.kind} {settings.target.id}{folder}"
        )
    return lines


def plan_text(plan: dict[str, Any]) -> str:
    """The plan made after the walk: what is left to send and what it will cost."""
    text = (
        f"{count(plan['files'], 'file')} ({human_bytes(plan['bytes'])}) to send, about "
        f"{count(round(plan['api_calls']), 'API call')}"
    )
    if plan.get("checks"):
        text += f" ({plan['checks']} more to read: touched, maybe unchanged)"
    if plan.get("duration_s") is None:
        return text + "; duration unknown until Procore's rate-limit headers are seen"
    text += (
        f"; at {plan['calls_per_s']:.2f} API calls/s (the limit the headers reported"
        + (f", x{plan['api_share']:g} --api-share" if plan.get("api_share", 1) < 1 else "")
        + f") about {human_duration(plan['duration_s'])}"
    )
    if plan.get("windows"):
        text += f", {count(plan['windows'], 'run')} of --max-duration"
    return text
