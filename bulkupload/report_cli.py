"""`bulkupload report`: print the state store as a table, JSON Lines or CSV."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .config import DEFAULT_STATE
from .errors import BulkUploadError
from .report import REPORT_FORMATS, render_report
from .state import StateStore


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bulkupload report",
        description="Show what the state store knows about every file of past runs.",
    )
    parser.add_argument("--state", type=Path, default=Path(DEFAULT_STATE), help="state database")
    parser.add_argument("--target", help="only this target, e.g. project:42 or company:7")
    parser.add_argument("--format", choices=REPORT_FORMATS, default="table")
    return parser


def run_report(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    if not args.state.exists():
        print(f"bulkupload report: error: no state store at {args.state}", file=sys.stderr)
        return 2
    try:
        store = StateStore.open(args.state, readonly=True)
        try:
            render_report(store, args.target, args.format, sys.stdout)
        finally:
            store.close()
    except BulkUploadError as exc:
        print(f"bulkupload report: error: {exc}", file=sys.stderr)
        return 2
    return 0
