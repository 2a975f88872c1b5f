"""`bulkupload-emulator` as a real process: prints URL and credentials, stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.parse
import urllib.request

import pytest

from bulkupload.emulator.__main__ import parse_args


def test_cli_prints_url_and_credentials_then_serves_until_sigterm() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bulkupload.emulator",
            "--port",
            "0",
            "--client",
            "cli-id:cli-secret",
            "--spike-limit",
            "5",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(3)]
        assert lines[0].startswith("base_url: http://127.0.0.1:")
        assert lines[1:] == ["client_id: cli-id", "client_secret: cli-secret"]
        base_url = lines[0].removeprefix("base_url: ")
        body = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": "cli-id",
                "client_secret": "cli-secret",
            }
        ).encode()
        with urllib.request.urlopen(base_url + "/oauth/token", data=body, timeout=10) as response:
            assert json.loads(response.read())["token_type"] == "bearer"
        with urllib.request.urlopen(base_url + "/_emulator/config", timeout=10) as response:
            assert json.loads(response.read())["spike_limit"] == 5
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_flags_map_to_config() -> None:
    config = parse_args(
        [
            "--token-lifetime=60",
            "--upload-lifetime=1",
            "--hourly-limit=100",
            "--spike-window=5",
            "--hourly-window=60",
            "--fault-api-5xx=0.1",
            "--fault-storage-5xx=0.2",
            "--fault-reset=0.3",
            "--fault-api-lost=0.05",
            "--latency=0.05",
            "--storage-latency=0.01",
            "--storage-bandwidth=1000000",
            "--storage=seaweedfs",
        ]
    )
    assert (config.token_lifetime, config.upload_lifetime) == (60, 1)
    assert (config.hourly_limit, config.spike_limit, config.spike_window) == (100, None, 5)
    assert config.hourly_window == 60
    assert (config.fault_api_5xx, config.fault_storage_5xx, config.fault_reset) == (0.1, 0.2, 0.3)
    assert config.fault_api_lost == 0.05
    assert config.initial_faults().api_lost == 0.05
    assert (config.api_latency, config.storage_latency) == (0.05, 0.01)
    assert config.storage_bandwidth == 1_000_000
    assert config.storage == "seaweedfs"
    assert config.clients["demo-client-id"] == "demo-client-secret"


@pytest.mark.parametrize(
    "argv",
    [
        ["--upload-lifetime=0.5"],
        ["--fault-reset=2"],
        ["--fault-api-lost=1.5"],
        ["--client=nosecret"],
    ],
)
def test_bad_flags_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2


def test_help_lists_every_fault_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--fault-api-5xx", "--fault-storage-5xx", "--fault-reset", "--fault-api-lost"):
        assert flag in text


def test_version_banner_and_loopback_only(capsys: pytest.CaptureFixture[str]) -> None:
    """F8: no --version; no company/project ids or `export` line; `--host 0.0.0.0` served the
    demo credentials to the network without a word."""
    from bulkupload import __version__
    from bulkupload.emulator.__main__ import banner

    with pytest.raises(SystemExit) as version:
        parse_args(["--version"])
    assert version.value.code == 0 and capsys.readouterr().out == (
        f"bulkupload-emulator {__version__}\n"
    )
    for host in ("0.0.0.0", "10.1.2.3"):
        with pytest.raises(SystemExit) as refused:
            parse_args(["--host", host])
        assert refused.value.code == 2 and "--allow-remote" in capsys.readouterr().err
    config = parse_args(["--host", "0.0.0.0", "--allow-remote"])
    lines = banner(config, 8080, "id", "se cret")
    assert lines[0] == "base_url: http://127.0.0.1:8080"  # where this machine reaches it
    assert lines[3] == "companies: 1 (projects 42, 100), 2 (projects 200)"
    assert lines[4] == (
        "export PROCORE_BASE_URL=http://127.0.0.1:8080 PROCORE_LOGIN_URL=http://127.0.0.1:8080 "
        "PROCORE_CLIENT_ID=id PROCORE_CLIENT_SECRET='se cret' PROCORE_COMPANY_ID=1"
    )
