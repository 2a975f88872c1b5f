"""The one error rule of every stage loop.

A problem of one file fails that file and the run goes on; an error no file can get past
(credentials, target, state store, Procore down) stops the run through `Control.fail`; nothing
else escapes a stage, so every file found gets its manifest line whatever went wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from types import TracebackType

from anyio.streams.memory import MemoryObjectSendStream

from bulkupload.errors import STOPS_THE_RUN, BulkUploadError, StateError
from bulkupload.models import FileResult

from .control import Control

__all__ = ["FATAL", "as_state_error", "per_file"]

log = logging.getLogger("bulkupload")

#: Errors that no other file could get past: they stop the whole run (exit 2).
FATAL = STOPS_THE_RUN


class per_file:
    """`async with per_file(control, results, failure):` around one file's step of a stage.

    On an error, `failure(exc)` gives the file's outcome (or, around a batch, each file's),
    sent to `results`, and the loop goes on; a FATAL error stops the run instead. Cancellation
    passes through untouched.
    """

    __slots__ = ("_control", "_failure", "_results")

    def __init__(
        self,
        control: Control,
        results: MemoryObjectSendStream[FileResult],
        failure: Callable[[BaseException], FileResult | Sequence[FileResult]],
    ) -> None:
        self._control = control
        self._results = results
        self._failure = failure

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False  # done, or cancelled: not ours to handle
        if isinstance(exc, FATAL):
            self._control.fail(exc)
            return True  # the run's scope is cancelled: the stage ends at its next await
        if not isinstance(exc, BulkUploadError):
            # A bug or an answer nobody expected: this file fails with its name, the run goes on.
            log.error("internal error", exc_info=exc)
        outcome = self._failure(exc)
        for result in [outcome] if isinstance(outcome, FileResult) else outcome:
            await self._results.send(result)
        return True


def as_state_error(exc: Exception) -> BulkUploadError:
    """An error of the state store or the manifest, which stops the run: ours as it is,
    anything else (a bug, an OS error writing the manifest) named as a record-keeping error."""
    if isinstance(exc, BulkUploadError):
        return exc
    log.error("the run's records failed", exc_info=exc)
    return StateError(f"cannot keep the run's records: {type(exc).__name__}: {exc}")
