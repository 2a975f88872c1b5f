"""Create Upload as the pipeline makes it (through the v1 POST protocol), for client tests."""

from __future__ import annotations

import aiohttp

from bulkupload.events import EventBus
from bulkupload.messages import Planned
from bulkupload.models import FileEntry, Target
from bulkupload.procore.client import ApiClient
from bulkupload.protocols.base import Transport
from bulkupload.protocols.v1_post import PostTicket, V1Post
from bulkupload.retry import Policies


async def create_upload(
    api: ApiClient, target: Target, *, name: str = "a.pdf", size: int = 3
) -> PostTicket:
    """Ask `api` for the instructions of a file called `name` of `size` bytes."""
    async with aiohttp.ClientSession() as storage:
        transport = Transport(
            api=api, storage=storage, policies=Policies.for_run(backoff=False), events=EventBus()
        )
        item = Planned(FileEntry(f"/nowhere/{name}", name, size, 0), None, "")
        return await V1Post(transport, target).prepare(item)
