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


def post_protocol(api: ApiClient, storage: aiohttp.ClientSession, target: Target) -> V1Post:
    """The v1 POST protocol of a run talking to `api`."""
    transport = Transport(
        api=api, storage=storage, policies=Policies.for_run(backoff=False), events=EventBus()
    )
    return V1Post(transport, target)


def planned(name: str = "a.pdf", size: int = 3) -> Planned:
    """A file called `name` of `size` bytes, as the plan stage hands it on (never read here)."""
    return Planned(FileEntry(f"/nowhere/{name}", name, size, 0), None, "")


async def create_upload(
    api: ApiClient, target: Target, *, name: str = "a.pdf", size: int = 3
) -> PostTicket:
    """Ask `api` for the instructions of a file called `name` of `size` bytes."""
    async with aiohttp.ClientSession() as storage:
        return await post_protocol(api, storage, target).prepare(planned(name, size))
