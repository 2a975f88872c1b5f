"""The state store: what each destination already holds, per file, across runs."""

from .aio import AsyncStateStore
from .rows import ROW_STATUSES, StateRow, now_iso
from .store import DEFAULT_STATE_PATH, StateStore
from .transfers import PartPlan, TransferRow

__all__ = [
    "DEFAULT_STATE_PATH",
    "ROW_STATUSES",
    "AsyncStateStore",
    "PartPlan",
    "StateRow",
    "StateStore",
    "TransferRow",
    "now_iso",
]
