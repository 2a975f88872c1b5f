"""Segmented uploads: the real protocol against the emulator over loopback (and a small fake
Procore where the emulator cannot misbehave on purpose)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from bulkupload.emulator.server import RunningEmulator
from bulkupload.errors import (
    ApiError,
    FileChanged,
    FileVanished,
    InsecureStorage,
    PolicyExpired,
    StorageError,
    UnsupportedFileSize,
)
from bulkupload.messages import Planned, Stored
from bulkupload.models import FileEntry
from bulkupload.protocols import (
    MAX_POST_SIZE,
    SegmentTicket,
    V1Post,
    V1Segmented,
    protocols_for,
    select,
)
from bulkupload.protocols.v1_segmented import plan_segments, segment_headers
from tests.protocols.conftest import (
    MIB,
    TARGET,
    FakeProcore,
    Run,
    assert_stored,
    emulator_run,
    md5_of,
    run_against,
    write_file,
)

SEGMENT = 2 * MIB


def segmented(run: Run, *, segment_size: int = SEGMENT, parallel: int = 2) -> V1Segmented:
    return V1Segmented(
        run.transport, TARGET, threshold=0, segment_size=segment_size, parallel=parallel
    )


async def upload(protocol: V1Segmented, run: Run, entry: FileEntry) -> Stored:
    ticket = await protocol.prepare(Planned(entry, None, "now"))
    return await protocol.send(ticket, run.meter())


# ── planning ──────────────────────────────────────────────────────────────────────────────
def test_plan_hashes_each_range_and_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    entry = write_file(path, 5 * MIB + MIB // 2)
    data = path.read_bytes()
    plans, md5 = plan_segments(entry, SEGMENT, chunk_size=300_000)
    assert [p.size for p in plans] == [SEGMENT, SEGMENT, MIB + MIB // 2]
    for i, plan in enumerate(plans):
        piece = data[i * SEGMENT : i * SEGMENT + plan.size]
        assert plan.sha256 == hashlib.sha256(piece).hexdigest()
        assert plan.md5 == hashlib.md5(piece).hexdigest()
    assert md5 == hashlib.md5(data).hexdigest()
    with pytest.raises(FileChanged, match="since it was listed"):
        plan_segments(FileEntry(entry.path, entry.rel, entry.size + 1, entry.mtime_ns), SEGMENT)


# ── whole uploads ─────────────────────────────────────────────────────────────────────────
async def test_three_segments_last_smaller(
    segment_emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "big.bin"
    entry = write_file(path, 5 * MIB + MIB // 2)
    async with emulator_run(segment_emulator) as run:
        protocol = segmented(run)
        assert protocol.name == "v1.1 segmented"
        stored = await upload(protocol, run, entry)
    assert_stored(segment_emulator, stored.upload_id, path)
    assert stored.md5 == md5_of(path)
    assert stored.attempts == 1
    assert run.recorder.bytes_counted == entry.size
    assert all(n > 0 for n in run.recorder.moved)  # nothing failed, nothing rewound
    assert segment_emulator.counters()["storage_success"] == 3


async def test_exact_multiple_of_segment_size(
    segment_emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "even.bin"
    entry = write_file(path, 2 * SEGMENT, seed=2)
    async with emulator_run(segment_emulator) as run:
        stored = await upload(segmented(run, parallel=1), run, entry)
    assert_stored(segment_emulator, stored.upload_id, path)
    assert segment_emulator.counters()["storage_success"] == 2
    assert run.recorder.bytes_counted == entry.size


async def test_storage_faults_are_retried_per_segment_and_counted_as_parts(
    make_emulator: Callable[..., RunningEmulator], tmp_path: Path
) -> None:
    emulator = make_emulator(min_segment_size=MIB, fault_storage_5xx=0.3, seed=1)
    emulator.set_faults(retry_after=0)
    path = tmp_path / "faulty.bin"
    entry = write_file(path, 7 * MIB, seed=3)
    async with emulator_run(emulator, retries=20) as run:
        stored = await upload(segmented(run, segment_size=MIB, parallel=3), run, entry)
    assert_stored(emulator, stored.upload_id, path)
    injected = emulator.counters()["faults_injected"]["storage_5xx"]
    assert injected > 0
    assert run.recorder.retries("part") == injected  # the events are the count
    assert run.recorder.retries("storage") == 0
    assert run.recorder.bytes_counted == entry.size  # failed attempts rewound, not counted twice


async def test_expired_segment_urls_are_policy_expired_and_a_fresh_upload_works(
    segment_emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "slow.bin"
    entry = write_file(path, 5 * MIB, seed=4)
    async with emulator_run(segment_emulator) as run:
        protocol = segmented(run, parallel=1)
        # Two hours pass once the first bytes are out: the remaining signed URLs have expired.
        run.recorder.on_first_bytes = lambda: segment_emulator.advance_clock(7200)
        with pytest.raises(PolicyExpired, match="Request has expired"):
            await upload(protocol, run, entry)
        assert run.recorder.bytes_counted == 0
        assert run.recorder.retries("part") == 0
        stored = await upload(protocol, run, entry)  # what the pipeline's renewal layer does
    assert_stored(segment_emulator, stored.upload_id, path)
    assert len(segment_emulator.uploads()) == 2
    assert run.recorder.bytes_counted == entry.size


async def test_file_changed_during_upload(
    segment_emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "moving.bin"
    entry = write_file(path, 5 * MIB, seed=5)

    def scribble() -> None:
        with path.open("r+b") as f:
            f.seek(4 * MIB)
            f.write(b"changed!")

    async with emulator_run(segment_emulator) as run:
        run.recorder.on_first_bytes = scribble
        with pytest.raises(FileChanged, match="during upload"):
            await upload(segmented(run, parallel=1), run, entry)
    assert run.recorder.bytes_counted == 0  # nothing of a failed upload stays counted
    assert segment_emulator.objects() == []
    routes = segment_emulator.counters()["api_calls_by_route"]
    assert "PATCH /rest/v1.1/projects/{id}/uploads/{id}" not in routes  # never completed


async def test_same_size_change_after_hashing_is_caught_by_the_segment_hash(
    segment_emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "sneaky.bin"
    entry = write_file(path, 3 * MIB, seed=8)
    async with emulator_run(segment_emulator) as run:
        protocol = segmented(run, parallel=1)
        ticket = await protocol.prepare(Planned(entry, None, "now"))
        data = bytearray(path.read_bytes())
        data[10] ^= 0xFF
        path.write_bytes(bytes(data))
        # Same size, same mtime: only the bytes tell.
        os.utime(path, ns=(entry.mtime_ns, entry.mtime_ns))
        with pytest.raises(FileChanged, match="changed during upload"):
            await protocol.send(ticket, run.meter())
    assert segment_emulator.counters()["storage_success"] == 0
    assert run.recorder.bytes_counted == 0


async def test_file_changed_or_gone_before_upload(
    segment_emulator: RunningEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "listed.bin"
    entry = write_file(path, 3 * MIB, seed=6)
    with path.open("ab") as f:
        f.write(b"more")
    async with emulator_run(segment_emulator) as run:
        with pytest.raises(FileChanged, match="since it was listed"):
            await upload(segmented(run), run, entry)
        path.unlink()
        with pytest.raises(FileVanished):
            await upload(segmented(run), run, entry)
    assert segment_emulator.uploads() == []


async def test_parallel_bounds_segments_in_flight(
    make_emulator: Callable[..., RunningEmulator], tmp_path: Path
) -> None:
    # Each PUT is held 0.1 s at storage, so PUTs that may overlap do.
    emulator = make_emulator(min_segment_size=MIB, storage_latency=0.1)
    path = tmp_path / "wide.bin"
    entry = write_file(path, 6 * MIB, seed=7)
    async with emulator_run(emulator) as run:
        stored = await upload(segmented(run, segment_size=MIB, parallel=3), run, entry)
    assert_stored(emulator, stored.upload_id, path)
    # Six segments, never more than `parallel` at once (memory: 3 × 1 MiB), and really 3.
    assert emulator.counters()["storage_peak_in_flight"] == 3


async def test_a_ticket_goes_stale_after_the_instruction_max_age(
    segment_emulator: RunningEmulator, tmp_path: Path
) -> None:
    entry = write_file(tmp_path / "f", 3 * MIB)
    async with emulator_run(segment_emulator) as run:
        protocol = V1Segmented(
            run.transport, TARGET, threshold=0, segment_size=SEGMENT, instruction_max_age=60
        )
        ticket = await protocol.prepare(Planned(entry, None, "now"))
    assert isinstance(ticket, SegmentTicket) and len(ticket.targets) == 2
    # Half a second either side: `created + 60 - created` need not be exactly 60 in floats.
    assert not protocol.stale(ticket, ticket.created + 59.5)
    assert protocol.stale(ticket, ticket.created + 60.5)


# ── choosing a protocol ───────────────────────────────────────────────────────────────────
async def test_the_run_asks_each_protocol_in_turn(emulator: RunningEmulator) -> None:
    async with emulator_run(emulator) as run:
        chain = protocols_for(
            run.transport,
            target=TARGET,
            api_version="1.1",
            segment_threshold=8 * MIB,
            segment_size=5 * MIB,
            instruction_max_age=600,
            company_id=1,
            part_size=32 << 20,
        )
        assert [type(p) for p in chain] == [V1Segmented, V1Post]
        assert isinstance(select(chain, 8 * MIB), V1Post)
        assert isinstance(select(chain, 8 * MIB + 1), V1Segmented)
        assert isinstance(select(chain, 0), V1Post)
        # A threshold above S3's single-POST cap leaves sizes no protocol takes.
        chain = protocols_for(
            run.transport,
            target=TARGET,
            api_version="1.0",
            segment_threshold=MAX_POST_SIZE + 10,
            segment_size=5 * MIB,
            instruction_max_age=600,
            company_id=1,
            part_size=32 << 20,
        )
        assert [p.name for p in chain] == ["v1.0 segmented", "v1.0 POST"]
        with pytest.raises(UnsupportedFileSize, match=r"v1\.0 segmented, v1\.0 POST"):
            select(chain, MAX_POST_SIZE + 1)


# ── what Procore's answers may say (a fake Procore) ───────────────────────────────────────
def test_segment_headers_follow_the_tutorial() -> None:
    signed = (("x-amz-content-sha256", "abc"), ("content-length", "5"))
    assert segment_headers(signed) == [*signed, ("Content-Type", "application/octet-stream")]
    typed = (("Content-Type", "video/mp4"), ("x-amz-content-sha256", "abc"))
    assert segment_headers(typed) == list(typed)
    assert segment_headers((("Authorization", "Bearer x"), ("X-A", "1"))) == [
        ("X-A", "1"),
        ("Content-Type", "application/octet-stream"),
    ]


@pytest.mark.parametrize(
    ("signed", "expected_type"),
    [
        ({"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, "application/octet-stream"),
        ({"Content-Type": "video/mp4", "Authorization": "AWS4 x"}, "video/mp4"),
    ],
)
async def test_segment_put_sends_exactly_the_signed_headers(
    fake: FakeProcore, tmp_path: Path, signed: dict[str, str], expected_type: str
) -> None:
    fake.signed = signed
    entry = write_file(tmp_path / "big.bin", 3 * MIB)
    async with run_against(fake.url) as run:
        stored = await upload(segmented(run), run, entry)
    assert stored.upload_id == "u1"
    assert len(fake.puts) == 2
    for put in fake.puts:
        assert put["Content-Type"] == expected_type
        assert "Authorization" not in put
        for name, value in signed.items():
            if name.lower() != "authorization":
                assert put[name] == value
    # The PATCH lists every segment in order with its ETag unquoted.
    data = (tmp_path / "big.bin").read_bytes()
    [patch] = fake.patched
    assert patch == {
        "segments": [
            {
                "size": len(piece),
                "sha256": hashlib.sha256(piece).hexdigest(),
                "md5": hashlib.md5(piece).hexdigest(),
                "etag": hashlib.md5(piece).hexdigest(),
            }
            for piece in (data[:SEGMENT], data[SEGMENT:])
        ]
    }


@pytest.mark.parametrize(
    ("etag", "code"),
    [(lambda _: None, "MissingETag"), (lambda _: "0" * 32, "BadDigest")],
)
async def test_a_segment_stored_wrong_fails_the_upload(
    fake: FakeProcore, tmp_path: Path, etag: Callable[[bytes], str | None], code: str
) -> None:
    fake.etag = etag
    entry = write_file(tmp_path / "big.bin", 3 * MIB)
    async with run_against(fake.url) as run:
        with pytest.raises(StorageError) as info:
            await upload(segmented(run), run, entry)
    assert info.value.code == code
    assert fake.patched == []
    assert run.recorder.bytes_counted == 0


async def test_an_upload_not_complete_after_the_patch_is_an_api_error(
    fake: FakeProcore, tmp_path: Path
) -> None:
    fake.status = "failed"
    entry = write_file(tmp_path / "big.bin", 3 * MIB)
    async with run_against(fake.url) as run:
        with pytest.raises(ApiError, match="segmented upload u1 is 'failed', not complete") as info:
            await upload(segmented(run), run, entry)
    assert (info.value.call or "").startswith("PATCH /rest/v1.1/projects/{id}/uploads/")
    assert run.recorder.bytes_counted == 0


async def test_plain_http_segment_urls_fail_before_any_put(
    fake: FakeProcore, tmp_path: Path
) -> None:
    fake.storage_origin = "http://storage.example.invalid"
    entry = write_file(tmp_path / "big.bin", 3 * MIB)
    async with run_against(fake.url) as run:
        meter = run.meter()
        protocol = segmented(run)
        ticket = await protocol.prepare(Planned(entry, None, "now"))
        # Refused by the rule, not looked up (a lookup would fail as a NetworkError).
        with pytest.raises(InsecureStorage, match=r"plain http to storage\.example\.invalid"):
            await protocol.send(ticket, meter)
    assert fake.puts == []
    assert (meter.attempts, run.recorder.retries("part")) == (1, 0)
