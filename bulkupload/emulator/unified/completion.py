"""What happens to a v2.1 upload after its parts: the completing PATCH's checks, the parts kept
as the object's pieces, the whole-file digests Create gave checked (mostly computed already, as
the parts came: see `folding`), then the (emulated) malware scan, which ends after
`v21_scan_polls` status GETs: `available`, or `failed` when a fault says so."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiohttp import web

from bulkupload.emulator.config import CONFIG_KEY, FAULTS_KEY
from bulkupload.emulator.faults import RANDOM_KEY
from bulkupload.emulator.part_bodies import plain_etag
from bulkupload.emulator.state import STATE_KEY

from .folding import whole_digests
from .model import (
    AVAILABLE,
    FAILED,
    OPEN,
    RECEIVING,
    SCANNING,
    AssembledObject,
    UnifiedStore,
    UnifiedUpload,
    UploadError,
)
from .plan import Detail, detail
from .remote import PartsRefused


def etag_problems(upload: UnifiedUpload, part_etags: Sequence[str | None]) -> list[Detail]:
    """Why `part_etags` cannot be accepted: one entry per part, each one given matching the
    bytes stored for that part (quotes and case aside)."""
    if len(part_etags) != len(upload.parts):
        message = f"{len(upload.parts)} entries expected (one per segment, in order)"
        return [detail("PART_COUNT_MISMATCH", "part_etags", message)]
    problems = []
    for index, (given, part) in enumerate(zip(part_etags, upload.parts, strict=True)):
        where = f"part_etags[{index}]"
        if given is None:
            continue
        if part.etag is None:
            problems.append(detail("INVALID_PART", where, f"part {index + 1} was not received"))
        elif plain_etag(given) != part.etag:
            problems.append(
                detail("INVALID_PART", where, f"not the ETag of part {index + 1}'s bytes")
            )
    return problems


async def accept_etags(
    app: web.Application, upload: UnifiedUpload, part_etags: list[str | None]
) -> list[Detail]:
    """A PATCH's ETags for an open upload: partial progress, or (all given) completion; the
    problems instead when they do not match the parts stored."""
    store = app[STATE_KEY].unified
    complete = None not in part_etags
    if len(part_etags) != len(upload.parts):
        return etag_problems(upload, part_etags)  # PART_COUNT_MISMATCH, without asking S3
    if upload.remote is not None and store.remote is not None:
        await _settled(upload)
        if upload.status not in OPEN:
            return []  # completed by another PATCH meanwhile
        if complete:
            return await _complete_in_s3(app, store, upload, [str(e) for e in part_etags])
        await receive_etags(store, upload)
        if upload.status not in OPEN:
            return []
    problems = etag_problems(upload, part_etags)
    if problems:
        return problems
    if not complete:
        upload.status = RECEIVING
        return []
    # No await before this: a PUT or PATCH arriving from here on sees the parts closed.
    upload.status = SCANNING
    await _completed_or_failed(app, store, upload)
    return []


async def receive_etags(store: UnifiedStore, upload: UnifiedUpload) -> None:
    """The ETags of the parts a real S3 holds for the upload, as if each PUT had been seen."""
    assert store.remote is not None and upload.remote is not None
    held = await store.remote.etags(upload.remote)
    if upload.status in OPEN:  # not completed by another PATCH meanwhile
        for number, part in enumerate(upload.parts, start=1):
            part.etag = held.get(number)


async def _settled(upload: UnifiedUpload) -> None:
    """Wait for the completion another PATCH has in flight, if any (shielded: this PATCH's
    cancellation must not cancel it)."""
    while upload.completing is not None:
        await asyncio.shield(upload.completing)


async def _complete_in_s3(
    app: web.Application, store: UnifiedStore, upload: UnifiedUpload, part_etags: list[str]
) -> list[Detail]:
    """Complete the S3 multipart upload with the client's ETags, which S3 checks against its
    parts; only when it refuses are the parts listed, to say which ETags are wrong. The upload
    shows its status as before until S3 has completed it; a PATCH meanwhile waits for this one
    (`_settled`)."""
    assert store.remote is not None and upload.remote is not None
    etags = [plain_etag(etag) for etag in part_etags]
    done = asyncio.get_running_loop().create_future()
    upload.completing = done
    try:
        try:
            await store.remote.finish(upload.remote, etags)
        except PartsRefused as refused:
            await receive_etags(store, upload)
            problems = etag_problems(upload, part_etags)
            if not problems:  # S3 refused what its own listing holds
                raise web.HTTPServiceUnavailable(reason="Storage did not answer.") from refused
            return problems
        for part, etag in zip(upload.parts, etags, strict=True):
            part.etag = etag
        upload.status = SCANNING
    finally:
        upload.completing = None
        done.set_result(None)
    if store.uploads.get(upload.upload_id) is not upload:
        # Deleted (its deadline) while S3 completed it: the object S3 made goes too.
        store.remote.discard(upload.remote, completed=True)
        return []
    await _completed_or_failed(app, store, upload)
    return []


async def _completed_or_failed(
    app: web.Application, store: UnifiedStore, upload: UnifiedUpload
) -> None:
    """`_completed`, or the upload failed retryably (`scan_error`) when its bytes could not be
    read to check them (storage trouble, a part's file gone, the emulator shutting down): never
    left `scanning` with nothing to end the scan, and the PATCH answers where it stands."""
    try:
        await _completed(app, store, upload)
    except BaseException as exc:
        if upload.stored is None:
            _assemble(upload, {})
            message = "The file could not be processed."
            _fail(store, upload, UploadError("scan_error", message, retryable=True))
        if not isinstance(exc, Exception):
            raise  # cancelled (the emulator shutting down): the upload is failed, not stuck


async def _completed(app: web.Application, store: UnifiedStore, upload: UnifiedUpload) -> None:
    """The parts are closed (SCANNING): the object, the whole-file digests Create gave checked,
    then the scan."""
    digests = await whole_digests(store, upload)
    _assemble(upload, digests)
    given = {"sha256": upload.sha256, "md5": upload.md5}
    wrong = [name for name, want in given.items() if want is not None and want != digests[name]]
    if wrong:
        message = f"The file's {' and '.join(wrong)} is not the one given at create."
        _fail(store, upload, UploadError("checksum_mismatch", message, retryable=False))
        return
    faults = app[FAULTS_KEY]
    if faults.scan_failed and app[RANDOM_KEY].random() < faults.scan_failed:
        app[STATE_KEY].counters.faults_injected["scan_failed"] += 1
        upload.scan_verdict = _scan_error(retryable=faults.scan_retryable)
    upload.scan_polls_left = app[CONFIG_KEY].v21_scan_polls
    if not upload.scan_polls_left:
        _end_scan(store, upload)


def _assemble(upload: UnifiedUpload, digests: dict[str, str]) -> None:
    """The parts become the object (`stored`), with the whole-file digests known so far."""
    pieces = tuple(part.path for part in upload.parts if part.path is not None)
    for part in upload.parts:
        part.path = None  # the object's now: its files go with it
    upload.stored = AssembledObject(
        pieces, upload.file_size, digests.get("md5"), digests.get("sha256")
    )


def poll(store: UnifiedStore, upload: UnifiedUpload) -> None:
    """A status GET: the scan of a completed upload ends once enough of them have been made."""
    if upload.status != SCANNING or upload.stored is None:
        return  # not complete, or still being hashed (the completing PATCH has not returned)
    if upload.scan_polls_left:
        upload.scan_polls_left -= 1
    else:
        _end_scan(store, upload)


def _end_scan(store: UnifiedStore, upload: UnifiedUpload) -> None:
    if upload.scan_verdict is None:
        upload.status = AVAILABLE
    else:
        _fail(store, upload, upload.scan_verdict)


def _fail(store: UnifiedStore, upload: UnifiedUpload, error: UploadError) -> None:
    """A failed upload keeps its digests for inspection; its bytes are of no use to anyone."""
    upload.status, upload.error = FAILED, error
    store.discard(upload)


def _scan_error(*, retryable: bool) -> UploadError:
    if retryable:
        return UploadError("scan_error", "The malware scan could not be completed.", True)
    return UploadError("malware_detected", "The file did not pass the malware scan.", False)
