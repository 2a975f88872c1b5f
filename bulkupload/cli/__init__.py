"""Command line: `bulkupload [upload] SOURCE...`, `bulkupload attach`, `bulkupload report`.

The first word (after any `--debug`) names the command when it is `upload`, `attach` or `report`;
any other first word starts an upload, so `bulkupload ./drawings --project 42` keeps working.
Exit codes (like aws-cli's s3 commands): 0 every file done or skipped on purpose, 1 some files
failed, 2 usage, configuration, credentials, target or state-store error, 130/143 interrupted.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn

from .. import __version__
from . import attach, report, upload
from .failures import describe, report_failure
from .upload import settings_from

__all__ = ["build_parser", "describe", "main", "run", "settings_from", "with_command"]

GLOBAL_FLAGS = ("--debug",)
TOP_LEVEL = ("-h", "--help", "--version")

USAGE = """\
bulkupload [--debug] [upload] SOURCE... (--project ID | --company ID) [options]
       bulkupload [--debug] attach [--manifest PATH] (--project ID | --company ID) [options]
       bulkupload [--debug] report [--state PATH] [--target KEY] [--format FORMAT]"""

DESCRIPTION = """\
Fast, resumable bulk uploads of file trees into Procore's Documents tool.

Credentials come from the environment only:
  PROCORE_CLIENT_ID + PROCORE_CLIENT_SECRET   a service account (token renewed as needed)
  PROCORE_ACCESS_TOKEN                        or a ready bearer token
  PROCORE_COMPANY_ID                          the Procore-Company-Id header (or --company-id)
"""

EPILOG = """\
which command: the first word (after --debug) names the command when it is upload, attach or
report; any other word starts an upload. So `bulkupload ./drawings --project 42` uploads, and
`bulkupload report` is the report command even where a directory `report` exists: to upload a
SOURCE named like a command, say `bulkupload upload report ...` or `bulkupload ./report ...`.
Each command has its own --help (`bulkupload upload --help` lists every upload option).

exit codes: 0 all files uploaded or skipped on purpose; 1 some files failed; 2 usage, config,
credentials or state error; 130/143 interrupted (SIGINT/SIGTERM; the next run finishes the job).
"""


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    prog: str  # how its error lines start
    summary: str
    description: str
    epilog: str | None
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Mapping[str, str]], int]


COMMANDS: dict[str, Command] = {
    command.name: command
    for command in (
        Command(
            "upload",
            "bulkupload",
            "upload SOURCE... into Procore (the default command)",
            upload.DESCRIPTION,
            upload.EPILOG,
            upload.add_arguments,
            upload.run_upload,
        ),
        Command(
            "attach",
            attach.PROG,
            "attach the uploads of a --no-attach run to Documents",
            attach.DESCRIPTION,
            attach.EPILOG,
            attach.add_arguments,
            attach.run_attach,
        ),
        Command(
            "report",
            report.PROG,
            "show what the state store knows",
            report.DESCRIPTION,
            None,
            report.add_arguments,
            report.run_report,
        ),
    )
}


def with_command(argv: Sequence[str]) -> list[str]:
    """`argv` with its command word explicit: `upload` goes in front of anything that names
    no command (after the global flags), e.g. `./drawings --project 42`."""
    argv = list(argv)
    at = 0
    while at < len(argv) and argv[at] in GLOBAL_FLAGS:
        at += 1
    if at < len(argv) and (argv[at] in COMMANDS or argv[at] in TOP_LEVEL):
        return argv
    return [*argv[:at], "upload", *argv[at:]]


class CommandParser(argparse.ArgumentParser):
    """A parser whose usage errors, when the command word is also a path here, say how to
    upload that path instead of only what did not parse."""

    ambiguous: str | None = None

    def error(self, message: str) -> NoReturn:
        word = self.ambiguous
        if word is not None:
            self.exit(
                2,
                f"bulkupload: error: '{word}' is the {word} command, and also a path here "
                f"({message}); to upload it, say `bulkupload upload {word} ...` "
                f"or `bulkupload ./{word} ...`\n",
            )
        super().error(message)


class CommandLine(CommandParser):
    """The top-level parser: applies the command-word rule before parsing."""

    commands: dict[str, CommandParser]

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        argv = with_command(sys.argv[1:] if args is None else args)
        word = next((w for w in argv if w not in GLOBAL_FLAGS), None)
        if word in self.commands and os.path.lexists(word):
            # Either parser may meet the error: the command's own, or ours (unknown arguments).
            self.ambiguous = self.commands[word].ambiguous = word
        return super().parse_known_args(argv, namespace)


def build_parser() -> CommandLine:
    parser = CommandLine(
        prog="bulkupload",
        usage=USAGE,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--version", action="version", version=f"bulkupload {__version__}")
    subparsers = parser.add_subparsers(
        title="commands",
        dest="command",
        metavar="COMMAND",
        help="(default: upload)",
        parser_class=CommandParser,
    )
    parser.commands = {}
    for command in COMMANDS.values():
        sub = subparsers.add_parser(
            command.name,
            help=command.summary,
            description=command.description,
            epilog=command.epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(sub)
        sub.add_argument("--version", action="version", version=f"bulkupload {__version__}")
        parser.commands[command.name] = sub
    return parser


def run(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run the command line; returns the exit code (never raises for expected errors)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help, --version, or a usage error it printed
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    command = COMMANDS[args.command]
    try:
        return command.run(args, env)
    except Exception as exc:  # one line per kind of error, from the table in failures.py
        return report_failure(command.prog, exc, debug=args.debug)


def main() -> None:
    """Console-script entry point."""
    try:
        code = run()
    except KeyboardInterrupt:
        code = 128 + signal.SIGINT
    sys.exit(code)
