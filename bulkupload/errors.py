"""One exception tree for bulkupload; the CLI maps each branch to a one-line message and exit code.

BulkUploadError
├── ConfigError              bad flags, config file or environment (exit 2)
├── AuthError                credentials refused, token unusable (exit 2)
├── StateError               the state store cannot be opened or written (exit 2)
├── TargetUnusable           the project/company cannot be used by these credentials (exit 2)
├── NetworkError             host unreachable, connection reset, timeout (retried)
│   └── ProcoreUnreachable   two API calls in a row found no connection through their retries,
│                            nothing answered since (the run stops, exit 2: no file would pass)
├── InsecureConnection       refused before sending: plain http off loopback without --allow-http,
│   │                        or a TLS certificate that does not verify (never retried)
│   ├── InsecureApi          the API or login host (a TargetUnusable too: the run stops, exit 2)
│   └── InsecureStorage      a storage or segment URL: this file fails, the run goes on
├── ApiError                 Procore answered with an error (status, Procore's message, the call)
│   ├── RateLimited          429, carries the wait the server asked for (retried)
│   ├── ApiUnavailable       5xx, may carry Retry-After (retried)
│   ├── NotFound             404: unknown project/company/folder/file
│   └── AnswerTooLarge       a success answer over the client's size cap (not read, not retried)
├── ProcessingFailed         Procore refused a stored upload after receiving it (e.g. its malware
│                            scan); `retryable`: a new upload may succeed
├── UploadProcessing         not available yet (scanning): its status is asked again
├── StorageError             the storage host refused a POST/PUT (status, S3 code)
│   ├── PolicyExpired        403 "Policy expired": fresh instructions, not a failure
│   └── StorageUnavailable   5xx from storage (retried)
└── FileProblem              one local file cannot be sent (recorded, run goes on)
    ├── FileVanished         deleted between walk and upload
    ├── FileUnreadable       permission or I/O error
    ├── FileChanged          size or mtime changed while uploading
    └── UnsupportedFileSize  no upload protocol takes a file of this size (0 bytes for v2.1)
"""

from __future__ import annotations

from collections.abc import Mapping


class BulkUploadError(Exception):
    """Root of every error bulkupload raises on purpose."""


class ConfigError(BulkUploadError):
    """Flags, config file or environment do not make a usable run."""


class AuthError(BulkUploadError):
    """Procore refused the credentials or the token."""


class StateError(BulkUploadError):
    """The state store cannot be opened or written."""


class NetworkError(BulkUploadError):
    """No answer: unreachable host, reset connection or timeout. `host` is the host it was
    for, when known; `login` says it was the login (OAuth) server."""

    def __init__(self, message: str, *, host: str | None = None, login: bool = False) -> None:
        super().__init__(message)
        self.host = host
        self.login = login


class ProcoreUnreachable(NetworkError):
    """Two API calls in a row found no connection to Procore through all their retries, and
    nothing answered since the first: the host is down for this run, not a short outage."""


class ApiError(BulkUploadError):
    """Procore's API answered with an error status.

    `message` is Procore's own text; `call` names the request as a route template
    (`POST /rest/v1.0/files`) when known, and appears in str(error) too.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        retry_after: float | None = None,
        call: str | None = None,
        details: tuple[Mapping[str, object], ...] = (),
    ) -> None:
        where = f" ({call})" if call else ""
        super().__init__(f"Procore API {status}{where}: {message}")
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.call = call
        self.details = details

    @property
    def reason_codes(self) -> tuple[str, ...]:
        """The v2 error body's machine-readable reasons (`error.code`, `details[].reason_code`):
        what a client may branch on, never the message."""
        return tuple(str(d["reason_code"]) for d in self.details if "reason_code" in d)


class RateLimited(ApiError):
    """429: too many requests; `retry_after` says how long to wait."""


class ApiUnavailable(ApiError):
    """5xx from the API: worth another try."""


class NotFound(ApiError):
    """404: the project, company, folder or file does not exist (or is not visible)."""


class AnswerTooLarge(ApiError):
    """A success answer larger than the client reads: the call failed, the answer was dropped."""


class ProcessingFailed(BulkUploadError):
    """Procore received the bytes but its processing of the upload failed (status `failed`).

    `retryable` is Procore's word on whether a new upload of the same file may succeed.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class UploadProcessing(BulkUploadError):
    """Procore is still processing an upload (receiving or scanning): ask its status again."""


class StorageError(BulkUploadError):
    """The storage host rejected an upload."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: float | None = None
    ) -> None:
        super().__init__(f"storage {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


class PolicyExpired(StorageError):
    """403 AccessDenied, policy expired: create fresh instructions and send again."""


class StorageUnavailable(StorageError):
    """5xx from storage: worth another try."""


class FileProblem(BulkUploadError):
    """A local file cannot be sent; recorded in the manifest, the run goes on."""


class FileVanished(FileProblem):
    """The file was deleted between the walk and the upload."""


class FileUnreadable(FileProblem):
    """The file cannot be opened or read."""


class FileChanged(FileProblem):
    """The file's size or mtime changed while it was being uploaded."""


class UnsupportedFileSize(FileProblem):
    """No upload protocol accepts a file of this size."""


class TargetUnusable(BulkUploadError):
    """The project/company does not exist or this identity cannot use it: the run stops."""


class InsecureConnection(BulkUploadError):
    """A connection bulkupload refuses to make or finish: never retried, never worked around.

    Plain http to a host other than loopback (without --allow-http), or a TLS certificate that
    does not verify (bulkupload never disables verification).
    """

    def __init__(self, message: str, *, host: str) -> None:
        super().__init__(message)
        self.host = host


class InsecureApi(InsecureConnection, TargetUnusable):
    """The API or login host cannot be reached safely: no call can succeed, the run stops."""


class InsecureStorage(InsecureConnection):
    """A storage or segment URL cannot be used safely: this file fails, the run goes on."""


#: Errors no other file could get past: they stop a whole run (exit 2), wherever they arise.
STOPS_THE_RUN = (AuthError, ConfigError, ProcoreUnreachable, StateError, TargetUnusable)
