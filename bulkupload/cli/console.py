"""The log on stderr, for a person: one readable line per record (`-v`, `--log-level`, `--debug`).

A file's record reads as its outcome (`uploaded Drawings/A-101.pdf (1.2 MiB)`), a retry as what
was retried, why, and the wait before the next try. stderr is looked up per record, so while a
live progress line owns the terminal (rich wraps stderr) the records print above it.
"""

from __future__ import annotations

import logging
import sys
import time

from ..human import human_bytes, reason_text, shown
from ..models import FileResult, Status

__all__ = ["ConsoleHandler", "file_line", "retry_line"]


def file_line(result: FileResult) -> str:
    path = shown(result.rel)
    if result.status is Status.UPLOADED:
        size = "" if result.size is None else f" ({human_bytes(result.size)})"
        return f"uploaded {path}{size}"
    word = result.status.value
    return f"{word} {path}: {reason_text(result.rel, result.error or word, prefix=word)}"


def retry_line(kind: str, what: str, wait: float | None) -> str:
    after = "" if wait is None else f", next try in {wait:.1f}s"
    return f"retry ({kind}{after}): {shown(what)}"


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        result = getattr(record, "result", None)
        if isinstance(result, FileResult):
            message = file_line(result)
        elif (kind := getattr(record, "retry", None)) is not None:
            message = retry_line(
                str(kind), str(getattr(record, "what", "")), record.__dict__.get("wait")
            )
        else:
            message = record.getMessage()
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        text = f"{stamp} {level}{message}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class ConsoleHandler(logging.Handler):
    """Writes each record to the current `sys.stderr`."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(ConsoleFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)
