"""Every file found that has no outcome yet, so a stop can give each one its manifest line.

It holds only what is between the walk and the record stage (the streams' buffers and the
files in flight), never the whole tree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bulkupload.messages import Planned
from bulkupload.models import FileResult, WalkItem
from bulkupload.results import left_behind

__all__ = ["Ledger"]


@dataclass(slots=True)
class _Open:
    item: WalkItem | Planned
    sending: bool = False  # its bytes have started to go: a stop now makes it a failure


class Ledger:
    """Open files by rel; only the event loop touches it."""

    def __init__(self) -> None:
        self._open: dict[str, _Open] = {}

    def __len__(self) -> int:
        return len(self._open)

    def found(self, items: Iterable[WalkItem]) -> None:
        for item in items:
            self._open[item.rel] = _Open(item)

    def planned(self, item: Planned) -> None:
        """`item` is the newest word on its file (its start time, what the state knew)."""
        if (entry := self._open.get(item.entry.rel)) is not None:
            entry.item = item

    def sending(self, rel: str) -> None:
        if (entry := self._open.get(rel)) is not None:
            entry.sending = True

    def done(self, rel: str) -> None:
        self._open.pop(rel, None)

    def left_behind(self, why: str) -> list[FileResult]:
        """An outcome for every file still open (and none open afterwards)."""
        left = [left_behind(e.item, why, sending=e.sending) for e in self._open.values()]
        self._open.clear()
        return left
