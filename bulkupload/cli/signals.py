"""SIGINT/SIGTERM for a command: the first asks the work to stop (what is in flight finishes and
is recorded), the second aborts it. Only the command line installs handlers, never the library."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

T = TypeVar("T")


class SignalStop:
    """Watches for SIGINT/SIGTERM; `signum` is the first one received, if any."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.stop = anyio.Event()
        self.abort = anyio.Event()
        self.say = say
        self.signum: int | None = None

    async def watch(self) -> None:
        with contextlib.ExitStack() as stack:
            try:
                signals = stack.enter_context(
                    anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM)
                )
            except (ValueError, NotImplementedError, RuntimeError):
                return  # not the main thread, or no signals here: nothing to watch
            async for signum in signals:
                if self.signum is not None:
                    self.say("second interrupt: aborting what is in flight")
                    self.abort.set()
                    return
                self.signum = signum
                self.stop.set()
                self.say("interrupted: finishing what is in flight (interrupt again to abort)")

    async def run(self, work: Callable[[SignalStop], Awaitable[T]]) -> T:
        """`await work(self)` while signals are watched; the watch ends with the work, and an
        error of the work is raised as it is (not wrapped in a task group's ExceptionGroup)."""
        done: list[T] = []
        failure: Exception | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(self.watch)
            try:
                done.append(await work(self))
            except Exception as exc:
                failure = exc
            finally:
                group.cancel_scope.cancel()
        if failure is not None:
            raise failure
        return done[0]
