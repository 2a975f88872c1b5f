"""What `bulkupload upload` prints at the end of a run, and the exit code it picks."""

from __future__ import annotations

import shlex
import signal
from datetime import datetime
from typing import Any, TextIO

from ..config import Settings
from ..human import count, human_bytes, human_duration, reason_text, shown
from ..stats import RunOutcome, summary_dict

SHOWN_FAILURES = 20


def exit_code(outcome: RunOutcome) -> int:
    """0 all uploaded or skipped on purpose, 1 some failed, 128+N stopped by signal N."""
    if outcome.stopped_by is not None:
        return 128 + outcome.stopped_by
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
    lines = [
        f"{count(tally.found, 'file')} found: {tally.uploaded} uploaded, {tally.skipped} skipped, "
        f"{tally.failed} failed" + (" (dry run: nothing sent)" if settings.dry_run else ""),
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
    for reason, n in sorted(tally.skip_reasons.items(), key=lambda kv: -kv[1])[:10]:
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
    if tally.unplaced and not settings.dry_run:
        lines.extend(unplaced_warning(outcome, settings))
    if outcome.stopped_by is not None:
        lines.append(
            f"  interrupted by {signal.Signals(outcome.stopped_by).name}: "
            "run again to finish the job"
        )
    lines.append(f"  manifest: {shown(str(settings.manifest))}")
    print("\n".join(lines), file=out, flush=True)


def unplaced_warning(outcome: RunOutcome, settings: Settings) -> list[str]:
    """Uploads this run stored but did not attach: Procore deletes them, so say when and how to
    finish them."""
    tally = outcome.tally
    when = (
        ""
        if tally.first_deadline is None
        else " from "
        + datetime.fromtimestamp(tally.first_deadline).strftime("%Y-%m-%d %H:%M")
        + " on"
    )
    lines = [
        f"  WARNING: {tally.unplaced} uploads are stored but not attached to any Procore "
        f"resource; Procore deletes them{when}"
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
