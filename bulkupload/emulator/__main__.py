"""`bulkupload-emulator`: serve the Procore + S3 emulator until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import signal
import sys

from .. import __version__
from ..errors import ConfigError
from ..eventloop import loop_factory, loop_name
from ..urls import is_loopback
from .config import EmulatorConfig
from .server import start_site

PDM_FAULTS = {
    "pdm_verify_failed": "P(a PATCH item setting COMPLETED fails: storage cannot confirm it)",
    "pdm_ml_error": "P(ML of a completed PDF upload ends in error)",
    "pdm_submit_conflict": "P(a submitted upload fails with CONCURRENCY_CONFLICT)",
    "pdm_submit_unknown": "P(a submitted upload fails with UNKNOWN_FAILURE)",
}


def parse_args(argv: list[str] | None = None) -> EmulatorConfig:
    parser = argparse.ArgumentParser(
        prog="bulkupload-emulator",
        description="A local Procore API + S3 storage emulator for bulkupload tests and demos.",
    )
    add = parser.add_argument
    add("--version", action="version", version=f"bulkupload-emulator {__version__}")
    add("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    add(
        "--allow-remote",
        action="store_true",
        help="allow a --host other than loopback: anyone who reaches it gets the demo "
        "credentials' access, over plain http (default: loopback only)",
    )
    add("--port", type=int, default=0, help="port to bind; 0 picks a free port (default)")
    add(
        "--token-lifetime",
        type=float,
        default=5400.0,
        help="OAuth token lifetime, s (default 5400)",
    )
    add("--upload-lifetime", type=float, default=3600.0, help="POST policy lifetime, s (>= 1)")
    add("--data-dir", default=None, help="where stored bytes go (default: a temp dir)")
    add("--storage", choices=("local", "seaweedfs"), default="local", help="storage backend")
    add("--hourly-limit", type=int, default=None, help="API calls per hour per client")
    add("--spike-limit", type=int, default=None, help="API calls per spike window per client")
    add("--spike-window", type=float, default=10.0, help="spike window length, s (default 10)")
    add(
        "--hourly-window",
        type=float,
        default=3600.0,
        help="hourly window length, s (default 3600; shrink it to rehearse the hourly limit)",
    )
    add("--fault-api-5xx", type=float, default=0.0, metavar="P", help="P(500/503) per API call")
    add(
        "--fault-storage-5xx",
        type=float,
        default=0.0,
        metavar="P",
        help="P(500/503) per storage request",
    )
    add(
        "--fault-reset",
        type=float,
        default=0.0,
        metavar="P",
        help="P(reset mid-body) per storage request",
    )
    add(
        "--fault-api-lost",
        type=float,
        default=0.0,
        metavar="P",
        help="P(answer lost: the work is done, then the connection drops) per /rest/ call",
    )
    add(
        "--latency",
        "--api-latency",
        dest="api_latency",
        type=float,
        default=0.0,
        metavar="S",
        help="seconds added to every API answer (default 0)",
    )
    add("--storage-latency", type=float, default=0.0, metavar="S", help="added to storage requests")
    add(
        "--storage-bandwidth",
        type=float,
        default=None,
        metavar="BYTES_PER_S",
        help="cap on storage bytes per second, over all connections (default: no cap)",
    )
    add(
        "--v21-scan-polls",
        type=int,
        default=0,
        metavar="N",
        help="v2.1: status GETs a completed upload stays scanning before available (default 0)",
    )
    add(
        "--v21-status-words",
        choices=("reference", "tutorial"),
        default="reference",
        help="v2.1 status words: the reference's (scanning) or the tutorial's (complete)",
    )
    add(
        "--fault-scan-failed",
        type=float,
        default=0.0,
        metavar="P",
        help="P(the malware scan of a completed v2.1 upload fails: status failed)",
    )
    add(
        "--fault-scan-retryable",
        choices=("true", "false"),
        default="true",
        help="whether a failed scan's error says retryable (default true)",
    )
    add(
        "--pdm-processing-reads",
        type=int,
        default=1,
        metavar="N",
        help="Document Management: reads of an upload answered with ML/scraping in_progress",
    )
    add(
        "--pdm-processing-seconds",
        type=float,
        default=10.0,
        metavar="S",
        help="Document Management: ML/scraping end this long after COMPLETED at the latest",
    )
    for name, what in PDM_FAULTS.items():
        add(f"--fault-{name.replace('_', '-')}", type=float, default=0.0, metavar="P", help=what)
    add("--client", action="append", default=[], metavar="ID:SECRET", help="repeatable")
    add("--seed", type=int, default=None, help="seed fault randomness")
    args = parser.parse_args(argv)
    if not is_loopback(args.host) and not args.allow_remote:
        parser.error(
            f"--host {args.host} would serve the demo credentials to the network over plain "
            "http; say --allow-remote if that is what you want"
        )
    if args.upload_lifetime < 1:
        parser.error("--upload-lifetime must be at least 1 second")
    if args.v21_scan_polls < 0 or args.pdm_processing_reads < 0:
        parser.error("--v21-scan-polls and --pdm-processing-reads must be 0 or more")
    if args.pdm_processing_seconds < 0:
        parser.error("--pdm-processing-seconds must be 0 or more")
    probabilities = ("fault_api_5xx", "fault_storage_5xx", "fault_reset", "fault_api_lost")
    pdm_faults = tuple(f"fault_{name}" for name in PDM_FAULTS)
    for name in (*probabilities, "fault_scan_failed", *pdm_faults):
        if not 0 <= getattr(args, name) <= 1:
            parser.error(f"--{name.replace('_', '-')} is a probability in [0, 1]")
    config = EmulatorConfig(
        host=args.host,
        port=args.port,
        token_lifetime=args.token_lifetime,
        upload_lifetime=args.upload_lifetime,
        data_dir=args.data_dir,
        storage=args.storage,
        hourly_limit=args.hourly_limit,
        spike_limit=args.spike_limit,
        spike_window=args.spike_window,
        hourly_window=args.hourly_window,
        fault_api_5xx=args.fault_api_5xx,
        fault_storage_5xx=args.fault_storage_5xx,
        fault_reset=args.fault_reset,
        fault_api_lost=args.fault_api_lost,
        api_latency=args.api_latency,
        storage_latency=args.storage_latency,
        storage_bandwidth=args.storage_bandwidth,
        seed=args.seed,
        v21_scan_polls=args.v21_scan_polls,
        v21_status_words=args.v21_status_words,
        fault_scan_failed=args.fault_scan_failed,
        fault_scan_retryable=args.fault_scan_retryable == "true",
        pdm_processing_reads=args.pdm_processing_reads,
        pdm_processing_seconds=args.pdm_processing_seconds,
        fault_pdm_verify_failed=args.fault_pdm_verify_failed,
        fault_pdm_ml_error=args.fault_pdm_ml_error,
        fault_pdm_submit_conflict=args.fault_pdm_submit_conflict,
        fault_pdm_submit_unknown=args.fault_pdm_submit_unknown,
    )
    if args.client:
        clients = {}
        for item in args.client:
            client_id, sep, secret = item.partition(":")
            if not sep or not client_id or not secret:
                parser.error(f"--client wants ID:SECRET, got {item!r}")
            clients[client_id] = secret
        config.clients = clients
    return config


def banner(config: EmulatorConfig, port: int, client_id: str, secret: str) -> list[str]:
    """The first lines: where it listens, who may log in, what exists, and the environment a
    `bulkupload` run against it needs (ready to paste)."""
    host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
    base = f"http://{host}:{port}"
    companies = ", ".join(
        f"{c.id} (projects {', '.join(map(str, c.projects))})" for c in config.companies
    )
    first = config.companies[0].id
    env = {
        "PROCORE_BASE_URL": base,
        "PROCORE_LOGIN_URL": base,
        "PROCORE_CLIENT_ID": client_id,
        "PROCORE_CLIENT_SECRET": secret,
        "PROCORE_COMPANY_ID": str(first),
    }
    return [
        f"base_url: {base}",
        f"client_id: {client_id}",
        f"client_secret: {secret}",
        f"companies: {companies}",
        "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()),
    ]


async def serve(config: EmulatorConfig) -> None:
    from .app import create_app

    app = create_app(config)
    runner, port = await start_site(app, config.host, config.port)
    client_id, secret = next(iter(config.clients.items()))
    for line in banner(config, port, client_id, secret):
        print(line, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    try:
        factory = loop_factory(loop_name(os.environ))
    except ConfigError as exc:
        print(f"bulkupload-emulator: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
