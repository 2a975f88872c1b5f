"""stdout closed early (`bulkupload report | head`): not an error of the command.

Like coreutils, the command says nothing more once its reader has gone; unlike a process
killed by SIGPIPE, it goes on: an upload run finishes and records every file (manifest,
state, report) and exits with its own code. Whatever it still prints goes nowhere.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO

__all__ = ["quiet_when_closed"]

# EPIPE on POSIX; on Windows a closed pipe may be EINVAL from the C runtime.
_GONE = (errno.EPIPE, errno.EINVAL)


def _reader_gone(exc: OSError) -> bool:
    return isinstance(exc, BrokenPipeError) or exc.errno in _GONE


class ClosedPipeGuard:
    """A text stream that stops writing, silently, once its reader has gone."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._stream.write(text)
            except OSError as exc:
                self._lost(exc)
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except OSError as exc:
                self._lost(exc)

    def _lost(self, exc: OSError) -> None:
        if not _reader_gone(exc):
            raise exc
        self.gone = True
        # What is still buffered would fail again at exit ("Exception ignored ... BrokenPipe"):
        # the descriptor now leads to the null device instead.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())
            os.close(null)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, buffer...
        return getattr(self._stream, name)


@contextlib.contextmanager
def quiet_when_closed() -> Iterator[ClosedPipeGuard]:
    """`sys.stdout` guarded for the block (print, and a worker thread's print, go through it)."""
    original = sys.stdout
    guard = ClosedPipeGuard(original)
    sys.stdout = guard
    try:
        yield guard
    finally:
        guard.flush()  # what is still buffered goes now, while a closed pipe is no error
        sys.stdout = original
