"""`bulkupload attach`: attach uploads made with `--no-attach` to the Documents tool, later."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import eventloop
from ..errors import ConfigError
from ..human import reason_text, shown
from .attach_run import AttachOutcome, AttachSettings, attach_manifest
from .common import Options, resolve_connection, resolve_target, setup_logging
from .failures import report_failure
from .locations import LEGACY_MANIFEST, Destination, has_placeholder, newest_matching
from .options import CONNECTION_OPTIONS, GLOBAL, TARGET_OPTIONS, add_options
from .signals import SignalStop
from .summary import SHOWN_FAILURES
from .upload import default_state

PROG = "bulkupload attach"
DESCRIPTION = """\
Attach the uploads listed in a manifest (made with --no-attach) to the Documents tool, mirroring
their folders under --folder, and rewrite the manifest with the Procore file ids. Each attached
file is recorded in the state store, so a later upload run skips it. Uploads older than 7 days
were deleted by Procore: they are reported as expired. Running attach again retries the failed.
Credentials and connection settings are those of `bulkupload upload --help`.
"""
EPILOG = """\
exit codes: 0 every pending upload attached; 1 some expired or failed (see the manifest);
2 usage, config, credentials, manifest or state error; 130/143 interrupted (SIGINT/SIGTERM).
"""


OPTIONS = (
    "manifest",
    *TARGET_OPTIONS,
    "on_conflict",
    *CONNECTION_OPTIONS,
    "state",
    "config",
    "log_file",
    "log_level",
)
HELP = {
    "manifest": (
        "the manifest of the --no-attach run; with {date}/{time} in the name, the newest one "
        "it matches",
        "the last real run's for this destination (its manifests/latest.txt)",
    ),
    "folder": ("Documents folder to mirror the tree under, as the upload run said", "the root"),
    "state": ("state database to record the attached files in", "the upload run's default"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_options(parser, [name for name in OPTIONS if name not in GLOBAL], helps=HELP)
    add_options(parser, GLOBAL, suppress=True)


def manifest_of(options: Options, destination: Destination) -> Path:
    """The manifest to attach: `--manifest` (the newest match of a pattern), else the last
    real upload run's for this destination, else the one earlier versions wrote here."""
    given: Path | None = options.pick("manifest")
    if given is not None:
        return newest_matching(given) if has_placeholder(given) else Path(given)
    if (latest := destination.latest_manifest()) is not None:
        return latest
    if LEGACY_MANIFEST.is_file():
        return LEGACY_MANIFEST
    raise ConfigError(
        f"no manifest of an upload run into {destination.target.key}"
        + (f" folder {destination.folder}" if destination.folder else "")
        + f" in {destination.manifests}: name it with --manifest"
    )


def attach_settings_from(
    args: argparse.Namespace, env: Mapping[str, str], *, options: Options | None = None
) -> AttachSettings:
    """Flags over the TOML file (the upload run's own file will do) over defaults."""
    options = options or Options(args)
    pick = options.pick
    target = resolve_target(options, "attach")
    connection = resolve_connection(options, env, target)
    folder = str(pick("folder", "")).strip("/")
    destination = Destination(target, folder, "documents", env)
    values: dict[str, Any] = {}
    for name in ("on_conflict", "concurrency", "retries"):
        if (value := pick(name)) is not None:
            values[name] = value
    return AttachSettings(
        manifest=manifest_of(options, destination),
        target=target,
        connection=connection,
        folder=folder,
        state=Path(pick("state") or default_state(destination)),
        **values,
    )


def run_attach(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    options = Options(args)
    settings = attach_settings_from(args, env, options=options)
    loop = eventloop.loop_name(env)  # a bad BULKUPLOAD_EVENT_LOOP: a usage error, up front
    setup_logging(options)
    signals = SignalStop(lambda text: print(text, file=sys.stderr, flush=True))

    async def work(watch: SignalStop) -> AttachOutcome:
        return await attach_manifest(settings, stop=watch.stop, abort=watch.abort)

    outcome = eventloop.run(signals.run, work, loop=loop)
    signum = signals.signum
    if outcome.aborted:  # by a second signal
        print(f"aborted; manifest {settings.manifest} keeps what was attached")
        return 128 + (signum or 2)
    if not getattr(args, "quiet", False):
        print("\n".join([summary_line(outcome, settings), *failure_lines(outcome)]))
    if outcome.stopped_by is not None:
        return report_failure(PROG, outcome.stopped_by, debug=args.debug)
    if signum is not None:
        return 128 + signum
    return 1 if outcome.expired or outcome.failed else 0


def summary_line(outcome: AttachOutcome, settings: AttachSettings) -> str:
    line = f"attached {outcome.attached}, expired {outcome.expired}, failed {outcome.failed}"
    if outcome.skipped:
        line += f", skipped {outcome.skipped} (in Procore already)"
    if outcome.not_tried:
        line += f", not tried {outcome.not_tried} (run attach again)"
    return f"{line}; manifest {shown(str(settings.manifest))}"


SAID = ("upload expired", "attach failed")  # what the line's first word says already


def failure_lines(outcome: AttachOutcome) -> list[str]:
    """Each record that expired or failed, with its reason (the first SHOWN_FAILURES)."""
    lines = [
        f"  {word}: {shown(rel)}: {reason_text(rel, reason, prefix=SAID)}"
        for word, rel, reason in outcome.failures[:SHOWN_FAILURES]
    ]
    more = outcome.expired + outcome.failed - len(lines)
    if more > 0:
        lines.append(f"  … and {more} more (see the manifest)")
    return lines
