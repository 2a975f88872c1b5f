"""The event loop choice: uvloop where installed, asyncio's own when asked, a clear error else."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys

import pytest

from bulkupload import eventloop
from bulkupload.errors import ConfigError

HAS_UVLOOP = importlib.util.find_spec("uvloop") is not None
needs_uvloop = pytest.mark.skipif(not HAS_UVLOOP, reason="uvloop is not installed (Windows)")


async def running_loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


@needs_uvloop
def test_uvloop_is_the_default_where_installed() -> None:
    assert eventloop.loop_name({}) == "uvloop"
    assert eventloop.run(running_loop_module, loop=eventloop.loop_name({})).startswith("uvloop")


@pytest.mark.parametrize("asked", ["asyncio", " AsyncIO "])
def test_asyncio_when_asked(asked: str) -> None:
    env = {eventloop.ENV: asked}
    assert eventloop.loop_name(env) == "asyncio"
    assert eventloop.run(running_loop_module, loop=eventloop.loop_name(env)).startswith("asyncio")
    assert eventloop.loop_factory(eventloop.loop_name(env)) is asyncio.new_event_loop


def test_asyncio_when_uvloop_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "uvloop" else real(name)
    )
    assert eventloop.loop_name({}) == "asyncio"
    with pytest.raises(ConfigError, match="uvloop is not installed"):
        eventloop.loop_name({eventloop.ENV: "uvloop"})


def test_an_unknown_loop_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"BULKUPLOAD_EVENT_LOOP='trio': expected one of"):
        eventloop.loop_name({eventloop.ENV: "trio"})


def test_the_emulator_refuses_an_unknown_loop() -> None:
    # Its own process, with a timeout: an emulator that ignored the variable would serve on.
    env = {**os.environ, eventloop.ENV: "tokio"}
    command = [sys.executable, "-m", "bulkupload.emulator", "--port", "0"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "BULKUPLOAD_EVENT_LOOP='tokio'" in done.stderr
