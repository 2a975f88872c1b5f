"""Which uploads may become a file version: Procore's attachment rules for Direct File Uploads."""

from __future__ import annotations

from bulkupload.emulator.core import Identity, UploadRecord

from .model import Refused, SpaceKey, rejected


def sweep(uploads: dict[str, UploadRecord], now: float, expired: set[str]) -> int:
    """Delete uploads left unattached for more than a week (noted in `expired`); how many went."""
    gone = [uuid for uuid, rec in uploads.items() if rec.deleted_at(now)]
    for uuid in gone:
        del uploads[uuid]
        expired.add(uuid)
    return len(gone)


def usable_upload(
    uploads: dict[str, UploadRecord],
    now: float,
    expired: set[str],
    space: SpaceKey,
    identity: Identity,
    uuid: str,
) -> UploadRecord:
    """The upload `identity` may attach in `space`, or the error Procore would answer."""
    if not uuid:
        raise rejected(422, {"upload_uuid": ["can't be blank"]})
    # This upload's week only: a sweep of every upload per attach made a run quadratic (the
    # admin sweep, `DocumentsStore.sweep`, still deletes the rest).
    old = uploads.get(uuid)
    if old is not None and old.deleted_at(now):
        del uploads[uuid]
        expired.add(uuid)
    if uuid in expired:
        raise rejected(410, f"Upload {uuid} was deleted: unattached for more than 7 days")
    record = uploads.get(uuid)
    if record is None:
        raise rejected(404, f"Upload {uuid} not found")
    if record.owner != identity.client_id:
        raise rejected(403, f"Upload {uuid} belongs to another identity")
    kind, ident = space
    matches = (
        record.company_id == ident and record.project_id is None
        if kind == "company"
        else record.project_id == ident
    )
    if not matches:
        raise rejected(422, f"Upload {uuid} was created for another {kind}, not {kind} {ident}")
    if record.stored is None:
        raise rejected(422, f"Upload {uuid} has no data: nothing reached storage")
    if record.attached_to is not None:
        raise Refused("already_attached", subject="upload", name=uuid)
    return record
