"""`--no-attach`: the bytes go to storage and nothing is placed; `bulkupload attach` or a later
run places them (Procore deletes an unplaced upload after 7 days)."""

from __future__ import annotations

from collections.abc import Sequence

from bulkupload.messages import Planned, Stored
from bulkupload.models import FileResult, Target
from bulkupload.results import stored_only

__all__ = ["UNATTACHED_LIFETIME", "StorageOnly"]

#: Procore deletes a v1 upload that is not attached to anything within a week.
UNATTACHED_LIFETIME = 7 * 24 * 3600.0


class StorageOnly:
    """Stores bytes only; the state remembers each upload as 'sent' under the target's key."""

    name = "storage only"
    max_batch = 1
    api_calls_per_file = 0.0  # for the plan's estimate
    api_calls_per_folder = 0.0
    linger = 0.0
    checks_in_dry_run = False  # a dry run asks nothing of Procore here
    places = False
    deadline = UNATTACHED_LIFETIME
    sent_keys: tuple[str, ...] = ()

    def __init__(self, target: Target) -> None:
        self.state_key = target.key

    async def locate(self, item: Planned) -> Planned:
        return item  # nowhere to look: storage takes any name

    async def resume(self, item: Planned) -> FileResult | None:
        return None  # the planner never resumes here: stored bytes are already this run's goal

    async def place(self, batch: Sequence[Stored]) -> list[FileResult]:
        return [stored_only(stored, lifetime=self.deadline) for stored in batch]
