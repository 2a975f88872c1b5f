"""Log records of a run: its events as records of the `bulkupload` logger, and `--log-file`,
one JSON object per line for machines. Never carries a token."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import queue
import threading
from pathlib import Path

from .events import Event, FileDone, Retried
from .models import FileResult, printable

log = logging.getLogger("bulkupload")


def log_event(event: Event) -> None:
    """The log's subscriber: a record per file done (with its manifest fields in a log file)
    and per retry (what was retried and why)."""
    if isinstance(event, FileDone):
        if log.isEnabledFor(logging.INFO):
            log.info("file", extra={"result": event.result})
    elif isinstance(event, Retried):
        after = "" if event.wait is None else f", next try in {event.wait:.1f}s"
        log.info(
            "retry (%s%s): %s",
            event.kind,
            after,
            event.what,
            extra={"retry": event.kind, "what": event.what, "wait": event.wait},
        )


_Line = tuple[str | None, logging.LogRecord | None, threading.Event | None]
"""A line for the writer (None: only a marker), its record (for handleError), set once written."""


def on_event_loop() -> bool:
    """Whether this thread runs an event loop (which must never wait on a lock or a thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class JsonLinesHandler(logging.FileHandler):
    """Appends each record as a JSON line; a per-file result becomes its manifest fields.

    One thread of its own writes every line, in the order logged. A record logged on an event
    loop is formatted there and handed over without waiting, so the loop never waits on the
    disk; a record from any other thread waits until its line is written (a worker thread's
    lines are in the file when it returns). `flush` and `close` wait for every line.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(path, mode="a", encoding="utf-8")
        # SimpleQueue: its put never waits on a lock the writer might hold.
        self._lines: queue.SimpleQueue[_Line | None] = queue.SimpleQueue()
        self._writer = threading.Thread(
            target=self._write_lines, name="bulkupload-log", daemon=True
        )
        self._writer.start()

    def _write_lines(self) -> None:
        while (item := self._lines.get()) is not None:
            text, record, written = item
            try:
                if text is not None and self.stream is not None:
                    self.stream.write(text + self.terminator)
                    self.stream.flush()
            except Exception:
                if record is not None:
                    self.handleError(record)
            finally:
                if written is not None:
                    written.set()

    def _hand_over(self, text: str | None, record: logging.LogRecord | None, wait: bool) -> None:
        written = threading.Event() if wait else None
        self._lines.put((text, record, written))
        # Polled, not one long wait: a line handed over while close() stops the writer is
        # never written, and its thread must not wait for it forever.
        while written is not None and self._writer.is_alive() and not written.wait(0.2):
            pass

    def handle(self, record: logging.LogRecord) -> bool:
        # No handler lock: the queue is thread-safe, and a thread waiting for its line must not
        # hold a lock that a log call on the event loop would then wait for.
        if not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._hand_over(text, record, wait=not on_event_loop())

    def flush(self) -> None:
        """Wait until every line handed over so far is written."""
        if self._writer.is_alive():
            self._hand_over(None, None, wait=True)

    def close(self) -> None:
        """Write every pending line, stop the writer, close the file; safe to call twice."""
        if self._writer.is_alive():
            self._lines.put(None)
            self._writer.join()
        super().close()

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": self.formatter_time(record),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        }
        result = getattr(record, "result", None)
        if isinstance(result, FileResult):
            line.update(
                path=printable(result.rel),
                status=result.status.value,
                size=result.size,
                upload_uuid=result.upload_uuid,
                attempts=result.attempts,
                error=result.error,
            )
        for key in ("summary", "retry", "wait"):
            if hasattr(record, key):
                line[key] = getattr(record, key)
        return json.dumps(line, ensure_ascii=False, default=str)

    @staticmethod
    def formatter_time(record: logging.LogRecord) -> str:
        return dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")
