"""`bulkupload [upload] SOURCE...`: flags, the config file and the environment → Settings → run."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import eventloop
from ..config import Settings
from ..errors import ConfigError
from ..events import Event
from ..human import shown
from ..preflight import blocked_extensions
from ..progress import Progress
from ..runner import upload
from ..sources import source_prefixes
from ..stats import RunOutcome, Tally
from .common import (
    Options,
    as_list,
    resolve_connection,
    resolve_target,
    setup_logging,
)
from .locations import LEGACY_STATE, Destination, manifest_for_run
from .options import CONNECTION_OPTIONS, GLOBAL, SOURCES, TARGET_OPTIONS, add_options
from .signals import SignalStop
from .summary import exit_code, print_summary, report_dict

log = logging.getLogger("bulkupload")

DESCRIPTION = """\
Upload a tree of files into Procore: each file goes through Procore's Direct File Uploads (Create
Upload, then a multipart POST straight to storage) and is attached to the Documents tool, mirroring
the local folders under --folder. Every file found gets one line in the JSON Lines manifest.

Credentials come from the environment only:
  PROCORE_CLIENT_ID + PROCORE_CLIENT_SECRET   a service account (token renewed as needed)
  PROCORE_ACCESS_TOKEN                        or a ready bearer token
  PROCORE_COMPANY_ID                          the Procore-Company-Id header (or --company-id)
`upload` is the default command: `bulkupload ./drawings --project 42` is this command. A SOURCE
named like a command (`report`, `attach`): `bulkupload upload report ...` or `./report`.
"""

EPILOG = """\
exit codes: 0 all files uploaded or skipped on purpose; 1 some files failed; 2 usage, config,
credentials or state error; 130/143 interrupted (SIGINT/SIGTERM; the next run finishes the job).
"""


#: The options of `bulkupload upload`, in --help order (their rows are in options.py).
OPTIONS = (
    *TARGET_OPTIONS,
    "to",
    *CONNECTION_OPTIONS,
    "include",
    "exclude",
    "follow_symlinks",
    "checksum",
    "dry_run",
    "on_conflict",
    "no_attach",
    "api_version",
    "part_size",
    "segment_threshold",
    "segment_size",
    "instruction_max_age",
    "state",
    "manifest",
    "report",
    "config",
    "progress",
    "stats",
    "json",
    "log_file",
    "log_level",
    "rules",
    "sidecar",
    "terminate_workflows",
    "terminated_status",
    "metadata_sheet",
    "max_duration",
    "stop_at",
    "stop_grace",
    "api_share",
    "bwlimit",
    "no_plan",
    "strict_extensions",
    "blocked_extensions",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="*", metavar=SOURCES.metavar, help=SOURCES.help)
    add_options(parser, [name for name in OPTIONS if name not in GLOBAL])
    add_options(parser, GLOBAL, suppress=True)


def destination_of(options: Options, env: Mapping[str, str]) -> Destination:
    """The destination the options name: the key of the default state and manifests."""
    return Destination(
        resolve_target(options, "upload"),
        str(options.pick("folder", "")),
        str(options.pick("to", "documents")),
        env,
    )


def default_state(destination: Destination) -> Path:
    """The destination's state, or the one an earlier version kept in this directory."""
    return LEGACY_STATE if LEGACY_STATE.is_file() else destination.state


def settings_from(
    args: argparse.Namespace,
    env: Mapping[str, str],
    *,
    options: Options | None = None,
) -> Settings:
    """Merge flags over the TOML file over defaults; secrets only from `env`."""
    options = options or Options(args)
    pick = options.pick
    sources = list(args.sources) or as_list(options.file.get("sources"))
    if not sources:
        raise ConfigError("no SOURCE given: name the directories or files to upload")
    target = resolve_target(options, "upload")
    connection = resolve_connection(options, env, target)
    destination = destination_of(options, env)
    values: dict[str, Any] = {}
    for name in (
        "concurrency",
        "retries",
        "api_version",
        "on_conflict",
        "instruction_max_age",
        "segment_threshold",
        "segment_size",
        "part_size",
        "rules",
        "sidecar",
        "metadata_sheet",
        "terminate_workflows",
        "terminated_status",
        "max_duration",
        "stop_at",
        "stop_grace",
        "api_share",
        "bwlimit",
    ):
        if (value := pick(name)) is not None:
            values[name] = value
    values["blocked_extensions"] = blocked_extensions(
        as_list(pick("blocked_extensions")), strict=bool(pick("strict_extensions", False))
    )
    for name in ("follow_symlinks", "checksum", "dry_run"):
        values[name] = bool(pick(name, False))
    values["attach"] = not bool(pick("no_attach", False))
    values["plan"] = not bool(pick("no_plan", False))
    values["progress"] = "none" if pick("quiet") else pick("progress", "auto")
    if (to := pick("to")) is not None:
        values["destination"] = to
        if to == "document-management" and "api_version" not in values:
            values["api_version"] = "2.1"  # the only uploads Document Management takes
    for name in ("report", "log_file"):
        if (path := options.pick_path(name)) is not None:
            values[name] = path
    values["state"] = pick("state") or default_state(destination)
    values["manifest"] = manifest_for_run(
        pick("manifest"), destination, dry_run=values["dry_run"], now=options.started
    )
    return Settings(
        sources=tuple(sources),
        target=target,
        company_id=connection.company_id,
        credentials=connection.credentials,
        base_url=connection.base_url,
        login_url=connection.login_url,
        allow_http=connection.allow_http,
        include=tuple(as_list(pick("include"))),
        exclude=tuple(as_list(pick("exclude"))),
        folder=str(pick("folder", "")).strip("/"),
        **values,
    )


def check_sources(sources: tuple[str, ...]) -> None:
    """A SOURCE that is not there (a typo) is a usage error, before any API call."""
    missing = [source for source in sources if not os.path.exists(source)]
    if not missing:
        return
    broken = [source for source in missing if os.path.lexists(source)]
    names = ", ".join(shown(source) for source in missing)
    why = ""
    if broken == missing and len(missing) == 1:
        why = " (a symbolic link loop)" if _loops(missing[0]) else " (a broken symbolic link)"
    noun = "SOURCE" if len(missing) == 1 else "SOURCEs"
    raise ConfigError(f"{noun} not found: {names}{why}; nothing was uploaded")


def _loops(path: str) -> bool:
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


DEPRECATED_V10 = (
    "bulkupload: warning: --api-version 1.0: Procore's API reference flags v1.0 Create Upload as "
    "deprecated (deprecated APIs may be refused to new apps); 1.1 is the default"
)


def run_upload(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    options = Options(args)
    settings = settings_from(args, env, options=options)
    loop = eventloop.loop_name(env)  # a bad BULKUPLOAD_EVENT_LOOP: a usage error, up front
    setup_logging(options)
    check_sources(settings.sources)
    source_prefixes(settings.sources)  # two SOURCEs of one name: a usage error, up front
    if settings.api_version == "1.0":
        print(DEPRECATED_V10, file=sys.stderr, flush=True)
    if options.pick("state") is None and settings.state == LEGACY_STATE:
        print(
            f"bulkupload: note: using {LEGACY_STATE}, the state an earlier version kept in this "
            f"directory (the default is now per destination: {destination_of(options, env).state})",
            file=sys.stderr,
            flush=True,
        )
    try:
        outcome = _run(settings, options, loop)
    finally:  # a run stopped by an error keeps a manifest too: attach must find it
        if options.pick("manifest") is None and not settings.dry_run:
            remember(destination_of(options, env), settings.manifest)
    if options.pick("json"):
        print(json.dumps(report_dict(outcome, settings), ensure_ascii=False), flush=True)
    elif not options.pick("quiet"):
        print_summary(outcome, settings, sys.stdout)
    return exit_code(outcome)


def remember(destination: Destination, manifest: Path) -> None:
    """Make `manifest` the destination's latest (what `attach` finds), if it was written."""
    if not manifest.is_file():
        return
    try:
        destination.remember(manifest)
    except OSError as exc:
        log.warning("cannot record %s as the latest manifest: %s", manifest, exc)


def _run(settings: Settings, options: Options, loop: str) -> RunOutcome:
    """The run, with the command line's display (the library's own stays off): the signals
    tell it when a stop was asked, `--stats` sets the pace of its plain lines."""
    tally = Tally()
    signals = SignalStop(lambda text: display.message(text))
    display = Progress(
        tally,
        mode=settings.progress,
        interval=float(options.pick("stats", 30)),
        concurrency=settings.concurrency,
        stopping=signals.stop.is_set,
    )

    def on_event(event: Event) -> None:
        tally.on_event(event)
        display.on_event(event)

    async def work(watch: SignalStop) -> RunOutcome:
        quiet = replace(settings, progress="none")
        return await upload(quiet, stop=watch.stop, abort=watch.abort, events=on_event)

    # With --json, stdout holds the summary only: a dry run's lines go to stderr.
    stdout = contextlib.redirect_stdout(sys.stderr) if options.pick("json") else None
    with stdout or contextlib.nullcontext(), display:
        outcome = eventloop.run(signals.run, work, loop=loop)
    if signals.signum is not None:
        outcome.stopped_by = signals.signum
    return outcome
