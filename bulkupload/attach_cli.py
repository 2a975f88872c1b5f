"""`bulkupload attach`: attach uploads made with `--no-attach` to the Documents tool, later.

Reads a manifest, attaches every uploaded-but-unattached file (mirroring its folder under
`--folder`), and rewrites the manifest with the Procore file ids. Uploads older than 7 days were
deleted by Procore: they are reported as expired, not retried.
"""

from __future__ import annotations

import argparse
import datetime as dt
import posixpath
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio

from .config import PRODUCTION_API, PRODUCTION_LOGIN, Credentials, check_url, env_int
from .errors import ApiError, BulkUploadError, ConfigError
from .manifest import original_rel, read_manifest
from .models import Target
from .procore.client import ApiClient, make_api_session
from .procore.documents import FolderMirror
from .retry import RetryPolicy

WEEK = dt.timedelta(days=7)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bulkupload attach",
        description="Attach uploads listed in a manifest (made with --no-attach) to Documents.",
    )
    add = parser.add_argument
    add("--manifest", type=Path, required=True, help="the manifest of the --no-attach run")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--project", type=int, metavar="ID")
    target.add_argument("--company", type=int, metavar="ID")
    add("--company-id", type=int, metavar="ID", help="Procore-Company-Id header")
    add("--folder", default="", help="Documents folder to mirror the tree under (default root)")
    add("--on-conflict", choices=["version", "skip", "rename"], default="version")
    add("--concurrency", "-j", type=int, default=8)
    add("--base-url", default=None)
    add("--login-url", default=None)
    add("--allow-http", action="store_true")
    return parser


def age(record: Mapping[str, Any], now: dt.datetime) -> dt.timedelta | None:
    stamp = record.get("finished_at") or record.get("started_at")
    if not stamp:
        return None
    try:
        return now - dt.datetime.fromisoformat(str(stamp))
    except ValueError:
        return None


async def attach_all(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[int, int, int]:
    from .runner import token_source  # the same credentials logic as an upload run

    records = list(read_manifest(args.manifest))
    target = Target("project", args.project) if args.project else Target("company", args.company)
    company_id = args.company_id or env_int(env, "PROCORE_COMPANY_ID") or args.company
    if company_id is None:
        raise ConfigError("set PROCORE_COMPANY_ID or --company-id")
    base = (args.base_url or env.get("PROCORE_BASE_URL") or PRODUCTION_API).rstrip("/")
    login = (args.login_url or env.get("PROCORE_LOGIN_URL") or PRODUCTION_LOGIN).rstrip("/")
    for url in (base, login):
        check_url(url, allow_http=args.allow_http)
    creds = Credentials.from_env(env)
    now = dt.datetime.now(dt.UTC)
    attached = expired = failed = 0
    limiter = anyio.CapacityLimiter(max(1, args.concurrency))
    async with make_api_session(args.concurrency) as session:
        tokens = token_source(creds, login, session)
        await tokens.token()
        api = ApiClient(
            session, base, company_id=int(company_id), tokens=tokens, policy=RetryPolicy()
        )
        mirror = FolderMirror(api, target, args.folder)

        async def one(record: dict[str, Any]) -> None:
            nonlocal attached, expired, failed
            rel = original_rel(record)
            old = age(record, now)
            if old is not None and old > WEEK:
                record["status"] = "failed"
                record["error"] = "upload expired: Procore deletes unattached uploads after 7 days"
                expired += 1
                return
            async with limiter:
                try:
                    folder_id = await mirror.folder_id_for(posixpath.dirname(rel))
                    done = await mirror.attach(
                        folder_id=folder_id,
                        name=posixpath.basename(rel),
                        upload_uuid=str(record["upload_uuid"]),
                        size=int(record.get("size") or 0),
                        on_conflict=args.on_conflict,
                    )
                except ApiError as exc:
                    record["status"] = "failed"
                    if exc.status == 410:
                        # Procore's clock, not the manifest's timestamps, decides: it deleted it.
                        record["error"] = f"upload expired: {exc.message}"
                        expired += 1
                    else:
                        record["error"] = f"attach failed: {exc.message}"
                        failed += 1
                    return
            record.update(file_id=done.file_id, folder_id=done.folder_id, version=done.version)
            record.update(status="uploaded", error=None, action=done.action)
            attached += 1

        async with anyio.create_task_group() as group:
            for record in records:
                # A failed record with an upload uuid was stored but not attached (by the upload
                # run or an earlier `attach`): running `attach` again is how to retry it.
                if (
                    record.get("status") in ("uploaded", "failed")
                    and record.get("upload_uuid")
                    and record.get("file_id") is None
                ):
                    group.start_soon(one, record)
    rewrite(args.manifest, records)
    return attached, expired, failed


def rewrite(path: Path, records: Sequence[dict[str, Any]]) -> None:
    """Replace the manifest atomically with the updated records."""
    import json

    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp.replace(path)


def run_attach(argv: Sequence[str], env: Mapping[str, str]) -> int:
    args = build_parser().parse_args(list(argv))
    try:
        attached, expired, failed = anyio.run(attach_all, args, env)
    except BulkUploadError as exc:
        print(f"bulkupload attach: error: {exc}", file=sys.stderr)
        return 2
    print(f"attached {attached}, expired {expired}, failed {failed}; manifest {args.manifest}")
    return 1 if expired or failed else 0
