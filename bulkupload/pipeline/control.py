"""What every stage of a run shares: its wiring (`Stage`) and its stop state (`Control`)."""

from __future__ import annotations

import math
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from bulkupload.config import Settings
from bulkupload.destinations.base import Destination
from bulkupload.errors import BulkUploadError
from bulkupload.events import EventBus, Notice
from bulkupload.protocols.base import UploadProtocol
from bulkupload.retry import Policies
from bulkupload.state import AsyncStateStore

from .ledger import Ledger

__all__ = ["Backlog", "Control", "Stage"]


class Backlog:
    """Files stored but not yet placed, counted from the moment their sender has stored them
    (so a file waiting for, or in, the checkpoint counts too). Senders wait for room before
    they take their next file, so stored-but-unplaced files never exceed `limit - 1` plus a
    file per sender; a stored file itself never waits to be checkpointed, so a crash at any
    moment leaves every stored file the state could learn of known as stored, not placed."""

    def __init__(self, limit: float = math.inf) -> None:
        self.limit = limit
        self.count = 0
        self._room = anyio.Event()
        self._room.set()

    def add(self, n: int) -> None:
        self.count += n
        if self.count >= self.limit and self._room.is_set():
            self._room = anyio.Event()

    def done(self, n: int) -> None:
        self.count -= n
        if self.count < self.limit:
            self._room.set()

    async def room(self) -> None:
        while self.count >= self.limit:
            await self._room.wait()


@dataclass
class Control:
    """How a run stops: gracefully (`request_stop`: no new file starts, what is in flight
    finishes), hard (`abort`: what is in flight is cancelled too), or on a fatal error (`fail`:
    credentials, target, state store; the run then raises it). In every case each file found
    gets its manifest line."""

    events: EventBus
    stopping: bool = False
    signum: int | None = None
    time_limited: bool = False  # the stop came from --max-duration / --stop-at
    plan: dict[str, Any] | None = None  # what the census found left to do (`census.plan_of`)
    notes: list[str] = field(default_factory=list)  # lines for the summary, from the stages
    fatal: BulkUploadError | None = None
    scope: anyio.CancelScope | None = field(default=None, repr=False)

    def request_stop(self, signum: int = signal.SIGINT) -> None:
        if not self.stopping:
            self.stopping = True
            self.signum = signum

    def stop_for_time(self) -> None:
        """The run window is over: as a graceful stop, and the outcome says why."""
        if not self.stopping:
            self.stopping = True
            self.time_limited = True
            self.events.emit(
                Notice("the time limit is reached: no new file starts, files in flight finish")
            )

    def abort(self) -> None:
        self.stopping = True
        self.events.emit(Notice("aborting what is in flight"))
        if self.scope is not None:
            self.scope.cancel()

    def fail(self, exc: BulkUploadError) -> None:
        if self.fatal is None:
            self.fatal = exc
        self.stopping = True
        if self.scope is not None:
            self.scope.cancel()

    @property
    def why(self) -> str:
        """Why files are left without an outcome, for their manifest lines."""
        if self.fatal is not None:
            return f"run stopped: {self.fatal}"
        return "stopped by the time limit" if self.time_limited else "run interrupted"


@dataclass(frozen=True)
class Stage:
    """The wiring every stage function takes: one object, built once per run."""

    settings: Settings
    store: AsyncStateStore
    destination: Destination
    protocols: Sequence[UploadProtocol]
    policies: Policies
    events: EventBus
    ledger: Ledger
    control: Control
    run_id: int
    # Stored files not yet placed; `run_stages` sets its limit from the destination's batch.
    backlog: Backlog = field(default_factory=Backlog)
    # The API calls per second this run can keep up (its share of the limit the headers
    # reported), or None while unknown: what the plan's duration is computed from.
    api_rate: Callable[[], float | None] = lambda: None
