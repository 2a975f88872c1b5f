"""One typed settings object for a run, built from flags, a TOML file and the environment.

Precedence: command-line flags, then the `--config` TOML file, then built-in defaults. Secrets
come only from the environment (`PROCORE_CLIENT_ID` + `PROCORE_CLIENT_SECRET`, or
`PROCORE_ACCESS_TOKEN`).

Memory bound of a run, every list and cache included (C = concurrency; checked by
`benchmarks/` with 100,000 failures in a 200,000-file tree):
    C × 2 × chunk_size                 file bytes in flight (one chunk per transfer; a segmented
                                       file has 2 parts in flight, all its segments not yet
                                       started once its instructions are 50 minutes old)
  + (4 × 200 + 3 × C + 500) × ~1 KiB   walk batches, planned/stored queues, one record batch
                                       (the ledger of open files holds the same items)
  + (depth + 64) folder listings       Documents folders on the walk's path and the last 64
                                       used (`FolderMirror.focus`): one entry per remote file
  + 1,000 failures + 1,000 gone paths  kept for the summary and report (the counts are exact;
                                       the manifest has every line)
  + the interpreter and libraries      ≈ 60 MB
With the defaults (concurrency 8, 1 MiB chunks) and folders of up to a few thousand files that
is under 100 MB whatever the tree size. A server cannot push it much further: each API answer
is read up to 8 MiB (`MAX_ANSWER_BYTES`) and storage answers up to 64 KiB, so a hostile or
broken server adds at most (C + 4) × 8 MiB for the API answers in flight.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError
from .models import OnConflict, Target
from .state import DEFAULT_STATE_PATH
from .urls import url_refusal

API_VERSIONS = ("1.1", "1.0", "2.1")
Destination = Literal["documents", "document-management"]
DESTINATIONS: tuple[Destination, ...] = ("documents", "document-management")
#: v2.1 parts: every part but the last must be over 5 MiB; none may exceed 100 MiB.
MIN_PART, MAX_PART = 5 << 20, 100 << 20
#: Fewer, bigger requests cost less per byte; smaller parts lose less to a kill (a resumed
#: file sends again only the parts in flight). 32 MiB: 3 % of the requests of 1 MiB parts,
#: at most 32 MiB × concurrency to send again after a crash.
DEFAULT_PART_SIZE = 32 << 20
#: Procore's upload instructions expire after an hour: one older than that is never used.
MAX_INSTRUCTION_AGE = 3600.0
MAX_CONCURRENCY = 512
PRODUCTION_API = "https://api.procore.com"
PRODUCTION_LOGIN = "https://login.procore.com"
DEFAULT_MANIFEST = "bulkupload-manifest.jsonl"
DEFAULT_STATE = str(DEFAULT_STATE_PATH)


@dataclass(frozen=True, slots=True)
class Credentials:
    """Either client credentials (renewable) or a ready access token. Never logged."""

    client_id: str | None = field(default=None, repr=False)
    client_secret: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Credentials:
        client_id = env.get("PROCORE_CLIENT_ID", "").strip() or None
        client_secret = env.get("PROCORE_CLIENT_SECRET", "").strip() or None
        token = env.get("PROCORE_ACCESS_TOKEN", "").strip() or None
        if client_id and client_secret:  # only what is used is checked: a stale token may stay
            return cls(
                client_id=_credential("PROCORE_CLIENT_ID", client_id),
                client_secret=_credential("PROCORE_CLIENT_SECRET", client_secret),
            )
        if token:
            return cls(access_token=_credential("PROCORE_ACCESS_TOKEN", token))
        if client_id or client_secret:
            raise ConfigError(
                "PROCORE_CLIENT_ID and PROCORE_CLIENT_SECRET must both be set "
                "(or set PROCORE_ACCESS_TOKEN)"
            )
        raise ConfigError(
            "no Procore credentials: set PROCORE_CLIENT_ID and PROCORE_CLIENT_SECRET "
            "(or PROCORE_ACCESS_TOKEN) in the environment"
        )


def _credential(name: str, value: str) -> str:
    """`value` (the variable's, without the line ending or blanks around it: a `secrets.env`
    with Windows line endings leaves a CR there); a blank or control character left inside
    cannot travel in an HTTP header, so it is refused here, naming the variable only."""
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ConfigError(f"{name} contains a space or a control character; check how it is set")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything one upload run needs to know."""

    sources: tuple[str, ...]
    target: Target
    company_id: int
    credentials: Credentials
    concurrency: int = 8
    manifest: Path = Path(DEFAULT_MANIFEST)
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    retries: int = 5
    base_url: str = PRODUCTION_API
    login_url: str = PRODUCTION_LOGIN
    api_version: str = "1.1"
    follow_symlinks: bool = False
    folder: str = ""
    on_conflict: OnConflict = "version"
    attach: bool = True
    # A census beside the run (a second, light walk) says what is left and how long it takes.
    plan: bool = True
    state: Path = Path(DEFAULT_STATE)
    checksum: bool = False
    dry_run: bool = False
    report: Path | None = None
    log_file: Path | None = None
    allow_http: bool = False
    # An instruction older than this is thrown away unused; Procore's policies last one hour.
    instruction_max_age: float = 50 * 60
    chunk_size: int = 1 << 20
    # Files above the threshold go as segmented uploads (one S3 POST is capped at 5 GB).
    segment_threshold: int = 4 << 30
    segment_size: int = 1 << 30
    # v2.1 unified uploads: every file in parts of this size (a file of up to 100 MiB is one
    # part), grown for a file that would need more than 10,000.
    part_size: int = DEFAULT_PART_SIZE
    progress: Literal["auto", "tty", "plain", "none"] = "auto"
    retry_backoff: bool = True
    # Where files land: the Documents tool (folders), or Document Management (metadata from
    # `rules` and `sidecar`; a conflicting workflow ended with `terminate_workflows`, a reason,
    # and `terminated_status`, the status the ended revision takes).
    destination: Destination = "documents"
    rules: Path | None = None
    sidecar: Path | None = None
    terminate_workflows: str | None = None
    terminated_status: str | None = None
    # A dry run into Document Management writes the files whose metadata is not ready here,
    # as a sheet to fill in and give back as `sidecar`.
    metadata_sheet: Path | None = None
    # The run window: no new file starts after `max_duration` seconds or at `stop_at` (local
    # "HH:MM", its next occurrence), whichever comes first; files in flight then have
    # `stop_grace` seconds more before they are aborted.
    max_duration: float | None = None
    stop_at: str | None = None
    stop_grace: float = 900.0
    # The share of each rate-limit window this run may spend (the rest is other integrations').
    api_share: float = 1.0
    # Storage traffic at most this many bytes per second (all transfers together).
    bwlimit: int | None = None
    # Extensions refused before any call (Procore's "Strict File Upload" list, and/or own).
    blocked_extensions: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.concurrency > MAX_CONCURRENCY:
            raise ConfigError(
                f"--concurrency must be between 1 and {MAX_CONCURRENCY}, not {self.concurrency}"
            )
        if self.retries < 0:
            raise ConfigError("--retries must be 0 or more")
        if self.company_id < 1:
            raise ConfigError(f"the company id must be a positive number, not {self.company_id}")
        if not 0 < self.instruction_max_age <= MAX_INSTRUCTION_AGE:
            raise ConfigError(
                "--instruction-max-age must be above 0 and at most 3600 seconds (Procore's "
                f"instructions expire after an hour), not {self.instruction_max_age:g}"
            )
        if (problem := folder_problem(self.folder)) is not None:
            raise ConfigError(f"--folder {self.folder!r}: {problem}")
        if self.api_version not in API_VERSIONS:
            raise ConfigError(f"--api-version must be 1.1, 1.0 or 2.1, not {self.api_version!r}")
        if self.destination not in DESTINATIONS:
            raise ConfigError(
                f"--to must be documents or document-management, not {self.destination!r}"
            )
        if self.destination == "document-management":
            self._check_document_management()
        elif self.api_version == "2.1" and self.attach:
            raise ConfigError(
                "--api-version 2.1: Procore's Documents tool takes v1 uploads only; stage the "
                "bytes with --no-attach (Procore deletes them 24 h after creation unless a "
                "Document Management upload is linked to them)"
            )
        if not MIN_PART < self.part_size <= MAX_PART:
            raise ConfigError(
                "--part-size must be over 5 MiB and at most 100 MiB (Procore's v2.1 limits)"
            )
        if self.on_conflict not in ("version", "skip", "rename"):
            raise ConfigError("--on-conflict must be version, skip or rename")
        for url in (self.base_url, self.login_url):
            check_url(url, allow_http=self.allow_http)
        if not 5 << 20 <= self.segment_size <= 5 << 30:
            raise ConfigError("--segment-size must be between 5 MiB and 5 GiB (Procore's limits)")
        if not 0 < self.segment_threshold <= 5 << 30:
            raise ConfigError("--segment-threshold must be above 0 and at most 5 GiB")
        if not 0 < self.api_share <= 1:
            raise ConfigError(f"--api-share must be above 0 and at most 1, not {self.api_share:g}")
        if self.max_duration is not None and self.max_duration <= 0:
            raise ConfigError("--max-duration must be above 0")
        if self.stop_at is not None:
            clock_time(self.stop_at)
        if self.stop_grace < 0:
            raise ConfigError("--stop-grace must be 0 or more")
        if self.bwlimit is not None and self.bwlimit < 1024:
            raise ConfigError("--bwlimit must be at least 1KiB (per second)")

    def _check_document_management(self) -> None:
        if self.target.kind != "project":
            raise ConfigError("--to document-management: Document Management belongs to a project")
        if self.api_version != "2.1":
            raise ConfigError(
                "--to document-management takes v2.1 uploads only (--api-version 2.1, the "
                f"default there), not {self.api_version}"
            )
        if self.rules is None and self.sidecar is None:
            raise ConfigError(
                "--to document-management needs the files' metadata: --rules FILE.toml and/or "
                "--sidecar FILE.csv"
            )
        if (self.terminate_workflows is None) != (self.terminated_status is None):
            raise ConfigError("--terminate-workflows and --terminated-status go together")


def check_url(url: str, *, allow_http: bool) -> None:
    """Refuse URLs that would send the token in clear text to another machine (urls.url_refusal)."""
    reason = url_refusal(url, allow_http=allow_http)
    if reason is None:
        return
    if reason.startswith("plain http"):
        raise ConfigError(
            f"refusing {reason}: the token would travel unencrypted "
            "(use https, or --allow-http for a test server you trust)"
        )
    raise ConfigError(f"{reason}: {url!r}")


def load_toml(path: Path) -> dict[str, Any]:
    """Read a `--config` file, keys as written (the long option names, with `-` or `_`)."""
    import tomllib  # here: most runs read no config file (start-up time)

    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    keys = {key.replace("-", "_") for key in data}
    for secret in ("client_secret", "client_id", "access_token", "token"):
        if secret in keys:
            raise ConfigError(
                f"{path}: '{secret}' does not belong in a config file; "
                "secrets come from the environment only"
            )
    return data


def env_id(env: Mapping[str, str], name: str) -> int | None:
    """A positive id from the environment (`PROCORE_COMPANY_ID`), or None when unset."""
    raw = env.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be a positive id, not {value}")
    return value


def folder_problem(folder: str) -> str | None:
    """Why `folder` (a Documents path, `/`-separated) cannot be used, or None: `.` and `..`
    would become folders of those names in Procore, an empty segment a nameless one."""
    segments = folder.strip("/").split("/") if folder.strip("/") else []
    if any(segment in (".", "..") for segment in segments):
        return "'.' and '..' are not folder names here (say the folder from the root)"
    if any(not segment.strip() for segment in segments):
        return "a folder name is empty"
    return None


class NotASize(ConfigError, argparse.ArgumentTypeError):
    """A SIZE value that does not parse: a config error, and one line from argparse as a flag."""


_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """`64MiB`, `1G`, `5000000` → bytes (binary units; KB/KiB/K all mean 1024).

    Raises `NotASize`, which argparse reports as a usage error when this is a flag's `type`."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise NotASize(f"not a size: {text!r} (try 64MiB or 2GiB)")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.upper()])


def clock_time(text: str) -> tuple[int, int]:
    """`06:00` → (6, 0): a local time of day, for `--stop-at`."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", text)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ConfigError(f"not a time of day: {text!r} (try 06:00)")
    return int(match[1]), int(match[2])


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([hms]?)", re.IGNORECASE)
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "": 1.0}


def parse_duration(text: str) -> float:
    """`6h`, `90m`, `1h30m`, `45s`, `3600` → seconds."""
    compact = text.strip()
    parts = _DURATION.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact.replace(" ", ""):
        raise NotASize(f"not a duration: {text!r} (try 6h, 90m or 1h30m)")
    return sum(float(n) * _SECONDS[u.lower()] for n, u in parts)


def parse_rate(text: str) -> int:
    """A bandwidth as rclone writes it: `10M` or `10MiB` (per second, binary units; a plain
    number is KiB/s as in rclone), `/s` allowed."""
    value = text.strip().removesuffix("/s")
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return int(float(value) * 1024)
    try:
        return parse_size(value)
    except NotASize:
        raise NotASize(f"not a bandwidth: {text!r} (try 10M, 500K or 2GiB/s)") from None
