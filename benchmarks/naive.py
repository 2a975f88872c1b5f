"""The naive integrator: Procore's tutorial done sequentially with the standard library only.

One token, then per file: POST Create Upload, POST the multipart form to storage (every field in
order, the file last, streamed from disk with a Content-Length). urllib opens a fresh connection per
request, as `requests.post` without a Session would.

Run: python -m benchmarks.naive DIR --base-url URL --report OUT.json  (credentials from the env)
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHUNK = 1024 * 1024


def get_token(base_url: str, client_id: str, client_secret: str) -> str:
    """OAuth client-credentials grant."""
    body = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        }
    ).encode()
    with urllib.request.urlopen(base_url + "/oauth/token", data=body, timeout=60) as response:
        token: str = json.load(response)["access_token"]
    return token


def create_upload(
    base_url: str, token: str, company: str, project: int, path: Path
) -> dict[str, Any]:
    """Step 1: Create Upload (v1.1, project level); returns {uuid, url, fields}."""
    request = urllib.request.Request(
        f"{base_url}/rest/v1.1/projects/{project}/uploads",
        data=json.dumps({"response_filename": path.name, "size": path.stat().st_size}).encode(),
        headers={
            "Authorization": f"Bearer {token}",
            "Procore-Company-Id": company,
            "Content-Type": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        instruction: dict[str, Any] = json.load(response)
    return instruction


def multipart(fields: dict[str, str], path: Path) -> tuple[str, bytes, bytes, int]:
    """(boundary, head, tail, total length) of a form whose last part is the file."""
    boundary = uuid.uuid4().hex
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return boundary, head, tail, len(head) + path.stat().st_size + len(tail)


def body(head: bytes, path: Path, tail: bytes) -> Iterator[bytes]:
    yield head
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk
    yield tail


def post_to_storage(instruction: dict[str, Any], path: Path) -> int:
    """Step 2: the multipart POST to storage, without any Authorization header."""
    boundary, head, tail, length = multipart(instruction["fields"], path)
    request = urllib.request.Request(
        instruction["url"],
        data=body(head, path, tail),
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(length),
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        response.read()
        status: int = response.status
    return status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--project", type=int, default=42)
    parser.add_argument("--limit", type=int, default=None, help="upload only the first N files")
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    token = get_token(
        args.base_url, os.environ["PROCORE_CLIENT_ID"], os.environ["PROCORE_CLIENT_SECRET"]
    )
    company = os.environ["PROCORE_COMPANY_ID"]
    files = sorted(p for p in args.source.rglob("*") if p.is_file())[: args.limit]
    api_calls, uploaded, nbytes = 1, 0, 0
    for path in files:
        instruction = create_upload(args.base_url, token, company, args.project, path)
        api_calls += 1
        if post_to_storage(instruction, path) in (200, 201, 204):
            uploaded += 1
            nbytes += path.stat().st_size
    report = {
        "uploaded": uploaded,
        "bytes_uploaded": nbytes,
        "api_calls": api_calls,
        "rate_limited_429": 0,  # urllib raises on 429: a finished run saw none
        "duration_s": round(time.perf_counter() - started, 3),
    }
    args.report.write_text(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
