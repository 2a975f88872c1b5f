from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from emulator_testkit import Api

from bulkupload.emulator.server import RunningEmulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def api(emulator: RunningEmulator, http: aiohttp.ClientSession) -> Api:
    client = Api(emulator, http)
    await client.login()
    return client
