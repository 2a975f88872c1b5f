"""The ceiling: the same storage POSTs, instructions fetched beforehand, sent by one parallel curl
(and, beside rclone, the same files PUT by curl: what S3's two ways cost the store).

Create Upload calls happen first and are not timed; then one curl process (keep-alive, up to N
transfers at once) sends every multipart POST from a config file, and only that is measured. It
bounds what any client could reach on this machine against this emulator.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .harness import Emulator, Measured, run_measured
from .naive import create_upload, get_token

CURL = shutil.which("curl") or "/usr/bin/curl"


def quote(text: str) -> str:
    """A double-quoted string for a curl config file."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(instructions: list[tuple[Path, dict[str, Any]]], config: Path) -> None:
    """One request per file, separated by `next`: every field verbatim, then the file."""
    with config.open("w") as out:
        for index, (path, instruction) in enumerate(instructions):
            if index:
                out.write("next\n")
            out.write(f"url = {quote(instruction['url'])}\n")
            for name, value in instruction["fields"].items():
                # --form-string: no @file / <file / ;type= interpretation of field values
                out.write(f"form-string = {quote(f'{name}={value}')}\n")
            out.write(f"form = {quote(f'file=@{path}')}\n")
            out.write('output = "/dev/null"\n')


def write_put_config(
    files: list[Path], endpoint: str, prefix: str, keys: tuple[str, str, str], config: Path
) -> None:
    """One S3 PUT per file to `endpoint/prefix/NAME`, signed by curl (`--aws-sigv4`) with
    `keys` (access key, secret key, region): the same files as the POSTs, by S3's other way."""
    access, secret, region = keys
    with config.open("w") as out:
        for index, path in enumerate(files):
            if index:
                out.write("next\n")
            out.write(f"url = {quote(f'{endpoint}/{prefix}/{path.name}')}\n")
            out.write(f"upload-file = {quote(str(path))}\n")
            out.write(f"aws-sigv4 = {quote(f'aws:amz:{region}:s3')}\n")
            out.write(f"user = {quote(f'{access}:{secret}')}\n")
            out.write('output = "/dev/null"\n')


def fetch_instructions(
    emulator: Emulator, files: list[Path], project: int, company: int
) -> list[tuple[Path, dict[str, Any]]]:
    """Create Upload for every file, 16 at a time (untimed preparation)."""
    token = get_token(emulator.base_url, emulator.client_id, emulator.client_secret)

    def one(path: Path) -> tuple[Path, dict[str, Any]]:
        return path, create_upload(emulator.base_url, token, str(company), project, path)

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, files))


def prepare(
    emulator: Emulator, files: list[Path], workdir: Path, project: int, company: int
) -> Path:
    """Fetch every instruction (untimed) and write the curl config; returns its path."""
    config = workdir / "curl.cfg"
    write_config(fetch_instructions(emulator, files, project, company), config)
    return config


def run_ceiling(config: Path, parallel: int, log: Path) -> Measured:
    """Time one curl process sending every storage POST in `config`, `parallel` at once."""
    command = [
        CURL,
        "--silent",
        "--show-error",
        "--fail",
        "--parallel",
        "--parallel-max",
        str(parallel),
        "--config",
        str(config),
    ]
    try:
        return run_measured(command, log=log)
    finally:
        config.unlink(missing_ok=True)
