"""Shared fixtures: a running Procore + S3 emulator on loopback (own thread, own event loop)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bulkupload.emulator.seaweed import find_weed
from bulkupload.emulator.server import RunningEmulator


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
def seaweed_emulator() -> Iterator[RunningEmulator]:
    """One emulator backed by a real SeaweedFS S3 for the session (its start takes ~3 s)."""
    if find_weed() is None:
        pytest.skip("SeaweedFS `weed` binary not found on PATH or in .venv/bin")
    emulator = RunningEmulator(storage="seaweedfs")
    yield emulator
    emulator.stop()
