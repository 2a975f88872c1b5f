"""What `bulkupload upload` prints at the end of a run, and the exit code it picks."""

from __future__ import annotations

import shlex
import signal
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
    if not settings.attach and tally.uploaded and not settings.dry_run:
        lines.append(
            f"  WARNING: --no-attach: {tally.uploaded} uploads are not attached to any Procore "
            "resource; Procore deletes them after 7 days. Attach them with: bulkupload attach "
            f"--manifest {shlex.quote(str(settings.manifest))} "
            f"--{settings.target.kind} {settings.target.id}"
            + (f" --folder {shlex.quote(settings.folder)}" if settings.folder else "")
        )
    if outcome.stopped_by is not None:
        lines.append(
            f"  interrupted by {signal.Signals(outcome.stopped_by).name}: "
            "run again to finish the job"
        )
    lines.append(f"  manifest: {settings.manifest}")
    print("\n".join(lines), file=out, flush=True)
