"""Settings from flags, TOML and environment: the rules a user meets before any upload."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkupload.cli import build_parser, settings_from
from bulkupload.config import Credentials, Settings, check_url, parse_size
from bulkupload.errors import ConfigError
from bulkupload.models import Target

ENV = {"PROCORE_CLIENT_ID": "id", "PROCORE_CLIENT_SECRET": "secret", "PROCORE_COMPANY_ID": "7"}


def settings(*argv: str, env: dict[str, str] | None = None) -> Settings:
    return settings_from(build_parser().parse_args(list(argv)), ENV if env is None else env)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("5000000", 5_000_000),
        ("64MiB", 64 << 20),
        ("1G", 1 << 30),
        ("1.5GB", 3 << 29),
        ("7k", 7168),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@given(st.integers(min_value=0, max_value=1 << 50))
def test_plain_byte_counts_round_trip(n: int) -> None:
    assert parse_size(str(n)) == n


@pytest.mark.parametrize("text", ["", "MiB", "-1", "12 parsecs", "1.2.3G"])
def test_not_sizes(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_size(text)


def test_credentials_come_from_the_environment_only() -> None:
    assert Credentials.from_env({"PROCORE_ACCESS_TOKEN": "t"}).access_token == "t"
    both = Credentials.from_env(ENV)
    assert both.client_id == "id" and "secret" not in repr(both)
    with pytest.raises(ConfigError, match="both"):
        Credentials.from_env({"PROCORE_CLIENT_ID": "id"})
    with pytest.raises(ConfigError, match="no Procore credentials"):
        Credentials.from_env({})


def test_plain_http_only_to_loopback_or_with_a_flag() -> None:
    check_url("http://127.0.0.1:8080", allow_http=False)
    check_url("http://localhost", allow_http=False)
    check_url("https://api.procore.com", allow_http=False)
    with pytest.raises(ConfigError, match="unencrypted"):
        check_url("http://api.example.com", allow_http=False)
    check_url("http://api.example.com", allow_http=True)
    with pytest.raises(ConfigError):
        check_url("ftp://api.procore.com", allow_http=True)


def test_target_and_company_header() -> None:
    project = settings("src", "--project", "42")
    assert project.target == Target("project", 42) and project.company_id == 7
    company = settings("src", "--company", "9", env={**ENV, "PROCORE_COMPANY_ID": ""})
    assert company.target == Target("company", 9) and company.company_id == 9
    with pytest.raises(ConfigError, match="--project ID or --company ID"):
        settings("src")
    with pytest.raises(ConfigError, match="Procore-Company-Id"):
        settings("src", "--project", "1", env={k: v for k, v in ENV.items() if "COMPANY" not in k})


def test_toml_file_with_flags_winning(tmp_path: Path) -> None:
    config = tmp_path / "bulkupload.toml"
    config.write_text(
        'sources = ["/data/drawings"]\nproject = 42\nfolder = "Nightly"\nconcurrency = 4\n'
        'exclude = ["*.tmp"]\nsegment-size = 67108864\n'
    )
    merged = settings("--config", str(config), "--concurrency", "16")
    assert merged.sources == ("/data/drawings",)
    assert merged.folder == "Nightly" and merged.concurrency == 16
    assert merged.exclude == ("*.tmp",) and merged.segment_size == 64 << 20


def test_toml_refuses_secrets_and_unknown_keys(tmp_path: Path) -> None:
    secret = tmp_path / "secret.toml"
    secret.write_text('project = 1\nclient_secret = "hunter2"\n')
    with pytest.raises(ConfigError, match="secrets come from the environment") as caught:
        settings("src", "--config", str(secret))
    assert "hunter2" not in str(caught.value)
    typo = tmp_path / "typo.toml"
    typo.write_text("projcet = 1\n")
    with pytest.raises(ConfigError, match="projcet"):
        settings("src", "--config", str(typo))


@pytest.mark.parametrize(
    "argv",
    [
        ("src", "--project", "1", "--concurrency", "0"),
        ("src", "--project", "1", "--segment-size", "1MiB"),
        ("src", "--project", "1", "--retries", "-1"),
    ],
)
def test_out_of_range_values(argv: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError):
        settings(*argv)
