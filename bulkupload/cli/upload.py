"""`bulkupload [upload] SOURCE...`: flags, the config file and the environment → Settings → run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio

from ..config import (
    API_VERSIONS,
    DEFAULT_MANIFEST,
    DEFAULT_STATE,
    DESTINATIONS,
    Settings,
    parse_size,
)
from ..errors import ConfigError
from ..runner import upload
from ..sources import source_prefixes
from ..stats import RunOutcome
from .common import (
    NOT_IN_FILE,
    Options,
    add_common_arguments,
    add_connection_arguments,
    add_target_arguments,
    as_list,
    resolve_connection,
    resolve_target,
    setup_logging,
)
from .signals import SignalStop
from .summary import exit_code, print_summary

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("sources", nargs="*", metavar="SOURCE", help="directories or files to upload")
    add_target_arguments(parser, "upload into")
    add_connection_arguments(parser)
    add(
        "--concurrency",
        "-j",
        type=int,
        metavar="N",
        help="files in flight at once, and instructions prepared ahead at most (default 8)",
    )
    add(
        "--to",
        choices=list(DESTINATIONS),
        help="where files land: the Documents tool, mirroring folders (default), or Document "
        "Management, each file a revision with metadata from --rules/--sidecar (v2.1 uploads)",
    )
    add(
        "--rules",
        type=Path,
        metavar="TOML",
        help="Document Management: rules that give each path its field values (see README)",
    )
    add(
        "--sidecar",
        type=Path,
        metavar="CSV",
        help="Document Management: field values per path (first column `path`); wins over rules",
    )
    add(
        "--terminate-workflows",
        metavar="REASON",
        help="Document Management: end a workflow that blocks a new revision, with this reason",
    )
    add(
        "--terminated-status",
        metavar="STATUS",
        help="Document Management: the status (label or code) an ended revision takes",
    )
    add(
        "--metadata-sheet",
        type=Path,
        metavar="CSV",
        help="Document Management dry run: write the files whose metadata is not ready here, to "
        "fill in and give back as --sidecar (default: beside the manifest)",
    )
    add(
        "--folder",
        metavar="PATH",
        help="Documents folder to mirror the tree under, e.g. 'Migrations/2026-11' (default: root)",
    )
    add(
        "--on-conflict",
        choices=["version", "skip", "rename"],
        help="a file of the same name exists: add a new version (default), skip it, "
        "or upload under a new unique name",
    )
    add(
        "--no-attach",
        action="store_true",
        default=None,
        help="only upload to storage; attach later with `bulkupload attach` "
        "(Procore deletes unattached uploads after 7 days)",
    )
    add(
        "--manifest",
        type=Path,
        metavar="PATH",
        help=f"JSON Lines results, one line per file found (default {DEFAULT_MANIFEST})",
    )
    add(
        "--include",
        action="append",
        metavar="GLOB",
        help="gitignore-style pattern; when given, only matching files go (repeatable)",
    )
    add(
        "--exclude",
        action="append",
        metavar="GLOB",
        help="gitignore-style pattern of files/folders to leave out (repeatable)",
    )
    add(
        "--follow-symlinks",
        action="store_true",
        default=None,
        help="follow symbolic links (loops are detected and reported)",
    )
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
        help=f"state database for incremental runs and resume (default {DEFAULT_STATE})",
    )
    add(
        "--checksum",
        action="store_true",
        default=None,
        help="decide 'unchanged' by MD5 of the content instead of size and mtime",
    )
    add(
        "--dry-run",
        action="store_true",
        default=None,
        help="walk and compare with the state, print what would be uploaded; send nothing",
    )
    add("--report", type=Path, metavar="PATH", help="write a JSON summary of the run here")
    add("--log-file", type=Path, metavar="PATH", help="append JSON log lines here")
    add(
        "--api-version",
        choices=list(API_VERSIONS),
        help="upload API: 1.1 (default) and 1.0 are Direct File Uploads (a POST, segments for big "
        "files); 2.1 is Unified Uploads (parts in parallel, resumable to the part; with "
        "--no-attach it stages bytes for Document Management, which must link them within 24 h)",
    )
    add(
        "--part-size",
        type=parse_size,
        metavar="SIZE",
        help="part size of a v2.1 upload, over 5MiB and up to 100MiB (default 32MiB; grown so no "
        "file needs more than 10,000 parts; a file of up to 100MiB is one part)",
    )
    add(
        "--segment-threshold",
        type=parse_size,
        metavar="SIZE",
        help="files above this size go as segmented uploads (default 4GiB; one POST is capped "
        "at 5 GB)",
    )
    add(
        "--segment-size",
        type=parse_size,
        metavar="SIZE",
        help="segment size of a segmented upload, 5MiB to 5GiB (default 1GiB)",
    )
    add(
        "--instruction-max-age",
        type=float,
        metavar="SECONDS",
        help="re-create upload instructions older than this before sending (default 3000; "
        "Procore's expire after 3600)",
    )
    add(
        "--progress",
        choices=["auto", "tty", "plain", "none"],
        help="live display on a terminal (auto), periodic lines (plain) or nothing",
    )
    add_common_arguments(parser)


def file_keys() -> frozenset[str]:
    """The keys a `--config` file may hold: the long options (and `source`), nothing else."""
    probe = argparse.ArgumentParser(add_help=False)
    add_arguments(probe)
    keys = {action.dest for action in probe._actions} - NOT_IN_FILE
    return frozenset(keys | {"source"})


def settings_from(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """Merge flags over the TOML file over defaults; secrets only from `env`."""
    options = Options(args, file_keys=file_keys())
    pick = options.pick
    sources = list(args.sources) or as_list(options.file.get("sources", options.file.get("source")))
    if not sources:
        raise ConfigError("no SOURCE given: name the directories or files to upload")
    target = resolve_target(options, "upload")
    connection = resolve_connection(options, env, target)
    values: dict[str, Any] = {}
    for name in (
        "concurrency",
        "retries",
        "api_version",
        "on_conflict",
        "progress",
        "instruction_max_age",
        "segment_threshold",
        "segment_size",
        "part_size",
    ):
        if (value := pick(name)) is not None:
            values[name] = value
    for name in ("manifest", "state", "report", "log_file", "rules", "sidecar", "metadata_sheet"):
        if (value := pick(name)) is not None:
            values[name] = Path(value)
    for name in ("follow_symlinks", "checksum", "dry_run"):
        values[name] = bool(pick(name, False))
    values["attach"] = not bool(pick("no_attach", False))
    for name in ("terminate_workflows", "terminated_status"):
        if (value := pick(name)) is not None:
            values[name] = str(value)
    if (to := pick("to")) is not None:
        values["destination"] = to
        if to == "document-management" and "api_version" not in values:
            values["api_version"] = "2.1"  # the only uploads Document Management takes
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


DEPRECATED_V10 = (
    "bulkupload: warning: --api-version 1.0: Procore's API reference flags v1.0 Create Upload as "
    "deprecated (deprecated APIs may be refused to new apps); 1.1 is the default"
)


def run_upload(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = settings_from(args, env)
    setup_logging(settings.log_file, args.debug)
    source_prefixes(settings.sources)  # two SOURCEs of one name: a usage error, up front
    if settings.api_version == "1.0":
        print(DEPRECATED_V10, file=sys.stderr, flush=True)
    signals = SignalStop(lambda text: print(text, file=sys.stderr, flush=True))

    async def work(watch: SignalStop) -> RunOutcome:
        return await upload(settings, stop=watch.stop, abort=watch.abort)

    outcome = anyio.run(signals.run, work)
    if signals.signum is not None:
        outcome.stopped_by = signals.signum
    print_summary(outcome, settings, sys.stdout)
    return exit_code(outcome)
