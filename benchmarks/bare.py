"""The bare aiohttp client: the least a Python client can do for Procore's two steps per file.

Per file: Create Upload (JSON, one token fetched first), read the file (whole, in a worker thread),
MD5 it (as bulkupload and rclone do), one multipart POST to storage; `--concurrency` workers on
one keep-alive session, on uvloop where installed. Nothing else: no state, manifest, retries,
pacing, change checks or progress. It is a reference row, not a product: beside bulkupload it
shows what the runtime and the extra API call cost, and what bulkupload's own work costs.
For files up to a few MiB (each body is held whole in memory, twice: the file and the form).

Run: python -m benchmarks.bare DIR --base-url URL --report OUT.json [--concurrency N]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.naive import get_token, multipart

try:
    import uvloop
except ImportError:  # pragma: no cover - Windows
    uvloop = None  # type: ignore[assignment]


def read(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read()


async def upload_all(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    token = await asyncio.to_thread(
        get_token,
        args.base_url,
        os.environ["PROCORE_CLIENT_ID"],
        os.environ["PROCORE_CLIENT_SECRET"],
    )
    company = os.environ["PROCORE_COMPANY_ID"]
    api = {"Authorization": f"Bearer {token}", "Procore-Company-Id": company}
    create = f"{args.base_url}/rest/v1.1/projects/{args.project}/uploads"
    files: Iterator[Path] = iter(sorted(p for p in args.source.rglob("*") if p.is_file()))
    done = {"uploaded": 0, "bytes_uploaded": 0, "api_calls": 1}
    connector = aiohttp.TCPConnector(limit=2 * args.concurrency)

    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for path in files:  # one shared iterator: each file goes to one worker
                data = await asyncio.to_thread(read, path)
                body = {"response_filename": path.name, "size": len(data)}
                async with session.post(create, json=body, headers=api) as answer:
                    answer.raise_for_status()
                    instruction = await answer.json()
                done["api_calls"] += 1
                hashlib.md5(data, usedforsecurity=False).hexdigest()
                boundary, head, tail, _ = multipart(instruction["fields"], path)
                payload = head + data + tail
                headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
                async with session.post(instruction["url"], data=payload, headers=headers) as sent:
                    await sent.read()
                    if sent.status in (200, 201, 204):
                        done["uploaded"] += 1
                        done["bytes_uploaded"] += len(data)

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return {**done, "rate_limited_429": 0, "duration_s": round(time.perf_counter() - started, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--project", type=int, default=42)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args()
    report = uvloop.run(upload_all(args)) if uvloop else asyncio.run(upload_all(args))
    args.report.write_text(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
