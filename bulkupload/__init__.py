"""Fast, resumable bulk uploads of file trees into Procore.

The command line (`bulkupload`) is the main interface; these names are the stable surface for
programs that embed it: `await upload(settings, stop=..., events=...)` runs what `bulkupload
upload` runs, and `events` receives the run's typed events (`FileDone`, `Retried`, ...).
"""

__version__ = "0.1.0"  # first: the command line imports it while the package initialises

from .config import Credentials, Settings
from .errors import (
    AnswerTooLarge,
    ApiError,
    ApiUnavailable,
    AuthError,
    BulkUploadError,
    ConfigError,
    FileChanged,
    FileProblem,
    FileUnreadable,
    FileVanished,
    InsecureApi,
    InsecureConnection,
    InsecureStorage,
    NetworkError,
    NotFound,
    PolicyExpired,
    ProcessingFailed,
    ProcoreUnreachable,
    RateLimited,
    StateError,
    StorageError,
    StorageUnavailable,
    TargetUnusable,
    UnsupportedFileSize,
    UploadProcessing,
)
from .events import (
    BytesMoved,
    Event,
    FileDone,
    FilesFound,
    Notice,
    Retried,
    SendPlanned,
    WalkEnded,
)
from .models import Disposition, FileEntry, FileResult, Placement, SkippedEntry, Status, Target
from .runner import upload
from .stats import RunOutcome, Tally

__all__ = [
    "AnswerTooLarge",
    "ApiError",
    "ApiUnavailable",
    "AuthError",
    "BulkUploadError",
    "BytesMoved",
    "ConfigError",
    "Credentials",
    "Disposition",
    "Event",
    "FileChanged",
    "FileDone",
    "FileEntry",
    "FileProblem",
    "FileResult",
    "FileUnreadable",
    "FileVanished",
    "FilesFound",
    "InsecureApi",
    "InsecureConnection",
    "InsecureStorage",
    "NetworkError",
    "NotFound",
    "Notice",
    "Placement",
    "PolicyExpired",
    "ProcessingFailed",
    "ProcoreUnreachable",
    "RateLimited",
    "Retried",
    "RunOutcome",
    "SendPlanned",
    "Settings",
    "SkippedEntry",
    "StateError",
    "Status",
    "StorageError",
    "StorageUnavailable",
    "Tally",
    "Target",
    "TargetUnusable",
    "UnsupportedFileSize",
    "UploadProcessing",
    "WalkEnded",
    "__version__",
    "upload",
]
