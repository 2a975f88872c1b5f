"""One run per state file: an OS lock beside the database, the same on POSIX and Windows."""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock, Timeout

from bulkupload.errors import StateError


def take_lock(db_path: Path, shown: str) -> FileLock:
    """Lock `<db_path>.lock` or fail at once. flock on POSIX, msvcrt on Windows (filelock),
    released by the OS if the process dies, so a SIGKILL never leaves it stuck."""
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(f"{db_path}.lock", thread_local=False)
        lock.acquire(timeout=0)
    except Timeout:
        raise StateError(f"another bulkupload run is using {shown}") from None
    except OSError as exc:
        raise StateError(f"cannot create state store {shown}: {exc.strerror or exc}") from exc
    return lock
