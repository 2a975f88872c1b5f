"""v2.1 parts kept by a real S3 (`--storage seaweedfs`) instead of the emulator's own storage.

Create starts an S3 multipart upload; each part URL is S3's own presigned UploadPart, which the
client PUTs to directly, so the bytes never pass through the emulator. The headers handed out
with it are signed into the URL: `x-amz-checksum-sha256` (the part's SHA-256, which S3 checks
against the bytes) and `Content-MD5` when Create gave the part's MD5 (checked too). The
completing PATCH completes the multipart upload with the client's ETags, which S3 checks
against the parts it holds; only when S3 refuses them, or for a PATCH of partial progress, does
the emulator list the parts (ListParts) to say which ETags are wrong. The whole file's digests
are the single part's (checked by S3 as it came) or, for a file of several parts, read back
from S3 when Create gave them or an admin listing asks.

`PartStore` is what the handlers need of such a store; `bulkupload.emulator.seaweed_parts`
implements it for SeaweedFS and sets `UnifiedStore.remote` when the app starts. v1.1 segmented
uploads use the same store (`EmulatorState.part_store`): their segments are its parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RemoteObject:
    """Where an upload's parts go: the object's bucket and key, and S3's multipart upload id."""

    bucket: str
    key: str
    s3_upload_id: str


class PartsRefused(Exception):
    """S3 would not complete the multipart upload from the ETags given (a part missing, or not
    the part's ETag)."""


class PartStore(Protocol):
    async def begin(self, company_id: int, key: str, headers: dict[str, str]) -> RemoteObject:
        """Start the multipart upload the parts will join, of object `key` in the company's
        bucket, served with `headers` (Content-Type, Content-Disposition)."""

    def part_url(
        self, remote: RemoteObject, number: int, headers: dict[str, str], expires_in: int
    ) -> str:
        """A presigned PUT of part `number` that must carry exactly `headers`."""

    def object_url(self, remote: RemoteObject) -> str:
        """Where the completed object is."""

    async def etags(self, remote: RemoteObject) -> dict[int, str]:
        """The MD5 hex (unquoted, lower case) of each part S3 holds, by part number."""

    async def finish(self, remote: RemoteObject, etags: list[str]) -> None:
        """Complete the multipart upload from the parts with these ETags, in order (S3 checks
        each against the part it holds): PartsRefused when it will not."""

    async def digests(self, remote: RemoteObject, names: tuple[str, ...]) -> dict[str, str]:
        """The named digests (hex) of the completed object's bytes, read back."""

    def discard(self, remote: RemoteObject, *, completed: bool) -> None:
        """Delete the object in the background; not known `completed`: abort the multipart
        upload too."""
