"""Direct File Uploads v1.1 (or v1.0) in one POST: Create Upload, then the whole file as one
multipart form to storage, every field exactly as Procore gave it and the file part last.

Procore's fields vary by company and over time, so none is assumed: they go back in the order
the answer listed them. The form is one streamed body (`FileRange` with the fields before it
and the closing boundary after it): a few `send()` calls per file, a Content-Length, and one
chunk of the file in memory.
"""

from __future__ import annotations

import mimetypes
import time
import unicodedata
import uuid
from dataclasses import dataclass

from bulkupload.messages import Planned, Stored, Ticket
from bulkupload.models import FileEntry, Target
from bulkupload.procore.decode import parse_instruction
from bulkupload.procore.remote import remote_name
from bulkupload.procore.routes import uploads_path
from bulkupload.protocols.base import Meter, Transport
from bulkupload.protocols.body import OCTETS, FileRange
from bulkupload.protocols.storage import send_body
from bulkupload.retry import call_with_retries

__all__ = [
    "MAX_POST_SIZE",
    "PostTicket",
    "V1Post",
    "create_upload_json",
    "multipart_form",
    "multipart_name",
]

# The system's MIME type tables are read once, here, rather than on the event loop (and in the
# middle of a run's memory) at the first file whose type is guessed.
mimetypes.init()

#: S3 takes at most 5 GB in one POST; bigger files must go in segments.
MAX_POST_SIZE = 5 * 1024**3
#: Procore's instructions last an hour; a ticket older than this is renewed before sending.
DEFAULT_MAX_AGE = 50 * 60.0


@dataclass(frozen=True, slots=True)
class PostTicket(Ticket):
    """Create Upload's answer: the upload `uuid`, the storage `url` and the form `fields` in the
    order Procore sent them."""

    uuid: str
    url: str
    fields: tuple[tuple[str, str], ...]


def create_upload_json(entry: FileEntry) -> dict[str, object]:
    """What every v1 Create Upload says about the file: the name and type storage serves it as
    on download (the Documents name, so a download is named as the document is)."""
    media_type = mimetypes.guess_type(entry.name, strict=False)[0] or OCTETS
    return {"response_filename": remote_name(entry.name), "response_content_type": media_type}


def multipart_name(name: str) -> str:
    """`name` as printable ASCII without quotes or backslashes, for a Content-Disposition header.

    The name users see comes from Create Upload's `response_filename`; this one only has to be safe.
    """
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    safe = "".join(c if c.isprintable() and c not in '"\\' else "_" for c in folded).strip()
    return safe or "file"


def _quote_name(name: str) -> str:
    # HTML's multipart encoding: quotes and line breaks in names are percent-escaped.
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def multipart_form(fields: tuple[tuple[str, str], ...], filename: str) -> tuple[bytes, bytes, str]:
    """The bytes before the file (every field in order, then the file part's header), the bytes
    after it, and the body's Content-Type. `filename` must be header-safe (`multipart_name`).

    The file part's type is the form's `Content-Type` field when it has one (S3 checks the two
    agree when the policy says so), else octet-stream.
    """
    boundary = uuid.uuid4().hex
    file_type = next((v for n, v in fields if n.lower() == "content-type" and v), OCTETS)
    dash = f"--{boundary}\r\n".encode()
    parts = [
        dash
        + f'Content-Disposition: form-data; name="{_quote_name(name)}"\r\n\r\n'.encode()
        + value.encode("utf-8")
        + b"\r\n"
        for name, value in fields
    ]
    parts.append(
        dash
        + f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'.encode()
        + f"Content-Type: {file_type}\r\n\r\n".encode()
    )
    tail = f"\r\n--{boundary}--\r\n".encode()
    return b"".join(parts), tail, f"multipart/form-data; boundary={boundary}"


class V1Post:
    """One multipart POST per file of at most `max_size` bytes, retried whole under the run's
    `storage_attempt` policy."""

    api_calls = 1.0  # Create Upload, for the plan's estimate

    def __init__(
        self,
        transport: Transport,
        target: Target,
        *,
        api_version: str = "1.1",
        instruction_max_age: float = DEFAULT_MAX_AGE,
        max_size: int = MAX_POST_SIZE,
    ) -> None:
        self.transport = transport
        self.target = target
        self.api_version = api_version
        self.instruction_max_age = instruction_max_age
        self.max_size = max_size

    @property
    def name(self) -> str:
        return f"v{self.api_version} POST"

    def accepts(self, size: int) -> bool:
        return size <= self.max_size

    async def prepare(self, item: Planned) -> PostTicket:
        """Create Upload for `item`. Its errors (NotFound included) are the caller's to map."""
        body = {**create_upload_json(item.entry), "size": item.entry.size}
        path = uploads_path(self.target, self.api_version)
        answer = await self.transport.api.request("POST", path, json=body)
        instruction = parse_instruction(answer.status, answer.data, call=answer.call or None)
        return PostTicket(
            item=item,
            protocol=self.name,
            created=instruction.created,
            uuid=instruction.uuid,
            url=instruction.url,
            fields=instruction.fields,
        )

    def stale(self, ticket: Ticket, now: float) -> bool:
        return now - ticket.created > self.instruction_max_age

    async def send(self, ticket: Ticket, meter: Meter) -> Stored:
        if not isinstance(ticket, PostTicket):
            raise TypeError(f"{self.name} cannot send a {type(ticket).__name__}")
        transport, entry = self.transport, ticket.item.entry
        policy = transport.policies.storage_attempt
        head, tail, form_type = multipart_form(ticket.fields, multipart_name(entry.name))

        async def attempt() -> str:
            meter.attempt()
            body = FileRange(
                entry,
                meter,
                head=head,
                tail=tail,
                content_type=form_type,
                reader=transport.reader,
                chunk_size=transport.chunk_size,
                throttle=transport.bandwidth,
                cached=transport.cached_reads,
            )
            receipt = await send_body(
                transport.storage,
                "POST",
                ticket.url,
                body,
                allow_http=transport.allow_http,
                slots=transport.storage_slots,
            )
            return receipt.md5

        md5 = await call_with_retries(
            policy,
            attempt,
            on_retry=lambda exc: transport.events.retried(
                policy.name, f"{entry.display_rel}: {exc}"
            ),
        )
        return Stored(
            item=ticket.item,
            upload_id=ticket.uuid,
            md5=md5,
            attempts=meter.attempts,
            stored_at=time.time(),
        )
