"""The run manifest: one JSON object per file per line (JSON Lines), always valid UTF-8.

Each run writes a fresh manifest. Lines are flushed after every batch, so a crashed run
leaves every finished batch readable; the file is fsynced once, on close, because an fsync
per batch would cost more than the uploads of small files. On an event loop, use
`open_manifest`: the open (mkdir, truncate) and the closing fsync run in a worker thread.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import anyio

from bulkupload.digests import split_digest
from bulkupload.errors import ConfigError
from bulkupload.models import FileResult, printable

__all__ = [
    "MANIFEST_KEYS",
    "ManifestWriter",
    "load_manifest",
    "manifest_line",
    "open_manifest",
    "original_rel",
    "printable_values",
    "read_manifest",
    "rewrite_manifest",
]

MANIFEST_KEYS = (
    "path",
    "size",
    "mtime",
    "md5",
    "status",
    "upload_uuid",
    "attempts",
    "error",
    "started_at",
    "finished_at",
    "file_id",
    "folder_id",
    "version",
)
"""Keys every line has, in this order; `path_bytes_b64` and `action` (what placing did) follow."""


def manifest_line(result: FileResult) -> dict[str, Any]:
    """The manifest record of one result, keys in manifest order.

    `path` is printable text; when the name has undecodable bytes, `path_bytes_b64` holds the
    exact bytes.
    """
    display = printable(result.rel)
    placed = result.placement
    md5, parts_sha256 = split_digest(result.md5)
    record: dict[str, Any] = {
        "path": display,
        "size": result.size,
        "mtime": result.mtime,
        "md5": md5,
        "status": str(result.status),
        "upload_uuid": result.upload_uuid,
        "attempts": result.attempts,
        "error": result.error,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "file_id": placed.file_id if placed else None,
        "folder_id": placed.folder_id if placed else None,
        "version": placed.version if placed else None,
    }
    # printable() only rewrites surrogate escapes, so a difference means undecodable bytes.
    if display != result.rel:
        raw = result.rel.encode("utf-8", "surrogateescape")
        record["path_bytes_b64"] = base64.b64encode(raw).decode("ascii")
    if parts_sha256 is not None:
        record["parts_sha256"] = parts_sha256
    if placed is not None:
        if placed.action is not None:
            record["action"] = placed.action
        if placed.document_upload_id is not None:
            record["document_upload_id"] = placed.document_upload_id
        if placed.revision_id is not None:
            record["revision_id"] = placed.revision_id
    return record


def _encode(record: dict[str, Any]) -> bytes:
    line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
    try:
        return line.encode("utf-8")
    except UnicodeEncodeError:
        # A surrogate slipped into a value (an error message quoting a raw name, say):
        # make every string printable rather than write invalid UTF-8.
        return (json.dumps(printable_values(record), ensure_ascii=False) + "\n").encode("utf-8")


def printable_values(value: Any) -> Any:
    """`value` made JSON-safe as valid UTF-8: strings printable, unknown objects as text."""
    if isinstance(value, str):
        try:
            return printable(value)
        except UnicodeEncodeError:  # surrogates outside the surrogateescape range
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {printable_values(str(k)): printable_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [printable_values(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return printable_values(str(value))


class ManifestWriter:
    """Write a run's manifest at `path` (truncating an old one); use as a context manager."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] | None = self.path.open("wb")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def write_many(self, results: Sequence[FileResult]) -> None:
        """Append one line per result and flush the batch to the OS."""
        if self._file is None:
            raise ValueError("manifest is closed")
        self._file.write(b"".join(_encode(manifest_line(r)) for r in results))
        self._file.flush()

    def close(self) -> None:
        """Flush, fsync and close; safe to call twice."""
        if self._file is None:
            return
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        finally:
            self._file.close()
            self._file = None


@asynccontextmanager
async def open_manifest(path: str | os.PathLike[str]) -> AsyncIterator[ManifestWriter]:
    """A `ManifestWriter` for async code: created and closed (flush, fsync) in a worker thread,
    so neither the open nor the fsync stalls the event loop. Write with `write_many` from a
    worker thread too (the pipeline pairs it with the state store's write)."""
    writer = await anyio.to_thread.run_sync(ManifestWriter, path)
    try:
        yield writer
    finally:
        # Shielded: a cancelled run still gets every written line fsynced and the file closed.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(writer.close)


def read_manifest(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield each record of a manifest.

    A final line cut short by a crash (no newline, not valid JSON) is ignored; any other bad
    line raises ValueError naming its line number.
    """
    with Path(path).open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                if not line.endswith("\n"):
                    return
                raise ValueError(f"{printable(str(path))} line {number}: {exc.msg}") from exc


def original_rel(record: dict[str, Any]) -> str:
    """The exact rel of a manifest record (surrogate-escaped), undoing `printable`."""
    raw = record.get("path_bytes_b64")
    if raw is None:
        return str(record["path"])
    return base64.b64decode(raw).decode("utf-8", "surrogateescape")


def load_manifest(path: Path) -> list[dict[str, Any]]:
    """Every record of a manifest, checked: any problem is a ConfigError naming the file."""
    shown = printable(str(path))
    try:
        records = list(read_manifest(path))
    except FileNotFoundError:
        raise ConfigError(f"manifest not found: {shown}") from None
    except IsADirectoryError:
        raise ConfigError(f"manifest {shown} is a directory") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"manifest {shown} is not UTF-8 text: {exc.reason}") from None
    except ValueError as exc:  # read_manifest names the bad line
        raise ConfigError(f"not a bulkupload manifest: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read manifest {shown}: {exc.strerror or exc}") from None
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict) or not isinstance(record.get("path"), str):
            raise ConfigError(f"not a bulkupload manifest: {shown} record {number} has no path")
    return records


def rewrite_manifest(path: Path, records: Sequence[dict[str, Any]]) -> None:
    """Replace the manifest with the updated records, atomically (a crash keeps the old one)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(printable_values(record), ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
