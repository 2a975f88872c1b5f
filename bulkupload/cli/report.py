"""`bulkupload report`: print the state store as a table, JSON Lines or CSV."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from ..config import DEFAULT_STATE
from ..errors import ConfigError
from ..models import printable
from ..report import REPORT_FORMATS, render_report
from ..state import StateStore
from .common import add_common_arguments

PROG = "bulkupload report"
DESCRIPTION = "Show what the state store knows about every file of past runs."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--state",
        type=Path,
        default=Path(DEFAULT_STATE),
        metavar="PATH",
        help=f"state database (default {DEFAULT_STATE})",
    )
    add("--target", metavar="KEY", help="only this target, e.g. project:42 or company:7")
    add(
        "--format",
        choices=REPORT_FORMATS,
        default="table",
        help="aligned table (default), JSON Lines or CSV",
    )
    add_common_arguments(parser, config=False)


def run_report(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    if not args.state.exists():
        raise ConfigError(f"no state store at {printable(str(args.state))}")
    store = StateStore.open(args.state, readonly=True)
    try:
        render_report(store, args.target, args.format, sys.stdout)
    finally:
        store.close()
    return 0
