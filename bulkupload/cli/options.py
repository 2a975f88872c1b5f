"""Every option of every command in one table: its flags, its type, its help and its default.

The table drives both argparse (`add_options`) and the `--config` TOML file (`read_config`), so a
value is typed and checked the same way whichever way it came: a flag's text through
`Kind.from_text` (a bad one is argparse's one-line usage error), a TOML value through
`Kind.from_toml` (a bad one is one line naming the file, the key and what was expected).
A new option is one row here and its name in a command's list.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..config import (
    API_VERSIONS,
    DEFAULT_PART_SIZE,
    DESTINATIONS,
    MAX_CONCURRENCY,
    MAX_INSTRUCTION_AGE,
    MAX_PART,
    MIN_PART,
    PRODUCTION_API,
    PRODUCTION_LOGIN,
    folder_problem,
    load_toml,
)
from ..errors import ConfigError
from ..report import REPORT_FORMATS
from .kinds import (
    Choice,
    ClockTime,
    Count,
    Duration,
    Flag,
    Fraction,
    Kind,
    PathValue,
    Rate,
    Seconds,
    Size,
    Text,
    TextList,
    WholeNumber,
)

__all__ = ["OPTIONS", "Option", "add_options", "read_config"]


@dataclass(frozen=True)
class Option:
    """One option: `name` is its argparse dest and its key in a config file."""

    name: str
    flags: tuple[str, ...]
    kind: Kind
    help: str
    default: str | None = None  # shown in --help as "(default: ...)"
    metavar: str | None = None
    group: str = "options"
    in_file: bool = True  # False: steers the command line itself (--debug, --config, -v)


def _id(what: str) -> WholeNumber:
    return WholeNumber(1, 2**63 - 1, f"a {what} id (a positive number)")


TARGET = "target (exactly one)"
CONNECTION = "connection (credentials come from the environment only)"
SELECTION = "what to upload"
BEHAVIOUR = "how to upload"
RESULTS = "state, manifest and reports"
OUTPUT = "output and logging"
DOCUMENT_MANAGEMENT = "Document Management (--to document-management)"
WINDOW = "the run window and the API budget"
REPORT = "what to show"

_ROWS: tuple[Option, ...] = (
    # ── the target ──────────────────────────────────────────────────────────────────────
    Option(
        "project",
        ("--project",),
        _id("project"),
        "a project",
        default="none: --project or --company is needed",
        metavar="ID",
        group=TARGET,
    ),
    Option(
        "company",
        ("--company",),
        _id("company"),
        "company-level Documents of this company",
        default="none",
        metavar="ID",
        group=TARGET,
    ),
    Option(
        "folder",
        ("--folder",),
        Text("a Documents folder path", problem=folder_problem),
        "Documents folder to mirror the tree under, e.g. 'Migrations/2026-11'",
        default="the root",
        metavar="PATH",
        group=TARGET,
    ),
    Option(
        "to",
        ("--to",),
        Choice(DESTINATIONS),
        "where files land: the Documents tool, mirroring folders, or Document Management, "
        "each file a revision with metadata from --rules/--sidecar (v2.1 uploads)",
        default="documents",
        group=TARGET,
    ),
    # ── the connection ──────────────────────────────────────────────────────────────────
    Option(
        "company_id",
        ("--company-id",),
        _id("company"),
        "the Procore-Company-Id header",
        default="$PROCORE_COMPANY_ID, or --company",
        metavar="ID",
        group=CONNECTION,
    ),
    Option(
        "base_url",
        ("--base-url",),
        Text("a URL"),
        "Procore API",
        default=f"$PROCORE_BASE_URL, or {PRODUCTION_API}",
        metavar="URL",
        group=CONNECTION,
    ),
    Option(
        "login_url",
        ("--login-url",),
        Text("a URL"),
        "Procore login (OAuth) server",
        default=f"$PROCORE_LOGIN_URL, or {PRODUCTION_LOGIN}",
        metavar="URL",
        group=CONNECTION,
    ),
    Option(
        "allow_http",
        ("--allow-http",),
        Flag(),
        "allow plain http to a non-loopback host (test servers only; TLS is never skipped)",
        default="off",
        group=CONNECTION,
    ),
    Option(
        "retries",
        ("--retries",),
        WholeNumber(0, 50),
        "retries per request on network errors, 5xx and 429",
        default="5",
        metavar="N",
        group=CONNECTION,
    ),
    Option(
        "concurrency",
        ("--concurrency", "-j"),
        WholeNumber(1, MAX_CONCURRENCY),
        "files (or attaches) in flight at once, and upload instructions prepared ahead at most",
        default="8",
        metavar="N",
        group=CONNECTION,
    ),
    # ── what to upload ──────────────────────────────────────────────────────────────────
    Option(
        "include",
        ("--include",),
        TextList(),
        "gitignore-style pattern; when given, only matching files go (repeatable)",
        default="every file",
        metavar="GLOB",
        group=SELECTION,
    ),
    Option(
        "exclude",
        ("--exclude",),
        TextList(),
        "gitignore-style pattern of files/folders to leave out (repeatable)",
        default="none",
        metavar="GLOB",
        group=SELECTION,
    ),
    Option(
        "follow_symlinks",
        ("--follow-symlinks",),
        Flag(),
        "follow symbolic links (loops are detected and reported)",
        default="links are listed as skipped",
        group=SELECTION,
    ),
    Option(
        "checksum",
        ("--checksum",),
        Flag(),
        "decide 'unchanged' by the content's digest (MD5, or a v2.1 file's part SHA-256s) "
        "instead of size and mtime",
        default="size and mtime",
        group=SELECTION,
    ),
    Option(
        "dry_run",
        ("--dry-run", "-n"),
        Flag(),
        "walk and compare with the state, print what would be uploaded; send nothing (the "
        "manifest goes to its own file, NAME-dry-run)",
        default="off",
        group=SELECTION,
    ),
    # ── how to upload ───────────────────────────────────────────────────────────────────
    Option(
        "on_conflict",
        ("--on-conflict",),
        Choice(("version", "skip", "rename")),
        "a file of the same name exists: add a new version, skip it, or upload under a new "
        "unique name",
        default="version",
        group=BEHAVIOUR,
    ),
    Option(
        "no_attach",
        ("--no-attach",),
        Flag(),
        "only upload to storage; attach later with `bulkupload attach` (Procore deletes "
        "unattached uploads after 7 days)",
        default="attach each file",
        group=BEHAVIOUR,
    ),
    Option(
        "api_version",
        ("--api-version",),
        Choice(API_VERSIONS),
        "upload API: 1.1 and 1.0 are Direct File Uploads (a POST, segments for big files); 2.1 "
        "is Unified Uploads (parts in parallel, resumable to the part; with --no-attach it "
        "stages bytes for Document Management, which must link them within 24 h)",
        default="1.1",
        group=BEHAVIOUR,
    ),
    Option(
        "part_size",
        ("--part-size",),
        Size(MIN_PART + 1, MAX_PART, "a size over 5MiB and at most 100MiB"),
        "part size of a v2.1 upload (grown so no file needs more than 10,000 parts; a file of "
        "up to 100MiB is one part)",
        default=f"{DEFAULT_PART_SIZE >> 20}MiB",
        metavar="SIZE",
        group=BEHAVIOUR,
    ),
    Option(
        "segment_threshold",
        ("--segment-threshold",),
        Size(1, 5 << 30, "a size above 0 and at most 5GiB"),
        "files above this size go as segmented uploads (one POST is capped at 5 GB)",
        default="4GiB",
        metavar="SIZE",
        group=BEHAVIOUR,
    ),
    Option(
        "segment_size",
        ("--segment-size",),
        Size(5 << 20, 5 << 30, "a size from 5MiB to 5GiB"),
        "segment size of a segmented upload",
        default="1GiB",
        metavar="SIZE",
        group=BEHAVIOUR,
    ),
    Option(
        "instruction_max_age",
        ("--instruction-max-age",),
        Seconds(0, MAX_INSTRUCTION_AGE),
        "re-create upload instructions older than this before sending (Procore's expire after "
        "3600)",
        default="3000",
        metavar="SECONDS",
        group=BEHAVIOUR,
    ),
    # ── the run window and the API budget ───────────────────────────────────────────────
    Option(
        "max_duration",
        ("--max-duration",),
        Duration(),
        "stop taking new files after this long (6h, 90m, 1h30m); files in flight finish, "
        "everything is recorded, exit code 75: the next run continues",
        default="no limit",
        metavar="DURATION",
        group=WINDOW,
    ),
    Option(
        "stop_at",
        ("--stop-at",),
        ClockTime(),
        "the same at this local time of day (its next occurrence), e.g. 06:00",
        default="no limit",
        metavar="HH:MM",
        group=WINDOW,
    ),
    Option(
        "stop_grace",
        ("--stop-grace",),
        Duration(),
        "after the time limit, files in flight get this long to finish before they are aborted",
        default="15m",
        metavar="DURATION",
        group=WINDOW,
    ),
    Option(
        "api_share",
        ("--api-share",),
        Fraction(),
        "spend at most this share of Procore's rate limit (both windows, as the answers' "
        "headers report them), leaving the rest to the company's other integrations",
        default="1 (all of it)",
        metavar="SHARE",
        group=WINDOW,
    ),
    Option(
        "bwlimit",
        ("--bwlimit",),
        Rate(),
        "storage traffic at most this many bytes per second, all transfers together (10M = "
        "10 MiB/s; a plain number is KiB/s, as in rclone)",
        default="no limit",
        metavar="RATE",
        group=WINDOW,
    ),
    Option(
        "no_plan",
        ("--no-plan",),
        Flag(),
        "no plan: SOURCE is listed once, by the run itself (for a slow file share), and the "
        "summary and --report say nothing of what is left",
        default="a second, light walk beside the run counts the files, bytes and API calls "
        "left and how long they take",
        group=WINDOW,
    ),
    Option(
        "strict_extensions",
        ("--strict-extensions",),
        Flag(),
        "the company has Procore's 'Strict File Upload' on: its refused types (exe, bat, msi, "
        "...) get a line each before any call, instead of failing mid-run",
        default="off",
        group=SELECTION,
    ),
    Option(
        "blocked_extensions",
        ("--block-extension",),
        TextList(),
        "an extension to refuse before any call (repeatable), e.g. tmp",
        default="none",
        metavar="EXT",
        group=SELECTION,
    ),
    # ── Document Management ─────────────────────────────────────────────────────────────
    Option(
        "rules",
        ("--rules",),
        PathValue(),
        "rules that give each path its field values (see README)",
        default="none",
        metavar="TOML",
        group=DOCUMENT_MANAGEMENT,
    ),
    Option(
        "sidecar",
        ("--sidecar",),
        PathValue(),
        "field values per path (first column `path`); wins over rules",
        default="none",
        metavar="CSV",
        group=DOCUMENT_MANAGEMENT,
    ),
    Option(
        "terminate_workflows",
        ("--terminate-workflows",),
        Text(),
        "end a workflow that blocks a new revision, with this reason",
        default="never end one",
        metavar="REASON",
        group=DOCUMENT_MANAGEMENT,
    ),
    Option(
        "terminated_status",
        ("--terminated-status",),
        Text(),
        "the status (label or code) an ended revision takes",
        default="none",
        metavar="STATUS",
        group=DOCUMENT_MANAGEMENT,
    ),
    Option(
        "metadata_sheet",
        ("--metadata-sheet",),
        PathValue(),
        "dry run: write the files whose metadata is not ready here, to fill in and give back "
        "as --sidecar",
        default="beside the manifest",
        metavar="CSV",
        group=DOCUMENT_MANAGEMENT,
    ),
    # ── state, manifest and reports ─────────────────────────────────────────────────────
    Option(
        "state",
        ("--state",),
        PathValue(),
        "state database for incremental runs and resume",
        default="one per destination in the user's state directory, see README",
        metavar="PATH",
        group=RESULTS,
    ),
    Option(
        "manifest",
        ("--manifest",),
        PathValue(),
        "JSON Lines results, one line per file found; {date} and {time} in the name become "
        "the run's start (a dry run writes NAME-dry-run beside it)",
        default="a new file per run beside the state, manifests/DATE-TIME.jsonl",
        metavar="PATH",
        group=RESULTS,
    ),
    Option(
        "report",
        ("--report",),
        PathValue(),
        "write the run's summary as a JSON file here ({date} and {time} as in --manifest)",
        default="none",
        metavar="PATH",
        group=RESULTS,
    ),
    Option(
        "config",
        ("--config",),
        PathValue(),
        "read any of these options (not secrets) from a TOML file; flags win",
        default="none",
        metavar="TOML",
        group=RESULTS,
        in_file=False,
    ),
    # ── bulkupload report ───────────────────────────────────────────────────────────────
    Option(
        "target",
        ("--target",),
        Text("a target key"),
        "only the targets whose key is this or starts with it and a /, e.g. project:42 (also "
        "project:42/Drawings)",
        default="every target in the state",
        metavar="KEY",
        group=REPORT,
    ),
    Option(
        "runs",
        ("--runs",),
        Flag(),
        "list the runs the state remembers: when, what they did, how they ended",
        default="the files",
        group=REPORT,
    ),
    Option(
        "api_usage",
        ("--api-usage",),
        Flag(),
        "API calls of each run: per file, by route, error and 429 rates (what Procore asks "
        "for when an app requests a higher rate limit)",
        default="the files",
        group=REPORT,
    ),
    Option(
        "format",
        ("--format",),
        Choice(REPORT_FORMATS),
        "an aligned table, JSON Lines (one object per file) or CSV",
        default="table",
        group=REPORT,
    ),
    # ── output and logging ──────────────────────────────────────────────────────────────
    Option(
        "progress",
        ("--progress",),
        Choice(("auto", "tty", "plain", "none")),
        "a live line on a terminal (tty), timestamped status lines (plain), or nothing; auto "
        "picks tty on a terminal, plain otherwise",
        default="auto",
        group=OUTPUT,
    ),
    Option(
        "stats",
        ("--stats",),
        Seconds(0.05, 86400, zero_off=True),
        "plain output: a status line every this many seconds, also while a file is in flight",
        default="30",
        metavar="SECONDS",
        group=OUTPUT,
    ),
    Option(
        "json",
        ("--json",),
        Flag(),
        "print the summary as one JSON object on stdout (the fields of --report)",
        default="a human summary",
        group=OUTPUT,
    ),
    Option(
        "log_file",
        ("--log-file",),
        PathValue(),
        "append JSON log lines here (each file, each retry with its wait, the summary; {date} "
        "and {time} as in --manifest)",
        default="none",
        metavar="PATH",
        group=OUTPUT,
    ),
    Option(
        "log_level",
        ("--log-level",),
        Choice(("debug", "info", "warning", "error")),
        "what the log shows on stderr: info adds each file and retry, debug everything",
        default="warning; info with -v, debug with -vv or --debug",
        metavar="LEVEL",
        group=OUTPUT,
    ),
    Option(
        "verbose",
        ("--verbose", "-v"),
        Count(),
        "say more on stderr: -v each file and each retry (what failed, the wait), -vv debug",
        default="off",
        group=OUTPUT,
        in_file=False,
    ),
    Option(
        "quiet",
        ("--quiet", "-q"),
        Flag(),
        "no progress and no summary: only warnings and errors",
        default="off",
        group=OUTPUT,
        in_file=False,
    ),
    Option(
        "debug",
        ("--debug",),
        Flag(),
        "show tracebacks and debug logs",
        default="off",
        group=OUTPUT,
        in_file=False,
    ),
)

OPTIONS: dict[str, Option] = {option.name: option for option in _ROWS}
#: Rows every command that talks to Procore takes.
TARGET_OPTIONS = ("project", "company", "folder")
CONNECTION_OPTIONS = ("company_id", "base_url", "login_url", "allow_http", "retries", "concurrency")
#: Given before the command word as well as after it (`bulkupload -v attach ...`).
GLOBAL = ("debug", "quiet", "verbose", "log_level")
#: Config-file keys that are no option of their own.
FILE_ALIASES = {"source": "sources"}
SOURCES = Option(
    "sources", (), TextList(), "directories or files to upload", metavar="SOURCE", group=SELECTION
)


def _help(option: Option) -> str:
    text = option.help if option.default is None else f"{option.help} (default: {option.default})"
    return text.replace("%", "%%")


def add_options(
    parser: argparse.ArgumentParser,
    names: Iterable[str],
    *,
    suppress: bool = False,
    helps: Mapping[str, tuple[str, str]] | None = None,
) -> None:
    """Add the named options to `parser`, grouped as in the table. `suppress`: an option left
    out keeps what the top-level parser set (the global flags after the command word).
    `helps`: (help, default) of an option where this command differs from the table."""
    groups = {group.title: group for group in parser._action_groups}
    for name in names:
        option = OPTIONS[name]
        if helps and name in helps:
            option = replace(option, help=helps[name][0], default=helps[name][1])
        group = groups.get(option.group)
        if group is None:
            group = groups[option.group] = parser.add_argument_group(option.group)
        kwargs: dict[str, Any] = {"dest": option.name, "help": _help(option)}
        if isinstance(option.kind, Count):
            kwargs.update(action="count", default=0)
        elif isinstance(option.kind, Flag):
            kwargs.update(action="store_true", default=None)  # None: not given, ask the file
        else:
            kwargs.update(type=option.kind.from_text, metavar=option.metavar)
            if isinstance(option.kind, TextList):
                kwargs["action"] = "append"
            if isinstance(option.kind, Choice):
                kwargs.update(choices=option.kind.values, metavar=option.metavar)
        if suppress:
            kwargs["default"] = argparse.SUPPRESS
        group.add_argument(*option.flags, **kwargs)


def read_config(path: Path) -> dict[str, Any]:
    """A `--config` file's values, typed and checked as their flags are; one line per problem
    (the file, the key, what was expected), unknown keys named with the closest option."""
    raw = load_toml(path)
    known = sorted(name for name, option in OPTIONS.items() if option.in_file)
    names = {key: FILE_ALIASES.get(key.replace("-", "_"), key.replace("-", "_")) for key in raw}
    unknown = [key for key, name in names.items() if name not in (*known, "sources")]
    if unknown:
        hints = []
        for key in sorted(unknown):
            close = difflib.get_close_matches(names[key], known, n=1)
            hints.append(f"{key} (did you mean {close[0]}?)" if close else key)
        raise ConfigError(f"{path}: unknown option(s): {', '.join(hints)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = names[key]
        if name in values:
            raise ConfigError(f"{path}: {key}: given twice (as - and _, or source and sources)")
        option = SOURCES if name == "sources" else OPTIONS[name]
        try:
            values[name] = option.kind.from_toml(value)
        except (argparse.ArgumentTypeError, ConfigError) as exc:
            raise ConfigError(f"{path}: {key} = {_toml_text(value)}: {exc}") from None
    return values


def _toml_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_text(v) for v in value) + "]"
    return str(value)
