"""What every subcommand shares: flags over the `--config` file over defaults, one resolution of
the connection (hosts, company, credentials, --allow-http), the target, and logging."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import (
    PRODUCTION_API,
    PRODUCTION_LOGIN,
    Credentials,
    check_url,
    env_int,
    load_toml,
)
from ..errors import ConfigError
from ..models import Target

# Options that only steer the command line itself: a config file naming them is a mistake.
NOT_IN_FILE = frozenset({"help", "debug", "config", "version", "command"})


@dataclass(frozen=True, slots=True)
class Connection:
    """Where and as whom to talk to Procore; resolved once, the same way for every command."""

    base_url: str
    login_url: str
    company_id: int
    credentials: Credentials
    allow_http: bool = False


class Options:
    """Flags over the `--config` TOML file over defaults: `pick(name)` gives the winner."""

    def __init__(self, args: argparse.Namespace, *, file_keys: Iterable[str]) -> None:
        self.args = args
        config: Path | None = getattr(args, "config", None)
        self.file: dict[str, Any] = load_toml(config) if config else {}
        unknown = sorted(set(self.file) - set(file_keys))
        if unknown:
            raise ConfigError(f"{config}: unknown option(s): {', '.join(unknown)}")

    def pick(self, name: str, default: Any = None) -> Any:
        value = getattr(self.args, name, None)
        if value is not None:
            return value
        return self.file.get(name, default)


def add_common_arguments(parser: argparse.ArgumentParser, *, config: bool = True) -> None:
    """`--debug` after the command word too (SUPPRESS: it never resets one given before it)."""
    parser.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks and debug logs",
    )
    if config:
        parser.add_argument(
            "--config",
            type=Path,
            metavar="TOML",
            help="read any of these options (not secrets) from a TOML file; flags win",
        )


def add_target_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--project", type=int, metavar="ID", help=f"{verb} this project")
    target.add_argument("--company", type=int, metavar="ID", help=f"{verb} at company level")


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--company-id",
        type=int,
        metavar="ID",
        help="Procore-Company-Id header (default: $PROCORE_COMPANY_ID, or --company)",
    )
    add("--base-url", metavar="URL", help=f"Procore API (default {PRODUCTION_API})")
    add("--login-url", metavar="URL", help=f"Procore login (default {PRODUCTION_LOGIN})")
    add(
        "--allow-http",
        action="store_true",
        default=None,
        help="allow plain http to a non-loopback host (test servers only; TLS is never skipped)",
    )


def resolve_target(options: Options, verb: str) -> Target:
    project, company = options.pick("project"), options.pick("company")
    if (project is None) == (company is None):
        raise ConfigError(f"say where to {verb}: --project ID or --company ID (exactly one)")
    if project is not None:
        return Target("project", int(project))
    return Target("company", int(company))


def resolve_connection(options: Options, env: Mapping[str, str], target: Target) -> Connection:
    """Flags, then the config file, then the environment, then production defaults."""
    company_id = options.pick("company_id") or env_int(env, "PROCORE_COMPANY_ID")
    if company_id is None and target.kind == "company":
        company_id = target.id
    if company_id is None:
        raise ConfigError(
            "the Procore-Company-Id header is required: set PROCORE_COMPANY_ID or --company-id"
        )
    base = options.pick("base_url") or env.get("PROCORE_BASE_URL") or PRODUCTION_API
    login = options.pick("login_url") or env.get("PROCORE_LOGIN_URL") or PRODUCTION_LOGIN
    credentials = Credentials.from_env(env)
    allow_http = bool(options.pick("allow_http", False))
    connection = Connection(
        base_url=str(base).rstrip("/"),
        login_url=str(login).rstrip("/"),
        company_id=int(company_id),
        credentials=credentials,
        allow_http=allow_http,
    )
    for url in (connection.base_url, connection.login_url):
        check_url(url, allow_http=allow_http)
    return connection


def as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def setup_logging(log_file: Path | None, debug: bool) -> None:
    from ..logs import JsonLinesHandler

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
