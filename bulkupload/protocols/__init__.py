"""How bytes travel to Procore's storage: the upload protocols, chosen per file by size.

`protocols_for(...)` builds the protocols of a run in resolver order (`select` asks each in turn
whether it accepts a file's size); `UploadProtocol` is what the pipeline sees of each.
"""

from __future__ import annotations

from bulkupload.models import Target
from bulkupload.protocols.base import Meter, Transport, UploadProtocol, select
from bulkupload.protocols.body import FileRange, PlannedDigests
from bulkupload.protocols.files import file_md5, read_errors, restat
from bulkupload.protocols.storage import send_body, storage_receipt
from bulkupload.protocols.v1_post import MAX_POST_SIZE, PostTicket, V1Post
from bulkupload.protocols.v1_segmented import SegmentTicket, V1Segmented

__all__ = [
    "MAX_POST_SIZE",
    "FileRange",
    "Meter",
    "PlannedDigests",
    "PostTicket",
    "SegmentTicket",
    "Transport",
    "UploadProtocol",
    "V1Post",
    "V1Segmented",
    "file_md5",
    "protocols_for",
    "read_errors",
    "restat",
    "select",
    "send_body",
    "storage_receipt",
]


def protocols_for(
    transport: Transport,
    *,
    target: Target,
    api_version: str,
    segment_threshold: int,
    segment_size: int,
    instruction_max_age: float,
) -> list[UploadProtocol]:
    """The run's protocols in resolver order: segmented above `segment_threshold`, else one
    POST (up to S3's 5 GB). A file no protocol accepts is FileTooLarge (`select`).
    """
    return [
        V1Segmented(
            transport,
            target,
            threshold=segment_threshold,
            segment_size=segment_size,
            api_version=api_version,
            instruction_max_age=instruction_max_age,
        ),
        V1Post(
            transport,
            target,
            api_version=api_version,
            instruction_max_age=instruction_max_age,
        ),
    ]
