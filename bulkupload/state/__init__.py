"""The state store: what each destination already holds, per file, across runs."""

from .aio import AsyncStateStore
from .rows import ROW_STATUSES, StateRow, now_iso
from .store import DEFAULT_STATE_PATH, StateStore

__all__ = [
    "DEFAULT_STATE_PATH",
    "ROW_STATUSES",
    "AsyncStateStore",
    "StateRow",
    "StateStore",
    "now_iso",
]
