"""The integrity fields of an S3 POST: `Content-MD5` and `x-amz-checksum-*`, checked on the bytes.

S3 parses them before reading the file (a malformed value is refused up front) and compares them
with digests computed while the bytes stream in; nothing here holds a whole file in memory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from .policy_check import PolicyViolation

# S3's names (as in "The CRC32 you specified ...") by the suffix of `x-amz-checksum-<suffix>`.
ALGORITHMS = {
    "crc32": "CRC32",
    "crc32c": "CRC32C",
    "crc64nvme": "CRC64NVME",
    "sha1": "SHA1",
    "sha256": "SHA256",
}
DIGEST_BYTES = {"crc32": 4, "crc32c": 4, "crc64nvme": 8, "sha1": 20, "sha256": 32}


class Digest(Protocol):
    """What hashlib objects and our CRCs share: feed bytes, read the digest."""

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


class ChecksumRefused(PolicyViolation):
    """An integrity field is malformed or does not match the bytes (S3 status, code, message)."""


class Crc32:
    """zlib's CRC-32 (the one S3 calls CRC32), fed incrementally."""

    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes, /) -> None:
        self._value = zlib.crc32(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


def _reflected_table(poly: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


class TableCrc:
    """A reflected table-driven CRC (init and final XOR all ones), for CRC32C and CRC64NVME.

    Pure Python, so slow (a few MB/s); the standard library has neither, and only a POST that
    sends one of these checksums pays for it.
    """

    def __init__(self, table: tuple[int, ...], width: int) -> None:
        self._table = table
        self._mask = (1 << width) - 1
        self._bytes = width // 8
        self._value = self._mask

    def update(self, data: bytes, /) -> None:
        crc, table = self._value, self._table
        for byte in data:
            crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
        self._value = crc

    def digest(self) -> bytes:
        return (self._value ^ self._mask).to_bytes(self._bytes, "big")


CRC32C_TABLE = _reflected_table(0x82F63B78)  # Castagnoli, reflected
CRC64NVME_TABLE = _reflected_table(0x9A6C9329AC4BC9B5)  # NVMe CRC-64, reflected


def new_digest(algorithm: str) -> Digest:
    """A fresh digest for one of ALGORITHMS' keys."""
    if algorithm == "crc32":
        return Crc32()
    if algorithm == "crc32c":
        return TableCrc(CRC32C_TABLE, 32)
    if algorithm == "crc64nvme":
        return TableCrc(CRC64NVME_TABLE, 64)
    return hashlib.new(algorithm)


@dataclass(frozen=True, slots=True)
class Expected:
    """What the form promised about the bytes: an MD5 and at most one S3 checksum."""

    md5: bytes | None
    algorithm: str | None  # a key of ALGORITHMS
    checksum: bytes | None

    def digest(self) -> Digest | None:
        """The extra digest to compute while streaming (MD5 is always computed anyway)."""
        return new_digest(self.algorithm) if self.checksum and self.algorithm else None

    def verify(self, md5: bytes, checksum: Digest | None) -> None:
        """Raise ChecksumRefused (400 BadDigest) when the received bytes are not as promised."""
        if self.md5 is not None and md5 != self.md5:
            raise ChecksumRefused(
                400, "BadDigest", "The Content-MD5 you specified did not match what we received."
            )
        if checksum is not None and self.algorithm and checksum.digest() != self.checksum:
            name = ALGORITHMS[self.algorithm]
            raise ChecksumRefused(
                400, "BadDigest", f"The {name} you specified did not match the calculated checksum."
            )

    def response_headers(self, checksum: Digest | None) -> dict[str, str]:
        if checksum is None or not self.algorithm:
            return {}
        value = base64.b64encode(checksum.digest()).decode()
        return {f"x-amz-checksum-{self.algorithm}": value}


def expected_from(fields: Mapping[str, str]) -> Expected:
    """Parse `content-md5`, `x-amz-checksum-algorithm` and `x-amz-checksum-<algo>` (lower-cased
    form field names) as S3 does before the body; raise ChecksumRefused on a malformed value."""
    md5: bytes | None = None
    if "content-md5" in fields:
        md5 = _b64(fields["content-md5"], 16)
        if md5 is None:
            raise ChecksumRefused(
                400, "InvalidDigest", "The Content-MD5 you specified was invalid."
            )
    sent = {
        name.removeprefix("x-amz-checksum-"): value
        for name, value in fields.items()
        if name.startswith("x-amz-checksum-") and name != "x-amz-checksum-algorithm"
    }
    named = fields.get("x-amz-checksum-algorithm")
    algorithm = named.lower() if named is not None else None
    if algorithm is not None and algorithm not in ALGORITHMS:
        raise ChecksumRefused(
            400,
            "InvalidRequest",
            "Checksum algorithm provided is unsupported. Please try again with any of the valid "
            "types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]",
        )
    if len(sent) > 1:
        raise ChecksumRefused(
            400,
            "InvalidRequest",
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
        )
    if not sent:
        return Expected(md5=md5, algorithm=algorithm, checksum=None)
    ((suffix, value),) = sent.items()
    if suffix not in ALGORITHMS:
        raise ChecksumRefused(
            400, "InvalidRequest", f"x-amz-checksum-{suffix} is not a supported checksum."
        )
    if algorithm is not None and algorithm != suffix:
        raise ChecksumRefused(
            400,
            "InvalidRequest",
            f"Value for x-amz-checksum-algorithm ({named}) does not match the checksum sent "
            f"(x-amz-checksum-{suffix}).",
        )
    checksum = _b64(value, DIGEST_BYTES[suffix])
    if checksum is None:
        raise ChecksumRefused(
            400, "InvalidRequest", f"Value for x-amz-checksum-{suffix} header is invalid."
        )
    return Expected(md5=md5, algorithm=suffix, checksum=checksum)


def _b64(text: str, length: int) -> bytes | None:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == length else None
