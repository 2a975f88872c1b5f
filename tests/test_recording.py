"""The recorder once the run is stopping on an error: what finished is still recorded in the
state unless the state (or the manifest) is what failed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from bulkupload.errors import AuthError, BulkUploadError, StateError, TargetUnusable
from bulkupload.models import Disposition, FileResult, Status
from bulkupload.pipeline.recording import record_stage


class Store:
    def __init__(self) -> None:
        self.recorded: list[str] = []

    async def record(self, key: str, results: Any, run_id: int, *, alongside: Any) -> None:
        alongside()
        self.recorded += [r.rel for r in results]


def stage(fatal: BulkUploadError | None, store: Store) -> Any:
    ledger = SimpleNamespace(done=lambda rel: None, left_behind=lambda why: [])
    control = SimpleNamespace(fatal=fatal, why="stopped", fail=lambda exc: None)
    return SimpleNamespace(
        settings=SimpleNamespace(dry_run=False),
        control=control,
        store=store,
        destination=SimpleNamespace(state_key="project:42"),
        run_id=1,
        ledger=ledger,
        events=SimpleNamespace(emit=lambda event: None),
    )


@pytest.mark.parametrize(
    ("fatal", "kept"),
    [
        (None, True),
        (AuthError("credentials revoked"), True),
        (TargetUnusable("project gone"), True),
        (StateError("disk full"), False),
    ],
)
async def test_what_finished_before_a_stop_is_recorded_unless_the_records_failed(
    fatal: BulkUploadError | None, kept: bool
) -> None:
    done = FileResult("a.txt", 3, 1, Status.UPLOADED, Disposition.DONE, upload_uuid="u")
    send, receive = anyio.create_memory_object_stream[FileResult](1)
    store, lines = Store(), []
    manifest: Any = SimpleNamespace(write_many=lambda batch: lines.extend(r.rel for r in batch))
    async with anyio.create_task_group() as tg:
        tg.start_soon(record_stage, stage(fatal, store), receive, manifest)
        async with send:
            await send.send(done)
    assert store.recorded == (["a.txt"] if kept else [])
    assert lines == ["a.txt"]  # the manifest's line goes either way
