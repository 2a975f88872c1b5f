"""Settings of one emulator run: clients, companies, lifetimes, rate limits, faults and storage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from aiohttp import web

from .pdm import DEFAULT_PDM_PERMISSIONS, PDM_CLIENTS, PdmProject, default_pdm_projects

DEFAULT_CLIENTS = {
    "demo-client-id": "demo-client-secret",
    "other-client-id": "other-client-secret",
    **PDM_CLIENTS,  # each lacks one Document Management permission (`pdm.defaults`)
}
GIB = 1024**3
DISABLED_RATE_LIMIT = 1_000_000  # what the headers report when no limit is configured


@dataclass(frozen=True, slots=True)
class CompanyConfig:
    """A company and its projects. A `variant` company gets a different field set and key prefix."""

    id: int
    projects: tuple[int, ...]
    variant: bool = False

    @property
    def bucket(self) -> str:
        return f"procore-company-{self.id}"

    def key_for(self, uuid: str) -> str:
        if self.variant:
            return f"companies/{self.id}/direct/{uuid}"
        return f"uploads/{uuid}"


DEFAULT_COMPANIES = (
    CompanyConfig(1, (42, 100)),
    CompanyConfig(2, (200,), variant=True),
)


PROBABILITIES = (
    "api_5xx",
    "storage_5xx",
    "reset",
    "api_lost",
    "scan_failed",
    "pdm_verify_failed",
    "pdm_ml_error",
    "pdm_submit_conflict",
    "pdm_submit_unknown",
)
SWITCHES = ("scan_retryable",)


@dataclass(slots=True)
class FaultSettings:
    """Faults injected on demand; probabilities in [0, 1], latencies in seconds."""

    api_5xx: float = 0.0
    storage_5xx: float = 0.0
    reset: float = 0.0  # storage: connection reset partway through the body
    api_lost: float = 0.0  # API: the work is done, then the connection drops unanswered
    api_latency: float = 0.0
    storage_latency: float = 0.0
    # Virtual storage latency: each storage request moves the emulator's clock on by this many
    # seconds before it is checked, so expiry can be rehearsed without waiting in real time.
    storage_clock_step: float = 0.0
    storage_bandwidth: float | None = None  # bytes/s over all storage connections
    retry_after: int = 1  # seconds, sent with every injected 5xx
    # v2.1: the malware scan of a completed upload fails (decided once per upload, at completion),
    # and whether its `error.retryable` says a new upload of the same file may succeed.
    scan_failed: float = 0.0
    scan_retryable: bool = True
    # Document Management: a PATCH item setting COMPLETED fails in `failed` (storage could not
    # confirm the file); ML of a PDF ends in `error`; a submitted upload fails inside the 201
    # with CONCURRENCY_CONFLICT (and a new latest_event_id) or UNKNOWN_FAILURE.
    pdm_verify_failed: float = 0.0
    pdm_ml_error: float = 0.0
    pdm_submit_conflict: float = 0.0
    pdm_submit_unknown: float = 0.0

    def as_json(self) -> dict[str, object]:
        return asdict(self)

    def update(self, values: dict[str, object]) -> None:
        """Apply a partial update from JSON; unknown names raise ValueError."""
        for name, value in values.items():
            if name not in self.__dataclass_fields__:
                raise ValueError(f"unknown fault setting {name!r}")
            if name in SWITCHES:
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be true or false")
                setattr(self, name, value)
                continue
            if value is None:
                if name != "storage_bandwidth":
                    raise ValueError(f"{name} cannot be null")
                self.storage_bandwidth = None
                continue
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative number")
            if name in PROBABILITIES and value > 1:
                raise ValueError(f"{name} is a probability in [0, 1]")
            setattr(self, name, int(value) if name == "retry_after" else float(value))


@dataclass(slots=True)
class EmulatorConfig:
    """Everything one emulator run needs; every field has a demo-friendly default."""

    host: str = "127.0.0.1"
    port: int = 0
    clients: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CLIENTS))
    companies: tuple[CompanyConfig, ...] = DEFAULT_COMPANIES
    token_lifetime: float = 5400.0
    upload_lifetime: float = 3600.0
    hourly_limit: int | None = None
    spike_limit: int | None = None
    spike_window: float = 10.0
    hourly_window: float = 3600.0  # shrunk, the hourly limit can be rehearsed in minutes
    fault_api_5xx: float = 0.0
    fault_storage_5xx: float = 0.0
    fault_reset: float = 0.0
    fault_api_lost: float = 0.0
    api_latency: float = 0.0
    storage_latency: float = 0.0
    storage_bandwidth: float | None = None
    data_dir: str | None = None  # None: a fresh temporary directory, removed on stop
    storage: Literal["local", "seaweedfs"] = "local"
    region: str = "us-east-1"
    access_key: str = "AKIAEMULATOR0000DEMO"
    secret_key: str = "emulator/secret/key/0000000000000000000000"
    # The variant company signs with temporary credentials (session token), as STS would issue.
    session_access_key: str = "ASIAEMULATOR0000DEMO"
    session_secret_key: str = "emulator/session/secret/00000000000000000"
    session_token: str = "FwoGZXIvYXdzEMULATORSESSIONTOKEN0000000000"
    max_upload_size: int = 5 * GIB  # S3's single-POST cap
    min_segment_size: int = 5 * 1024 * 1024  # every segment but the last (S3's part minimum)
    max_segment_size: int = 5 * GIB
    seed: int | None = None  # seeds fault randomness for reproducible runs
    # v2.1 Unified File Uploads: how many status GETs a completed upload stays `scanning` before
    # it is `available`, and which of Procore's status words to answer (the reference's, or the
    # tutorial's, which says `complete` where the reference says `scanning`).
    v21_scan_polls: int = 0
    v21_status_words: Literal["reference", "tutorial"] = "reference"
    fault_scan_failed: float = 0.0
    fault_scan_retryable: bool = True
    # Document Management: each project's set-up (`pdm.defaults`: projects 42, 100 and 200), the
    # permissions of identities that do not hold both (others do), and how long ML and filename
    # scraping run after COMPLETED: this many reads of the upload answered `in_progress`, or
    # this many seconds on the emulator's clock, whichever ends first.
    pdm_projects: dict[int, PdmProject] = field(default_factory=default_pdm_projects)
    pdm_permissions: dict[str, frozenset[str]] = field(
        default_factory=lambda: dict(DEFAULT_PDM_PERMISSIONS)
    )
    pdm_processing_reads: int = 1
    pdm_processing_seconds: float = 10.0
    fault_pdm_verify_failed: float = 0.0
    fault_pdm_ml_error: float = 0.0
    fault_pdm_submit_conflict: float = 0.0
    fault_pdm_submit_unknown: float = 0.0

    def company(self, company_id: int) -> CompanyConfig | None:
        for company in self.companies:
            if company.id == company_id:
                return company
        return None

    def company_of_project(self, project_id: int) -> CompanyConfig | None:
        for company in self.companies:
            if project_id in company.projects:
                return company
        return None

    def initial_faults(self) -> FaultSettings:
        return FaultSettings(
            api_5xx=self.fault_api_5xx,
            storage_5xx=self.fault_storage_5xx,
            reset=self.fault_reset,
            api_lost=self.fault_api_lost,
            api_latency=self.api_latency,
            storage_latency=self.storage_latency,
            storage_bandwidth=self.storage_bandwidth,
            scan_failed=self.fault_scan_failed,
            scan_retryable=self.fault_scan_retryable,
            pdm_verify_failed=self.fault_pdm_verify_failed,
            pdm_ml_error=self.fault_pdm_ml_error,
            pdm_submit_conflict=self.fault_pdm_submit_conflict,
            pdm_submit_unknown=self.fault_pdm_submit_unknown,
        )

    def credentials(self) -> dict[str, tuple[str, str | None]]:
        """Storage credentials: access key -> (secret key, session token or None)."""
        return {
            self.access_key: (self.secret_key, None),
            self.session_access_key: (self.session_secret_key, self.session_token),
        }


CONFIG_KEY: web.AppKey[EmulatorConfig] = web.AppKey("emulator_config", EmulatorConfig)
FAULTS_KEY: web.AppKey[FaultSettings] = web.AppKey("emulator_faults", FaultSettings)
