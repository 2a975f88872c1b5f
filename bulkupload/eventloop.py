"""The event loop the commands and the emulator run on: uvloop where it is installed, asyncio's
own otherwise.

uvloop (libuv under asyncio's API) takes about a tenth less client CPU per small file than
asyncio's selector loop (README, Dependencies), and the machines that run nightly batches
are often the file server itself. `BULKUPLOAD_EVENT_LOOP=asyncio` runs on asyncio's own loop
(for a suspected loop problem, or a platform where uvloop misbehaves); `=uvloop` insists on it.
Code never depends on which loop it runs on: the end-to-end tests run the CLI on uvloop, one of
them on asyncio's loop.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar, TypeVarTuple

import anyio

from bulkupload.errors import ConfigError

__all__ = ["ENV", "loop_factory", "loop_name", "run"]

log = logging.getLogger("bulkupload")

ENV = "BULKUPLOAD_EVENT_LOOP"
CHOICES = ("uvloop", "asyncio")

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def loop_name(env: Mapping[str, str]) -> str:
    """'uvloop' or 'asyncio': what `env` asks for, else uvloop if it can be imported."""
    asked = env.get(ENV, "").strip().lower()
    if asked and asked not in CHOICES:
        raise ConfigError(f"{ENV}={env[ENV]!r}: expected one of {', '.join(CHOICES)}")
    installed = importlib.util.find_spec("uvloop") is not None
    if asked == "uvloop" and not installed:
        raise ConfigError(f"{ENV}=uvloop, but uvloop is not installed (pip install uvloop)")
    return asked or ("uvloop" if installed else "asyncio")


def run(func: Callable[[*Ts], Awaitable[T]], *args: *Ts, loop: str) -> T:
    """`anyio.run(func, *args)` on `loop`, a `loop_name`."""
    log.debug("event loop: %s", loop)
    options = {"use_uvloop": loop == "uvloop"}
    return anyio.run(func, *args, backend="asyncio", backend_options=options)


def loop_factory(loop: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """A new-loop function for `asyncio.Runner`: `loop`, a `loop_name`."""
    if loop == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop
