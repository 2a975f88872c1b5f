"""What every subcommand shares: flags over the `--config` file over defaults, one resolution of
the connection (hosts, company, credentials, --allow-http), the target, and logging."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import (
    PRODUCTION_API,
    PRODUCTION_LOGIN,
    Credentials,
    check_url,
    env_id,
)
from ..errors import ConfigError
from ..models import Target
from .console import ConsoleHandler
from .locations import expand
from .options import read_config


@dataclass(frozen=True, slots=True)
class Connection:
    """Where and as whom to talk to Procore; resolved once, the same way for every command."""

    base_url: str
    login_url: str
    company_id: int
    credentials: Credentials
    allow_http: bool = False


class Options:
    """Flags over the `--config` TOML file over defaults: `pick(name)` gives the winner, typed
    and checked alike whichever way it came (`options.py`)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        config: Path | None = getattr(args, "config", None)
        self.file: dict[str, Any] = read_config(config) if config else {}
        self.started = dt.datetime.now()  # what {date} and {time} in a path become

    def pick(self, name: str, default: Any = None) -> Any:
        value = getattr(self.args, name, None)
        if value is not None:
            return value
        return self.file.get(name, default)

    def pick_path(self, name: str) -> Path | None:
        """A path option with `{date}` and `{time}` filled in (`--report reports/{date}.json`)."""
        value = self.pick(name)
        return None if value is None else expand(Path(value), self.started)


def resolve_target(options: Options, verb: str) -> Target:
    project, company = options.pick("project"), options.pick("company")
    if (project is None) == (company is None):
        raise ConfigError(f"say where to {verb}: --project ID or --company ID (exactly one)")
    if project is not None:
        return Target("project", int(project))
    return Target("company", int(company))


def resolve_connection(options: Options, env: Mapping[str, str], target: Target) -> Connection:
    """Flags, then the config file, then the environment, then production defaults."""
    company_id = options.pick("company_id")
    if company_id is None:
        company_id = env_id(env, "PROCORE_COMPANY_ID")
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


def console_level(options: Options) -> int:
    """The level of the log on stderr: --log-level, else -q/-v/-vv/--debug, else warnings."""
    if (name := options.pick("log_level")) is not None:
        return int(logging.getLevelName(str(name).upper()))
    verbose = int(getattr(options.args, "verbose", 0) or 0)
    if getattr(options.args, "debug", False) or verbose >= 2:
        return logging.DEBUG
    return logging.INFO if verbose == 1 else logging.WARNING


def setup_logging(options: Options) -> None:
    """The `bulkupload` logger: readable lines on stderr at `console_level`, and JSON lines in
    `--log-file` (each file, each retry, the summary; debug records too with --debug)."""
    from ..logs import JsonLinesHandler

    logger = logging.getLogger("bulkupload")
    for handler in list(logger.handlers):  # a second run in one process starts clean
        logger.removeHandler(handler)
        handler.close()
    level = console_level(options)
    log_file = options.pick_path("log_file")
    file_level = logging.DEBUG if getattr(options.args, "debug", False) else logging.INFO
    logger.setLevel(min(level, file_level) if log_file is not None else level)
    logger.propagate = False
    if log_file is not None:
        handler = JsonLinesHandler(log_file)
        handler.setLevel(min(level, file_level))
        logger.addHandler(handler)
    console = ConsoleHandler()
    console.setLevel(level)
    logger.addHandler(console)
