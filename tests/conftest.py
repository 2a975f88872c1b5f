"""Shared fixtures: a running Procore + S3 emulator on loopback (own thread, own event loop).

Every emulator started in the suite records its API traffic and is checked against Procore's
published contract (tests/contract/plugin.py; `BULKUPLOAD_CONTRACT=warn` to report only).

Every test also runs under blockbuster: client code (`bulkupload`, minus the emulator) that
makes a blocking call (file open/read/write, os.stat, mkdir, sqlite, a waited-on lock, sleep)
from a thread running an event loop fails the test with `BlockingError`. That covers async
tests and the `anyio.run` inside in-process CLI runs alike; worker threads are never flagged.
blockbuster lets writes to stdout/stderr and to in-memory streams through.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from blockbuster import BlockBuster

import bulkupload
from bulkupload.emulator.seaweed import find_weed
from bulkupload.emulator.server import RunningEmulator

pytest_plugins = ["pytester", "tests.contract.plugin"]

_CLIENT = str(Path(bulkupload.__file__).parent) + os.sep
_EMULATOR = f"{_CLIENT}emulator{os.sep}"
_TESTS = str(Path(__file__).parent) + os.sep
_blockbuster: BlockBuster | None = None


def _not_the_client() -> bool:
    """Whether the nearest project frame of this blocking call is no client code.

    A test's own setup or callback (a test writing a file from `on_progress`) is the test's
    business, and the emulator stands in for Procore and S3: only the client must not block.
    """
    # Frames: 0 this function, 1 `predicate`, 2 blockbuster's wrapper, 3 the caller.
    frame: FrameType | None = sys._getframe(3)
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith(_CLIENT):
            return name.startswith(_EMULATOR)
        if name.startswith(_TESTS):
            return True
        frame = frame.f_back
    return True  # no project frame at all: a library's own affair, as blockbuster sees it


def _or_not_the_client(allowed: Callable[..., bool]) -> Callable[..., bool]:
    """blockbuster's own test (a non-blocking socket, an unlocked lock...), then ours.

    blockbuster alone flags a call whenever any client frame is on the stack, so a test's
    callback run by the client would count; the nearest project frame is what decides here.
    """

    def predicate(*args: Any, **kwargs: Any) -> bool:
        return allowed(*args, **kwargs) or _not_the_client()

    return predicate


def _client_blockbuster() -> BlockBuster:
    """One detector for the session (building it resolves paths; activating it is cheap)."""
    global _blockbuster
    if _blockbuster is None:
        _blockbuster = BlockBuster(["bulkupload"], excluded_modules=["bulkupload.emulator"])
        for function in _blockbuster.functions.values():
            function.can_block_predicate = _or_not_the_client(function.can_block_predicate)
            # The emulator's whole thread (its event loop) may block, even in shared helpers.
            function.can_block_in("bulkupload/emulator/server.py", "_run")
    return _blockbuster


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[BlockBuster]:
    """Fail the test on blocking I/O by client code on an event loop (see module docstring)."""
    detector = _client_blockbuster()
    detector.activate()
    try:
        yield detector
    finally:
        detector.deactivate()


@pytest.fixture(scope="session")
def _test_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(autouse=True)
def no_real_home(_test_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default state and manifests live in the user's state directory: never the real one
    (HOME is where it is found when a test's environment names no XDG_STATE_HOME)."""
    monkeypatch.setenv("HOME", str(_test_home))
    monkeypatch.setenv("XDG_STATE_HOME", str(_test_home / "state"))


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., RunningEmulator]]:
    """Factory: `make_emulator(spike_limit=3, ...)` starts an emulator with config overrides."""
    started: list[RunningEmulator] = []

    def make(**overrides: Any) -> RunningEmulator:
        emulator = RunningEmulator(**overrides)
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(make_emulator: Callable[..., RunningEmulator]) -> RunningEmulator:
    """A fresh emulator with the default config (companies 1 and 2, demo client)."""
    return make_emulator()


@pytest.fixture(scope="session")
def seaweed_emulator(request: pytest.FixtureRequest) -> Iterator[RunningEmulator]:
    """One emulator backed by a real SeaweedFS S3 for the session (its start takes ~3 s)."""
    if find_weed() is None:
        pytest.skip("SeaweedFS `weed` binary not found on PATH or in .venv/bin")
    emulator = RunningEmulator(storage="seaweedfs")
    plugin = request.config.pluginmanager.get_plugin("tests.contract.plugin")
    if plugin is not None and (check := plugin.active(request.config)) is not None:
        check.watch(emulator)  # its traffic is checked after each test, not only at session end
    yield emulator
    emulator.stop()
