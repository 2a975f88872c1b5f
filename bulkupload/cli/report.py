"""`bulkupload report`: print the state store as a table, JSON Lines or CSV."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError
from ..human import shown
from ..report import render_report, target_keys
from ..state import StateStore
from ..usage import render_api_usage, render_runs
from .common import Options, resolve_target
from .locations import LEGACY_STATE, Destination, known_states
from .options import GLOBAL, add_options
from .upload import default_state

PROG = "bulkupload report"
DESCRIPTION = """\
Show what the state store knows about every file of past runs. Without --state, the state of the
destination --project/--company (with --folder, --to) names, or the only one there is.
"""

OPTIONS = (
    "state",
    "target",
    "runs",
    "api_usage",
    "format",
    "project",
    "company",
    "folder",
    "to",
    "config",
)
HELP = {
    "state": (
        "state database",
        "the state of the destination that --project/--company [--folder] [--to] name, or the "
        "only one in the user's state directory",
    ),
    "project": ("find the default state of uploads into this project", "none"),
    "company": ("find the default state of uploads at this company's level", "none"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_options(parser, OPTIONS, helps=HELP)
    add_options(parser, GLOBAL, suppress=True)


def state_of(options: Options, env: Mapping[str, str]) -> Path:
    """`--state`, else the default state of the destination the options name, else the one an
    earlier version kept here, else the only one in the user's state directory."""
    if (given := options.pick("state")) is not None:
        return Path(given)
    project, company = options.pick("project"), options.pick("company")
    if project is not None or company is not None:
        target = resolve_target(options, "report on")
        folder, to = str(options.pick("folder", "")), str(options.pick("to", "documents"))
        return default_state(Destination(target, folder, to, env))
    if LEGACY_STATE.is_file():
        return LEGACY_STATE
    states = known_states(env)
    if len(states) == 1:
        return states[0]
    if not states:
        raise ConfigError("no state store found: name one with --state PATH or --project ID")
    names = ", ".join(state.parent.name for state in states)
    raise ConfigError(
        f"several state stores ({names}): choose one with --project/--company ID [--folder F] "
        "or --state PATH"
    )


def run_report(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    options = Options(args)
    state = state_of(options, env)
    if not state.exists():
        raise ConfigError(f"no state store at {shown(str(state))}")
    store = StateStore.open(state, readonly=True)
    try:
        prefix = options.pick("target")
        keys = None if prefix is None else target_keys(store, prefix)
        if keys == []:
            known = ", ".join(target_keys(store, "")) or "none"
            print(
                f"{PROG}: no target in {shown(str(state))} matches {prefix!r}; "
                f"its targets: {known}",
                file=sys.stderr,
            )
            return 1
        if keys is not None:  # stderr: stdout stays the report (JSON Lines, CSV)
            print(f"targets matching {prefix!r}: {', '.join(keys)}", file=sys.stderr)
        fmt = options.pick("format", "table")
        if options.pick("runs") or options.pick("api_usage"):
            runs = [run for run in store.runs() if keys is None or run["target"] in keys]
            render = render_api_usage if options.pick("api_usage") else render_runs
            render(runs, "json" if fmt == "json" else "table", sys.stdout)
        else:
            render_report(store, keys, fmt, sys.stdout)
    finally:
        store.close()
    return 0
