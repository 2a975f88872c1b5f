"""Shared fixtures: a running Procore + S3 emulator on loopback (own thread, own event loop).

Every emulator started in the suite records its API traffic and is checked against Procore's
published contract (tests/contract/plugin.py; `BULKUPLOAD_CONTRACT=warn` to report only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bulkupload.emulator.seaweed import find_weed
from bulkupload.emulator.server import RunningEmulator

pytest_plugins = ["pytester", "tests.contract.plugin"]


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
