"""What `bulkupload upload` prints at the end of a run, and the exit code it picks."""

from __future__ import annotations

import shlex
import signal
from datetime import datetime
from typing import TextIO

from ..config import Settings
from ..models import printable
from ..progress import human_bytes, human_duration
from ..stats import RunOutcome

SHOWN_FAILURES = 20


def exit_code(outcome: RunOutcome) -> int:
    """0 all uploaded or skipped on purpose, 1 some failed, 128+N stopped by signal N."""
    if outcome.stopped_by is not None:
        return 128 + outcome.stopped_by
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
        if tally.failed > SHOWN_FAILURES:
            lines.append(f"    … and {tally.failed - SHOWN_FAILURES} more (see manifest)")
    if outcome.gone_count:
        lines.append(
            f"  {outcome.gone_count} files uploaded before are gone from SOURCE "
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
    lines.append(f"  manifest: {settings.manifest}")
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
