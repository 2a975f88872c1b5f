"""SIGINT/SIGTERM for a command: the first asks the work to stop (what is in flight finishes and
is recorded), the second cancels it. Only the command line installs handlers, never the library."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable

import anyio


class SignalStop:
    """Watches for SIGINT/SIGTERM; `signum` is the first one received, if any."""

    def __init__(
        self, stop: anyio.Event, abort: anyio.CancelScope, say: Callable[[str], None]
    ) -> None:
        self.stop = stop
        self.abort = abort
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
                    self.abort.cancel()
                    return
                self.signum = signum
                self.stop.set()
                self.say("interrupted: finishing what is in flight (interrupt again to abort)")
