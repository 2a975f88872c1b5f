"""Peak RSS of `bulkupload-emulator` while it receives a 1 GiB storage POST (must stay < 100 MB).

Run: .venv/bin/python -m benchmarks.emulator_rss [--size-mib 1024]
The body is streamed from a sparse file (FormData with a plain file object keeps Content-Length),
so neither side ever holds it whole; the emulator's VmHWM is read from /proc after the upload.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

LIMIT_MB = 100.0


def start_emulator(data_dir: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    script = Path(sys.executable).parent / "bulkupload-emulator"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bulkupload.emulator"]
    process = subprocess.Popen(
        [*command, "--port", "0", "--data-dir", data_dir],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    info = {}
    for _ in range(3):
        name, _, value = process.stdout.readline().strip().partition(": ")
        info[name] = value
    return process, info


def peak_rss_mb(pid: int) -> tuple[float, float]:
    """(VmHWM, VmRSS) in MB from /proc/PID/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmHWM:", "VmRSS:")):
            name, value = line.split(":")
            values[name] = int(value.split()[0]) / 1024
    return values["VmHWM"], values["VmRSS"]


async def upload(info: dict[str, str], source: Path, size: int) -> tuple[int, str, float]:
    base = info["base_url"]
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.post(
            base + "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": info["client_id"],
                "client_secret": info["client_secret"],
            },
        ) as response:
            token = (await response.json())["access_token"]
        async with session.post(
            base + "/rest/v1.1/projects/42/uploads",
            json={"response_filename": source.name, "size": size},
            headers={"Authorization": f"Bearer {token}", "Procore-Company-Id": "1"},
        ) as response:
            assert response.status == 201, await response.text()
            instruction = await response.json()
        form = aiohttp.FormData()
        for name, value in instruction["fields"].items():
            form.add_field(name, value)
        started = time.monotonic()
        with source.open("rb") as handle:
            form.add_field("file", handle, filename=source.name)
            async with session.post(instruction["url"], data=form) as response:
                status = response.status
                etag = response.headers.get("ETag", "")
        return status, etag.strip('"'), time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024
    workdir = Path(tempfile.mkdtemp(prefix="emulator-rss-"))
    source = workdir / "sparse.bin"
    with source.open("wb") as handle:
        handle.truncate(size)  # sparse: zeros without using disk or memory
    expected_md5 = hashlib.md5()
    zeros = bytes(1024 * 1024)
    for _ in range(args.size_mib):
        expected_md5.update(zeros)
    process, info = start_emulator(str(workdir / "data"))
    try:
        idle, _ = peak_rss_mb(process.pid)
        status, etag, seconds = asyncio.run(upload(info, source, size))
        peak, now = peak_rss_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"emulator_rss: size={args.size_mib} MiB status={status} "
        f"throughput={size / seconds / 1e6:.0f} MB/s ({seconds:.1f} s) "
        f"rss_idle_peak={idle:.1f} MB rss_peak={peak:.1f} MB rss_after={now:.1f} MB"
    )
    assert status == 204, status
    assert etag == expected_md5.hexdigest(), (etag, expected_md5.hexdigest())
    assert peak < LIMIT_MB, f"peak RSS {peak:.1f} MB >= {LIMIT_MB} MB"
    print(f"OK: peak RSS {peak:.1f} MB < {LIMIT_MB:.0f} MB")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
