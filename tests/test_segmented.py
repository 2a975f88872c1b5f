"""Segmented uploads end to end: the real client against the emulator over loopback."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bulkupload import segmented
from bulkupload.emulator.server import RunningEmulator
from bulkupload.errors import FileChanged, FileVanished
from bulkupload.models import FileEntry, Target
from bulkupload.procore.auth import ClientCredentials
from bulkupload.procore.client import ApiClient, make_api_session, make_storage_session
from bulkupload.retry import RetryPolicy
from bulkupload.segmented import SegmentedReceipt, plan_segments, send_segmented

MIB = 1024 * 1024
SEGMENT = 2 * MIB
TARGET = Target("project", 42)
FAST = RetryPolicy(attempts=12, initial=0.01, maximum=0.05, jitter=0.0)


def write_file(path: Path, size: int, seed: int = 1) -> FileEntry:
    # Different bytes per MiB, so a segment sent in the wrong place would not hash the same.
    block = hashlib.sha256(str(seed).encode()).digest() * (MIB // 32)
    with path.open("wb") as f:
        for i in range(0, size, MIB):
            f.write(bytes([i // MIB % 251]) + block[: min(MIB, size - i) - 1])
    return entry_for(path)


def entry_for(path: Path) -> FileEntry:
    st = path.stat()
    return FileEntry(path=str(path), rel=path.name, size=st.st_size, mtime_ns=st.st_mtime_ns)


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@dataclass
class Progress:
    """Every on_progress call, optionally with a hook run on the first one."""

    calls: list[int] = field(default_factory=list)
    hook: Callable[[], object] | None = None

    def __call__(self, n: int) -> None:
        self.calls.append(n)
        if self.hook is not None:
            hook, self.hook = self.hook, None
            hook()

    @property
    def total(self) -> int:
        return sum(self.calls)


@dataclass
class Clients:
    api: ApiClient
    storage: aiohttp.ClientSession


@asynccontextmanager
async def clients(emulator: RunningEmulator) -> AsyncIterator[Clients]:
    async with make_api_session(4) as api_session, make_storage_session(4) as storage:
        tokens = ClientCredentials(
            api_session, emulator.login_url, emulator.client_id, emulator.client_secret
        )
        api = ApiClient(api_session, emulator.base_url, company_id=1, tokens=tokens, policy=FAST)
        yield Clients(api, storage)


async def send(
    emulator: RunningEmulator,
    entry: FileEntry,
    progress: Progress,
    *,
    parallel: int = 2,
) -> SegmentedReceipt:
    async with clients(emulator) as c:
        return await send_segmented(
            c.api,
            c.storage,
            TARGET,
            entry,
            segment_size=SEGMENT,
            content_type="application/octet-stream",
            policy=FAST,
            on_progress=progress,
            parallel=parallel,
        )


def assert_stored(emulator: RunningEmulator, receipt: SegmentedReceipt, path: Path) -> None:
    md5, size = md5_of(path), path.stat().st_size
    assert receipt.md5 == md5
    [upload] = [u for u in emulator.uploads() if u["uuid"] == receipt.uuid]
    assert (upload["size"], upload["md5"]) == (size, md5)
    assert any(o["key"] == upload["key"] and o["md5"] == md5 for o in emulator.objects())
    assert emulator.counters()["storage_authorization_headers"] == 0


@pytest.fixture
def segment_emulator(make_emulator: Callable[..., RunningEmulator]) -> RunningEmulator:
    return make_emulator(min_segment_size=MIB)


def test_plan_segments_hashes_each_range(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    entry = write_file(path, 5 * MIB + MIB // 2)
    data = path.read_bytes()
    plans = plan_segments(entry.path, entry.size, SEGMENT)
    assert [p.size for p in plans] == [SEGMENT, SEGMENT, MIB + MIB // 2]
    for i, plan in enumerate(plans):
        piece = data[i * SEGMENT : i * SEGMENT + plan.size]
        assert plan.sha256 == hashlib.sha256(piece).hexdigest()
        assert plan.md5 == hashlib.md5(piece).hexdigest()
    with pytest.raises(FileChanged):
        plan_segments(entry.path, entry.size + 1, SEGMENT)


async def test_three_segments_last_smaller(
    segment_emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "big.bin"
    entry = write_file(path, 5 * MIB + MIB // 2)
    progress = Progress()
    receipt = await send(segment_emulator, entry, progress)
    assert len(receipt.etags) == 3
    assert_stored(segment_emulator, receipt, path)
    assert progress.total == entry.size
    assert all(n > 0 for n in progress.calls)  # nothing failed, nothing rewound
    assert segment_emulator.counters()["storage_success"] == 3


async def test_exact_multiple_of_segment_size(
    segment_emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "even.bin"
    entry = write_file(path, 2 * SEGMENT, seed=2)
    progress = Progress()
    receipt = await send(segment_emulator, entry, progress, parallel=1)
    assert len(receipt.etags) == 2
    assert_stored(segment_emulator, receipt, path)
    assert progress.total == entry.size


async def test_storage_faults_are_retried_per_segment(
    make_emulator: Callable[..., RunningEmulator], tmp_path: Path
) -> None:
    emulator = make_emulator(min_segment_size=MIB, fault_storage_5xx=0.3, seed=1)
    emulator.set_faults(retry_after=0)  # our fast policy, not the injected Retry-After, paces
    path = tmp_path / "faulty.bin"
    entry = write_file(path, 7 * MIB, seed=3)
    progress = Progress()
    receipt = await send(emulator, entry, progress, parallel=3)
    assert_stored(emulator, receipt, path)
    assert emulator.counters()["faults_injected"].get("storage_5xx", 0) > 0
    assert progress.total == entry.size  # failed attempts were rewound, not counted twice


async def test_expired_upload_is_created_afresh_once(
    segment_emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "slow.bin"
    entry = write_file(path, 5 * MIB, seed=4)
    # Two hours pass once the first bytes are out: the remaining signed URLs have expired.
    progress = Progress(hook=lambda: segment_emulator.advance_clock(7200))
    receipt = await send(segment_emulator, entry, progress, parallel=1)
    assert_stored(segment_emulator, receipt, path)
    assert len(segment_emulator.uploads()) == 2
    assert progress.total == entry.size


async def test_file_changed_during_upload(
    segment_emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "moving.bin"
    entry = write_file(path, 5 * MIB, seed=5)

    def scribble() -> None:
        with path.open("r+b") as f:
            f.seek(4 * MIB)
            f.write(b"changed!")

    progress = Progress(hook=scribble)
    with pytest.raises(FileChanged, match="during upload"):
        await send(segment_emulator, entry, progress, parallel=1)
    assert progress.total == 0  # nothing of a failed upload stays counted
    assert segment_emulator.objects() == []


async def test_file_changed_or_gone_before_upload(
    segment_emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "listed.bin"
    entry = write_file(path, 3 * MIB, seed=6)
    with path.open("ab") as f:
        f.write(b"more")
    with pytest.raises(FileChanged, match="since it was listed"):
        await send(segment_emulator, entry, Progress())
    path.unlink()
    with pytest.raises(FileVanished):
        await send(segment_emulator, entry, Progress())
    assert segment_emulator.uploads() == []


async def test_parallel_bounds_segments_in_flight(
    make_emulator: Callable[..., RunningEmulator],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator = make_emulator(min_segment_size=MIB, storage_latency=0.05)
    path = tmp_path / "wide.bin"
    entry = write_file(path, 6 * MIB, seed=7)
    real_put = segmented._put
    in_flight, peak = 0, 0

    async def spy(*args: Any, **kwargs: Any) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await real_put(*args, **kwargs)
        finally:
            in_flight -= 1

    monkeypatch.setattr(segmented, "_put", spy)
    async with clients(emulator) as c:
        receipt = await send_segmented(
            c.api,
            c.storage,
            TARGET,
            entry,
            segment_size=MIB,
            content_type="application/octet-stream",
            policy=FAST,
            parallel=3,
        )
    assert_stored(emulator, receipt, path)
    assert peak == 3  # six segments, never more than `parallel` at once (memory: 3 × 1 MiB)
