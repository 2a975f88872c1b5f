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
from .collector import tune_collector
from .failures import describe, report_failure
from .malloc import limit_arenas
from .options import GLOBAL, add_options
from .pipes import quiet_when_closed
from .upload import settings_from

__all__ = ["build_parser", "describe", "main", "run", "settings_from", "with_command"]

# Flags of the whole command line, before or after the command word (and their values).
GLOBAL_FLAGS = {"--debug": 0, "-q": 0, "--quiet": 0, "-v": 0, "--verbose": 0, "--log-level": 1}
TOP_LEVEL = ("-h", "--help", "--version")

USAGES = {
    "upload": "bulkupload [-q|-v|--debug] [upload] SOURCE... (--project ID | --company ID) "
    "[options]",
    "attach": "bulkupload [-q|-v|--debug] attach [--manifest PATH] (--project ID | --company ID) "
    "[options]",
    "report": "bulkupload [-q|-v|--debug] report [--state PATH] [--target KEY] [--format FORMAT]",
    "help": "bulkupload help [upload|attach|report]",
}
USAGE = "\n       ".join(USAGES.values())

DESCRIPTION = """\
Fast, resumable bulk uploads of file trees into Procore's Documents tool.

Credentials come from the environment only:
  PROCORE_CLIENT_ID + PROCORE_CLIENT_SECRET   a service account (token renewed as needed)
  PROCORE_ACCESS_TOKEN                        or a ready bearer token
  PROCORE_COMPANY_ID                          the Procore-Company-Id header (or --company-id)
"""

EPILOG = """\
which command: the first word (after -q, -v, --log-level, --debug) names the command when it is
upload, attach, report or help; any other word starts an upload. So `bulkupload ./drawings
--project 42` uploads, and `bulkupload report` is the report command even where a directory
`report` exists: to upload a SOURCE named like a command, say `bulkupload upload report ...` or
`bulkupload ./report ...`.
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


def _global_flag(word: str) -> int | None:
    """How many values follow `word` if it is a global flag (`-vv`, `--log-level=x`: none)."""
    if word in GLOBAL_FLAGS:
        return GLOBAL_FLAGS[word]
    if word.startswith("--log-level=") or (len(word) > 2 and word.strip("v") == "-"):
        return 0
    return None


def command_at(argv: Sequence[str]) -> int:
    """Where the command word is (or would be): after the global flags and their values."""
    at = 0
    while at < len(argv) and (values := _global_flag(argv[at])) is not None:
        at += 1 + values
    return min(at, len(argv))


def with_command(argv: Sequence[str]) -> list[str]:
    """`argv` with its command word explicit: `upload` goes in front of anything that names
    no command (after the global flags), e.g. `./drawings --project 42`."""
    argv = list(argv)
    at = command_at(argv)
    if at < len(argv) and (argv[at] in COMMANDS or argv[at] in TOP_LEVEL or argv[at] == "help"):
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
        at = command_at(argv)
        word = argv[at] if at < len(argv) else None
        if word == "help":
            # `bulkupload help [COMMAND]`: that command's help, or this one's.
            topic = argv[at + 1 : at + 2]
            return super().parse_known_args(
                [*topic, "--help"] if topic and topic[0] in self.commands else ["--help"]
            )
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
    add_options(parser, GLOBAL)
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
            prog=command.prog,  # its usage errors start as its other errors do
            usage=USAGES[command.name],
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
    with quiet_when_closed():  # `bulkupload report | head`: no traceback, no error
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
    limit_arenas()  # before any thread starts
    tune_collector()  # after the imports, whose objects it freezes
    try:
        code = run()
    except KeyboardInterrupt:
        code = 128 + signal.SIGINT
    sys.exit(code)
