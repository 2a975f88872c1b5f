"""`bulkupload attach`: attach uploads made with `--no-attach` to the Documents tool, later."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio

from ..config import DEFAULT_MANIFEST, DEFAULT_STATE
from .attach_run import AttachOutcome, AttachSettings, attach_manifest
from .common import (
    Options,
    add_common_arguments,
    add_connection_arguments,
    add_target_arguments,
    resolve_connection,
    resolve_target,
    setup_logging,
)
from .failures import report_failure
from .signals import SignalStop
from .upload import file_keys

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--manifest",
        type=Path,
        metavar="PATH",
        help=f"the manifest of the --no-attach run (default {DEFAULT_MANIFEST})",
    )
    add_target_arguments(parser, "attach into")
    add_connection_arguments(parser)
    add("--folder", metavar="PATH", help="Documents folder to mirror the tree under (default root)")
    add(
        "--on-conflict",
        choices=["version", "skip", "rename"],
        help="a file of the same name exists: add a new version (default), skip it, "
        "or attach under a new unique name",
    )
    add("--concurrency", "-j", type=int, metavar="N", help="attaches in flight at once (default 8)")
    add(
        "--retries",
        type=int,
        metavar="N",
        help="retries per request on network errors, 5xx and 429 (default 5)",
    )
    add(
        "--state",
        type=Path,
        metavar="PATH",
        help=f"state database to record the attached files in (default {DEFAULT_STATE})",
    )
    add_common_arguments(parser)


def attach_settings_from(args: argparse.Namespace, env: Mapping[str, str]) -> AttachSettings:
    """Flags over the TOML file (the upload run's own file will do) over defaults."""
    options = Options(args, file_keys=file_keys())
    pick = options.pick
    target = resolve_target(options, "attach")
    connection = resolve_connection(options, env, target)
    values: dict[str, Any] = {}
    for name in ("on_conflict", "concurrency", "retries"):
        if (value := pick(name)) is not None:
            values[name] = value
    return AttachSettings(
        manifest=Path(pick("manifest", DEFAULT_MANIFEST)),
        target=target,
        connection=connection,
        folder=str(pick("folder", "")).strip("/"),
        state=Path(pick("state", DEFAULT_STATE)),
        **values,
    )


def run_attach(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = attach_settings_from(args, env)
    setup_logging(None, args.debug)
    signals = SignalStop(lambda text: print(text, file=sys.stderr, flush=True))

    async def work(watch: SignalStop) -> AttachOutcome:
        return await attach_manifest(settings, stop=watch.stop, abort=watch.abort)

    outcome = anyio.run(signals.run, work)
    signum = signals.signum
    if outcome.aborted:  # by a second signal
        print(f"aborted; manifest {settings.manifest} keeps what was attached")
        return 128 + (signum or 2)
    print(summary_line(outcome, settings))
    if outcome.stopped_by is not None:
        return report_failure(PROG, outcome.stopped_by, debug=args.debug)
    if signum is not None:
        return 128 + signum
    return 1 if outcome.expired or outcome.failed else 0


def summary_line(outcome: AttachOutcome, settings: AttachSettings) -> str:
    line = f"attached {outcome.attached}, expired {outcome.expired}, failed {outcome.failed}"
    if outcome.skipped:
        line += f", skipped {outcome.skipped} (exist in Procore)"
    if outcome.not_tried:
        line += f", not tried {outcome.not_tried} (run attach again)"
    return f"{line}; manifest {settings.manifest}"
