"""A v2.1 upload from partial progress to `available` (or `failed`): PATCH of part ETags, status
GETs with fresh part URLs, the emulated malware scan and its faults, both status vocabularies."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from emulator_testkit import Api, check_answer, s3_code
from unified_testkit import BIG, Unified, create_body, reason_codes

from bulkupload.emulator.server import RunningEmulator

GET = "RestV21CompaniesCompanyIdProjectsProjectIdUploadsUploadIdGet"
PATCH = "RestV21CompaniesCompanyIdProjectsProjectIdUploadsUploadIdPatch"


async def client(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession, **config: Any
) -> Unified:
    api = Api(make_emulator(**config), http)
    await api.login()
    return Unified(api)


async def test_partial_progress_fresh_urls_then_scanning_until_available(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    v21 = await client(make_emulator, http, v21_scan_polls=2)
    emulator = v21.api.emulator
    pieces = [BIG, b"last part"]
    data = await v21.start(pieces)
    upload_id = data["upload_id"]
    first, second = data["segments"]
    status, text, headers = await v21.put(first, pieces[0])
    assert status == 200, text
    status, answer = await v21.patch(upload_id, [headers["ETag"], None])
    assert status == 200
    check_answer(PATCH, status, answer)
    assert answer == {"data": {"upload_id": upload_id, "status": "receiving"}}

    emulator.advance_clock(3600)  # every URL of Create has expired
    status, text, _ = await v21.put(second, pieces[1])
    assert (status, s3_code(text)) == (403, "AccessDenied")
    await v21.api.login()
    status, shown = await v21.status(upload_id, "?url_expires_in=600")
    assert status == 200
    check_answer(GET, status, shown)
    fresh = shown["data"]["segments"]
    assert len(fresh) == 2
    assert fresh[1]["url"] != second["url"]
    # 600 s from now, an hour on: whole seconds of a wall clock, so a second may have turned.
    assert 0 <= fresh[1]["url_expires_at"] - (second["url_expires_at"] + 600) <= 1
    assert shown["data"]["status"] == "receiving"
    assert shown["data"]["error"] is None
    status, text, headers = await v21.put(fresh[1], pieces[1])
    assert status == 200, text

    etags = [f'"{hashlib.md5(p).hexdigest()}"' for p in pieces]
    assert (await v21.patch(upload_id, [etags[0], headers["ETag"]]))[1]["data"]["status"] == (
        "scanning"
    )
    statuses = []
    for _ in range(3):
        status, shown = await v21.status(upload_id)
        check_answer(GET, status, shown)
        statuses.append(shown["data"]["status"])
        assert shown["data"]["segments"] == []
    assert statuses == ["scanning", "scanning", "available"]
    assert emulator.counters()["v21_status_polls"] == 4
    whole = b"".join(pieces)
    [record] = emulator.v21_uploads()
    assert record["status"] == "available"
    assert record["md5"] == hashlib.md5(whole).hexdigest()
    assert record["sha256"] == hashlib.sha256(whole).hexdigest()
    assert _object_bytes(emulator.state.unified.uploads[upload_id].stored.pieces) == whole


def _object_bytes(pieces: tuple[str, ...]) -> bytes:
    """A completed upload's object: its parts' files, in order."""
    return b"".join(Path(piece).read_bytes() for piece in pieces)


async def test_the_tutorial_vocabulary_says_complete_where_the_reference_says_scanning(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    v21 = await client(make_emulator, http, v21_scan_polls=1, v21_status_words="tutorial")
    data = await v21.start([b"abc"])
    etags = await v21.send(data, [b"abc"])
    status, answer = await v21.patch(data["upload_id"], etags)
    assert (status, answer["data"]["status"]) == (200, "complete")
    seen = [(await v21.status(data["upload_id"]))[1]["data"]["status"] for _ in range(2)]
    assert seen == ["complete", "available"]


async def test_scan_failures_are_retryable_or_not_as_the_fault_says(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    v21 = await client(make_emulator, http, v21_scan_polls=1, fault_scan_failed=1.0)
    emulator = v21.api.emulator
    for retryable in (True, False):
        emulator.set_faults(scan_retryable=retryable)
        data = await v21.start([b"abc"])
        etags = await v21.send(data, [b"abc"])
        assert (await v21.patch(data["upload_id"], etags))[1]["data"]["status"] == "scanning"
        assert (await v21.status(data["upload_id"]))[1]["data"]["status"] == "scanning"
        status, shown = await v21.status(data["upload_id"])
        check_answer(GET, status, shown)
        assert shown["data"]["status"] == "failed"
        error = shown["data"]["error"]
        assert error["retryable"] is retryable
        assert isinstance(error["type"], str) and isinstance(error["message"], str)
    assert emulator.counters()["faults_injected"] == {"scan_failed": 2}


async def test_scan_failures_follow_the_seed(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    runs = []
    for _ in range(2):
        v21 = await client(make_emulator, http, seed=7, fault_scan_failed=0.5)
        outcomes = []
        for _ in range(12):
            data = await v21.start([b"abc"])
            etags = await v21.send(data, [b"abc"])
            outcomes.append((await v21.patch(data["upload_id"], etags))[1]["data"]["status"])
        runs.append(outcomes)
    assert runs[0] == runs[1]
    assert set(runs[0]) == {"available", "failed"}


async def test_a_file_that_is_not_the_one_described_fails_for_good(api: Api) -> None:
    v21 = Unified(api)
    body = create_body([b"abc"])
    body["sha256"] = hashlib.sha256(b"another file").hexdigest()
    status, answer = await v21.create(body)
    assert status == 201, answer
    data = answer["data"]
    etags = await v21.send(data, [b"abc"])
    assert (await v21.patch(data["upload_id"], etags))[1]["data"]["status"] == "failed"
    status, shown = await v21.status(data["upload_id"])
    assert shown["data"]["status"] == "failed"
    assert shown["data"]["error"]["type"] == "checksum_mismatch"
    assert shown["data"]["error"]["retryable"] is False
    assert shown["data"]["segments"] == []


async def test_etags_that_do_not_match_the_parts_are_refused(api: Api) -> None:
    v21 = Unified(api)
    pieces = [BIG, b"end"]
    data = await v21.start(pieces)
    upload_id = data["upload_id"]
    status, text, headers = await v21.put(data["segments"][0], pieces[0])
    assert status == 200, text
    cases: list[tuple[list[str | None], str]] = [
        (['"0123456789abcdef0123456789abcdef"', None], "INVALID_PART"),
        ([headers["ETag"], '"0123456789abcdef0123456789abcdef"'], "INVALID_PART"),  # not sent
        ([headers["ETag"]], "PART_COUNT_MISMATCH"),
        ([headers["ETag"], None, None], "PART_COUNT_MISMATCH"),
    ]
    for part_etags, reason in cases:
        status, answer = await v21.patch(upload_id, part_etags)
        assert status == 400, answer
        assert reason_codes(answer) == [reason]
    status, answer, _ = await v21.api.call_method("PATCH", f"{v21.base}/{upload_id}", {"etags": []})
    assert (status, answer["error"]["code"]) == (400, "BAD_REQUEST")
    assert (await v21.status(upload_id))[1]["data"]["status"] == "ready"
    # The ETag unquoted and in capitals is the same ETag.
    status, answer = await v21.patch(upload_id, [headers["ETag"].strip('"').upper(), None])
    assert (status, answer["data"]["status"]) == (200, "receiving")


async def test_a_completed_upload_answers_a_patch_with_where_it_stands(api: Api) -> None:
    """A completing PATCH whose answer was lost can be sent again."""
    v21 = Unified(api)
    data = await v21.start([b"abc"])
    etags = await v21.send(data, [b"abc"])
    for _ in range(2):
        status, answer = await v21.patch(data["upload_id"], etags)
        assert (status, answer["data"]["status"]) == (200, "available")
    assert (await v21.patch(data["upload_id"], [None]))[1]["data"]["status"] == "available"
