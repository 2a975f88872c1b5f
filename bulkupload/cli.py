"""Command line: parse flags, build Settings, run, print the summary, pick the exit code.

Exit codes (like aws-cli's s3 commands): 0 every file uploaded or skipped on purpose, 1 some files
failed, 2 usage, configuration, credentials or state-store error, 130/143 interrupted by
SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .config import (
    DEFAULT_MANIFEST,
    DEFAULT_STATE,
    PRODUCTION_API,
    PRODUCTION_LOGIN,
    Credentials,
    Settings,
    env_int,
    load_toml,
    parse_size,
)
from .errors import (
    ApiError,
    AuthError,
    BulkUploadError,
    ConfigError,
    NetworkError,
    StateError,
)
from .models import Target

EXIT_USAGE = 2  # 0 and 1 come from the run itself (runner.exit_code)
log = logging.getLogger("bulkupload")

DESCRIPTION = """\
Upload a tree of files into Procore: each file goes through Procore's Direct File Uploads (Create
Upload, then a multipart POST straight to storage) and is attached to the Documents tool, mirroring
the local folders under --folder. Every file found gets one line in the JSON Lines manifest.

Credentials come from the environment only:
  PROCORE_CLIENT_ID + PROCORE_CLIENT_SECRET   a service account (token renewed as needed)
  PROCORE_ACCESS_TOKEN                        or a ready bearer token
  PROCORE_COMPANY_ID                          the Procore-Company-Id header (or --company-id)
Other commands: `bulkupload attach --help`, `bulkupload report --help`.
"""

EPILOG = """\
exit codes: 0 all files uploaded or skipped on purpose; 1 some files failed; 2 usage, config,
credentials or state error; 130/143 interrupted (SIGINT/SIGTERM; the next run finishes the job).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bulkupload",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("sources", nargs="*", metavar="SOURCE", help="directories or files to upload")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--project", type=int, metavar="ID", help="upload into this project")
    target.add_argument("--company", type=int, metavar="ID", help="upload at company level")
    add(
        "--company-id",
        type=int,
        metavar="ID",
        help="Procore-Company-Id header (default: $PROCORE_COMPANY_ID, or --company)",
    )
    add(
        "--concurrency",
        "-j",
        type=int,
        metavar="N",
        help="files in flight at once, and instructions prepared ahead at most (default 8)",
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
        "--config",
        type=Path,
        metavar="TOML",
        help="read any of these options (not secrets) from a TOML file; flags win",
    )
    add("--base-url", metavar="URL", help=f"Procore API (default {PRODUCTION_API})")
    add("--login-url", metavar="URL", help=f"Procore login (default {PRODUCTION_LOGIN})")
    add("--api-version", choices=["1.1", "1.0"], help="Create Upload API version (default 1.1)")
    add(
        "--allow-http",
        action="store_true",
        default=None,
        help="allow plain http to a non-loopback host (test servers only; TLS is never skipped)",
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
    add("--debug", action="store_true", help="show tracebacks and debug logs")
    add("--version", action="version", version=f"bulkupload {__version__}")
    return parser


def settings_from(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """Merge flags over the TOML file over defaults; secrets only from `env`."""
    file: dict[str, Any] = load_toml(args.config) if args.config else {}
    known = set(vars(args)) | {"source", "sources"}
    unknown = sorted(set(file) - known)
    if unknown:
        raise ConfigError(f"{args.config}: unknown option(s): {', '.join(unknown)}")

    def pick(name: str, default: Any = None) -> Any:
        value = getattr(args, name, None)
        if value is not None:
            return value
        return file.get(name, default)

    sources = list(args.sources) or as_list(file.get("sources", file.get("source")))
    if not sources:
        raise ConfigError("no SOURCE given: name the directories or files to upload")
    project, company = pick("project"), pick("company")
    if (project is None) == (company is None):
        raise ConfigError("say where to upload: --project ID or --company ID (exactly one)")
    target = (
        Target("project", int(project)) if project is not None else Target("company", int(company))
    )
    company_id = pick("company_id") or env_int(env, "PROCORE_COMPANY_ID")
    if company_id is None and company is not None:
        company_id = int(company)
    if company_id is None:
        raise ConfigError(
            "the Procore-Company-Id header is required: set PROCORE_COMPANY_ID or --company-id"
        )
    options: dict[str, Any] = {}
    for name in (
        "concurrency",
        "retries",
        "api_version",
        "on_conflict",
        "progress",
        "instruction_max_age",
        "segment_threshold",
        "segment_size",
    ):
        if (value := pick(name)) is not None:
            options[name] = value
    for name in ("manifest", "state", "report", "log_file"):
        if (value := pick(name)) is not None:
            options[name] = Path(value)
    for name in ("follow_symlinks", "checksum", "dry_run", "allow_http"):
        options[name] = bool(pick(name, False))
    options["attach"] = not bool(pick("no_attach", False))
    return Settings(
        sources=tuple(sources),
        target=target,
        company_id=int(company_id),
        credentials=Credentials.from_env(env),
        include=tuple(as_list(pick("include"))),
        exclude=tuple(as_list(pick("exclude"))),
        base_url=(pick("base_url") or env.get("PROCORE_BASE_URL") or PRODUCTION_API).rstrip("/"),
        login_url=(pick("login_url") or env.get("PROCORE_LOGIN_URL") or PRODUCTION_LOGIN).rstrip(
            "/"
        ),
        folder=str(pick("folder", "")).strip("/"),
        **options,
    )


def as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def setup_logging(log_file: Path | None, debug: bool) -> None:
    from .logs import JsonLinesHandler

    logger = logging.getLogger("bulkupload")
    for handler in list(logger.handlers):  # a second run in one process starts clean
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    if log_file is not None:
        logger.addHandler(JsonLinesHandler(log_file))
    if debug:
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.DEBUG)
        logger.addHandler(console)


def fail(message: str) -> int:
    print(f"bulkupload: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def describe(exc: BaseException) -> str:
    """One plain sentence per kind of error that stops a run."""
    if isinstance(exc, AuthError):
        return f"authentication failed: {exc}"
    if isinstance(exc, NetworkError):
        return f"cannot reach Procore: {exc}"
    if isinstance(exc, StateError):
        return f"state store: {exc}"
    if isinstance(exc, ApiError):
        return f"Procore refused the run: {exc}"
    return str(exc)


def run(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run the command line; returns the exit code (never raises for expected errors)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    if argv and argv[0] == "attach":
        from .attach_cli import run_attach

        return run_attach(argv[1:], env)
    if argv and argv[0] == "report":
        from .report_cli import run_report

        return run_report(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args, env)
        setup_logging(settings.log_file, args.debug)
        from .runner import run_upload_sync
        from .sources import source_prefixes

        source_prefixes(settings.sources)  # two SOURCEs of one name: a usage error, up front

        return run_upload_sync(settings)
    except BulkUploadError as exc:
        if args.debug:
            raise
        return fail(describe(exc))
    except Exception as exc:
        if args.debug:
            raise
        return fail(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)")


def main() -> None:
    """Console-script entry point."""
    try:
        code = run()
    except KeyboardInterrupt:
        code = 128 + signal.SIGINT
    sys.exit(code)
