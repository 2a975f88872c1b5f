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
from bulkupload.protocols.v2_unified import V2Unified

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
    "V2Unified",
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
    company_id: int,
    part_size: int,
    uploader_tool: str | None = "document_management",
) -> list[UploadProtocol]:
    """The run's protocols in resolver order. v1.x: segmented above `segment_threshold`, else
    one POST (up to S3's 5 GB). v2.1: every file as a unified upload in parts of `part_size`
    (its `uploader_tool_name` is the destination's tool). A file no protocol accepts is
    UnsupportedFileSize (`select`).
    """
    if api_version == "2.1":
        unified = V2Unified(
            transport,
            target,
            company_id=company_id,
            part_size=part_size,
            uploader_tool=uploader_tool,
        )
        return [unified]
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
