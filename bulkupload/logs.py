"""`--log-file`: one JSON object per line, for machines; never carries a token."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .models import FileResult, printable


class JsonLinesHandler(logging.FileHandler):
    """Appends each record as a JSON line; a per-file result becomes its manifest fields."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(path, mode="a", encoding="utf-8")

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
        for key in ("summary",):
            if hasattr(record, key):
                line[key] = getattr(record, key)
        return json.dumps(line, ensure_ascii=False, default=str)

    @staticmethod
    def formatter_time(record: logging.LogRecord) -> str:
        import datetime as dt

        return dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")
