"""What every destination offers the pipeline: where a file goes in Procore, and placing it.

A destination `locate`s each planned file (its slot: for Documents, the folder and the file
already there) before any upload is spent, may finish a file from bytes an earlier run stored
(`resume`), and `place`s stored uploads, up to `max_batch` at a time. It also names the state
store's key for what it holds, and how long Procore keeps an upload that was never placed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bulkupload.messages import Planned, Stored
from bulkupload.models import FileResult

__all__ = ["Destination"]


class Destination(Protocol):
    """Where files land: chosen once per run."""

    @property
    def name(self) -> str: ...

    @property
    def state_key(self) -> str:
        """The state store's key for the files this destination holds."""
        ...

    @property
    def sent_keys(self) -> tuple[str, ...]:
        """Other state keys whose 'sent' rows (stored, not placed) this destination can place:
        uploads an earlier `--no-attach` run made for the same target."""
        ...

    @property
    def max_batch(self) -> int:
        """How many stored uploads one `place` call takes (1 for Documents, up to 100 for
        batching tools)."""
        ...

    @property
    def linger(self) -> float:
        """Seconds a batch waits to fill up to `max_batch` (0 for one-at-a-time places)."""
        ...

    @property
    def checks_in_dry_run(self) -> bool:
        """Whether a dry run locates each file (read-only calls: a metadata check), rather
        than only comparing the tree with the state."""
        ...

    @property
    def api_calls_per_file(self) -> float:
        """API calls placing one file costs (for the plan's estimate)."""
        ...

    @property
    def api_calls_per_folder(self) -> float:
        """API calls a folder new to Procore costs (looking it up, creating it)."""
        ...

    @property
    def deadline(self) -> float:
        """Seconds after storing after which Procore deletes an upload never placed."""
        ...

    @property
    def places(self) -> bool:
        """False when nothing is placed (storage only): a stored file is done."""
        ...

    async def locate(self, item: Planned) -> Planned | FileResult:
        """`item` with its slot filled in, or its outcome when nothing needs sending (a file of
        that name is there and the conflict rule says skip). API calls as needed, cached."""
        ...

    async def resume(self, item: Planned) -> FileResult | None:
        """Finish `item` from the bytes an earlier run stored (`item.resume`), or None when
        they cannot be used and the file must be sent again."""
        ...

    async def place(self, batch: Sequence[Stored]) -> list[FileResult]:
        """Place each stored upload; one result per upload, in order. A file that cannot be
        placed fails alone (its bytes stay known to the state for the next run)."""
        ...
