"""The whole-file digests of a v2.1 upload, computed as its parts arrive: parts folded in order
whatever order they come in, a part PUT again after it was read making completion hash from the
start, a PATCH waiting for the fold in flight, mismatches still failing the upload, and the
parts' files (the object's pieces) all gone when an upload is deleted."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from emulator_testkit import Api
from unified_testkit import BIG, Unified, create_body

from bulkupload.emulator.part_bodies import hash_files
from bulkupload.emulator.unified import folding
from bulkupload.emulator.unified.model import UnifiedUpload

# Four different parts (all but the last over the floor), so a part folded out of place shows.
PIECES = [BIG, BIG[::-1], b"!" + BIG[1:], b"the end"]
WHOLE = b"".join(PIECES)
DAY = 24 * 3600


class Reads:
    """Every `hash_files` call of the emulator's folding, as the part numbers each one read."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.hold: threading.Event | None = None  # when set up: the first call waits for it
        self.entered = threading.Event()

    def __call__(self, paths: Sequence[Path], digests: Sequence[Any]) -> int:
        self.calls.append([int(path.name.split(".")[1]) for path in paths])
        self.entered.set()
        if self.hold is not None:
            hold, self.hold = self.hold, None
            hold.wait(10)
        return hash_files(paths, digests)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[Reads]:
    recorder = Reads()
    monkeypatch.setattr(folding, "hash_files", recorder)
    yield recorder
    if recorder.hold is not None:
        recorder.hold.set()  # never leave an emulator thread waiting


def upload_of(api: Api, data: dict[str, Any]) -> UnifiedUpload:
    upload: UnifiedUpload = api.emulator.state.unified.uploads[data["upload_id"]]
    return upload


async def begin(api: Api, pieces: list[bytes]) -> tuple[Unified, dict[str, Any], UnifiedUpload]:
    """A client, Create's `data` for `pieces`, and the emulator's record of that upload."""
    v21 = Unified(api)
    data = await v21.start(pieces)
    return v21, data, upload_of(api, data)


def assert_digests(api: Api, whole: bytes) -> None:
    """The only upload's object has the digests of `whole` (the admin view says so)."""
    [record] = api.emulator.v21_uploads()
    assert record["md5"] == hashlib.md5(whole).hexdigest()
    assert record["sha256"] == hashlib.sha256(whole).hexdigest()


async def until(condition: Callable[[], bool]) -> None:
    """Wait (up to 10 s) for the emulator's background work to make `condition` true."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the emulator never got there")


def folded(upload: UnifiedUpload, count: int) -> Callable[[], bool]:
    return lambda: upload.folding.task is None and upload.folding.folded == count


async def put(v21: Unified, data: dict[str, Any], index: int, piece: bytes) -> str:
    status, text, headers = await v21.put(data["segments"][index], piece)
    assert status == 200, text
    etag: str = headers["ETag"]
    return etag


def object_bytes(upload: UnifiedUpload) -> bytes:
    assert upload.stored is not None
    return b"".join(Path(piece).read_bytes() for piece in upload.stored.pieces)


def part_files(api: Api) -> set[str]:
    folder = Path(api.emulator.data_dir) / "parts"
    return {str(path) for path in folder.iterdir()} if folder.is_dir() else set()


async def test_parts_in_any_order_are_folded_in_order_and_completion_reads_nothing(
    api: Api, reads: Reads
) -> None:
    v21, data, upload = await begin(api, PIECES)
    etags = [""] * len(PIECES)
    for index in (2, 3):
        etags[index] = await put(v21, data, index, PIECES[index])
    assert (upload.folding.task, upload.folding.claimed) == (None, 0)  # part 1 is missing
    etags[0] = await put(v21, data, 0, PIECES[0])
    await until(folded(upload, 1))  # part 2 is missing
    etags[1] = await put(v21, data, 1, PIECES[1])
    await until(folded(upload, 4))
    assert [number for call in reads.calls for number in call] == [1, 2, 3, 4]
    calls = len(reads.calls)

    status, answer = await v21.patch(data["upload_id"], etags)
    assert (status, answer["data"]["status"]) == (200, "available")
    assert len(reads.calls) == calls  # everything was folded already
    assert_digests(api, WHOLE)
    assert object_bytes(upload) == WHOLE
    assert upload.stored is not None and upload.stored.size == len(WHOLE)


async def test_a_fold_job_reads_a_bounded_run_of_parts(
    api: Api, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(folding, "JOB_BYTES", 2 * len(BIG))
    v21, data, upload = await begin(api, PIECES)
    for index in (3, 2, 1, 0):
        await put(v21, data, index, PIECES[index])
    await until(folded(upload, 4))
    assert reads.calls == [[1, 2], [3, 4]]  # two parts reach the bound; the rest in a next job


async def test_a_part_put_again_after_it_was_folded_is_hashed_again_from_the_start(
    api: Api, reads: Reads
) -> None:
    v21, data, upload = await begin(api, PIECES)
    etags = [await put(v21, data, index, PIECES[index]) for index in (0, 1)]
    await until(folded(upload, 2))
    first = upload.parts[0].path
    assert await put(v21, data, 0, PIECES[0]) == etags[0]  # the last PUT of a part wins
    assert upload.folding.stale
    etags += [await put(v21, data, index, PIECES[index]) for index in (2, 3)]
    assert upload.folding.task is None  # nothing more is folded into stale digests
    last = upload.parts[0].path

    status, answer = await v21.patch(data["upload_id"], etags)
    assert (status, answer["data"]["status"]) == (200, "available")
    assert reads.calls[-1] == [1, 2, 3, 4]
    assert_digests(api, WHOLE)
    assert upload.stored is not None and upload.stored.pieces[0] == last
    assert part_files(api) == set(upload.stored.pieces)  # the first PUT's file is gone
    assert first not in upload.stored.pieces
    assert object_bytes(upload) == WHOLE


async def test_a_part_replaced_while_being_folded_and_a_patch_waiting_for_the_fold(
    api: Api, reads: Reads
) -> None:
    pieces = PIECES[:2]
    v21, data, upload = await begin(api, pieces)
    release = reads.hold = threading.Event()
    etags = [await put(v21, data, 0, pieces[0])]
    await asyncio.to_thread(reads.entered.wait, 10)  # the job holds part 1's first file
    await put(v21, data, 0, pieces[0])  # ... which this PUT replaces and deletes
    assert upload.folding.stale
    etags.append(await put(v21, data, 1, pieces[1]))
    patch = asyncio.create_task(v21.patch(data["upload_id"], etags))
    await until(lambda: upload.folding.waiting == 1)  # the PATCH waits for the job in flight
    assert not patch.done() and reads.calls == [[1]]  # ... and has read nothing itself
    release.set()
    status, answer = await patch
    assert (status, answer["data"]["status"]) == (200, "available")
    assert_digests(api, b"".join(pieces))
    assert reads.calls == [[1], [1, 2]]  # the job's read failed: hashed from the start


@pytest.mark.parametrize("field", ["md5", "sha256"])
async def test_whole_file_digests_not_as_given_fail_a_multi_part_upload(
    api: Api, field: str
) -> None:
    v21 = Unified(api)
    body = create_body(PIECES)
    body[field] = hashlib.new(field, b"another file").hexdigest()
    status, answer = await v21.create(body)
    assert status == 201, answer
    data = answer["data"]
    etags = await v21.send(data, PIECES)
    status, done = await v21.patch(data["upload_id"], etags)
    assert (status, done["data"]["status"]) == (200, "failed")
    status, shown = await v21.status(data["upload_id"])
    error = shown["data"]["error"]
    assert (error["type"], error["retryable"]) == ("checksum_mismatch", False)
    assert field in error["message"]
    assert_digests(api, WHOLE)  # kept for inspection
    assert part_files(api) == set()  # the bytes are of no use to anyone


async def test_a_deleted_upload_leaves_no_piece_and_no_part(api: Api) -> None:
    v21 = Unified(api)
    done = await v21.start(PIECES)
    assert (await v21.patch(done["upload_id"], await v21.send(done, PIECES)))[0] == 200
    partial = await v21.start(PIECES[:2])
    await put(v21, partial, 1, PIECES[1])
    stored = upload_of(api, done).stored
    assert stored is not None and len(stored.pieces) == len(PIECES)
    assert part_files(api) == {*stored.pieces, str(upload_of(api, partial).parts[1].path)}

    api.emulator.advance_clock(DAY)
    await api.login()
    for upload in (done, partial):
        assert (await v21.status(upload["upload_id"]))[0] == 404
    assert api.emulator.v21_uploads() == []
    assert part_files(api) == set()


@pytest.mark.parametrize("sizes", [[0], [1, 2], [1 << 20, (1 << 20) + 1, (1 << 20) - 1, 0, 5]])
def test_hash_files_feeds_every_digest_the_files_in_order(tmp_path: Path, sizes: list[int]) -> None:
    paths, whole = [], b""
    for index, size in enumerate(sizes):
        data = bytes([index + 1]) * size
        path = tmp_path / f"piece{index}"
        path.write_bytes(data)
        paths.append(path)
        whole += data
    for names in ([], ["md5"], ["md5", "sha256", "sha1"]):
        digests = [hashlib.new(name) for name in names]
        assert hash_files(paths, digests) == len(whole)
        wanted = [hashlib.new(name, whole).hexdigest() for name in names]
        assert [digest.hexdigest() for digest in digests] == wanted
    assert all(path.exists() for path in paths)  # read, not consumed


def test_hash_files_raises_when_a_file_is_gone(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        hash_files([tmp_path / "gone"], [hashlib.md5()])
