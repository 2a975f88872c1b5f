"""Fast, resumable bulk uploads of file trees into Procore.

The command line (`bulkupload`) is the main interface; these names are the stable surface for
programs that embed it: `await upload(settings)` runs what `bulkupload upload` runs.
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
    FileTooLarge,
    FileUnreadable,
    FileVanished,
    InsecureApi,
    InsecureConnection,
    InsecureStorage,
    NetworkError,
    NotFound,
    PolicyExpired,
    RateLimited,
    StateError,
    StorageError,
    StorageUnavailable,
    TargetUnusable,
)
from .models import FileEntry, FileResult, SkippedEntry, Status, Target
from .outcome import RunOutcome
from .runner import upload

__all__ = [
    "AnswerTooLarge",
    "ApiError",
    "ApiUnavailable",
    "AuthError",
    "BulkUploadError",
    "ConfigError",
    "Credentials",
    "FileChanged",
    "FileEntry",
    "FileProblem",
    "FileResult",
    "FileTooLarge",
    "FileUnreadable",
    "FileVanished",
    "InsecureApi",
    "InsecureConnection",
    "InsecureStorage",
    "NetworkError",
    "NotFound",
    "PolicyExpired",
    "RateLimited",
    "RunOutcome",
    "Settings",
    "SkippedEntry",
    "StateError",
    "Status",
    "StorageError",
    "StorageUnavailable",
    "Target",
    "TargetUnusable",
    "__version__",
    "upload",
]
