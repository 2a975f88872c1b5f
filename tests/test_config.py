"""Settings from flags, TOML and environment: the rules a user meets before any upload."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkupload import cli
from bulkupload.cli import build_parser, settings_from
from bulkupload.config import Credentials, Settings, check_url, load_toml, parse_size
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


def test_credentials_lose_a_line_ending_and_refuse_what_no_header_can_carry() -> None:
    """Was: a token ending in CR (a `secrets.env` with Windows line endings) failed every file
    with a traceback from aiohttp's header check, exit 1."""
    assert Credentials.from_env({"PROCORE_ACCESS_TOKEN": "abc\r\n"}).access_token == "abc"
    crlf = Credentials.from_env({"PROCORE_CLIENT_ID": " id\r", "PROCORE_CLIENT_SECRET": "s\r"})
    assert (crlf.client_id, crlf.client_secret) == ("id", "s")
    for bad in ("ab c", "ab\x00c", "a\rb"):
        with pytest.raises(ConfigError, match="PROCORE_ACCESS_TOKEN contains") as caught:
            Credentials.from_env({"PROCORE_ACCESS_TOKEN": bad})
        assert bad not in str(caught.value)  # the secret itself is never shown
        # Only what is used is checked: a stale token beside client credentials stays unread.
        both = Credentials.from_env({**ENV, "PROCORE_ACCESS_TOKEN": bad})
        assert both.client_id == "id" and both.access_token is None


def test_a_config_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(b"folder = '\xff\xfe'\n")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_toml(path)


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


def run(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run(list(argv), ENV if env is None else env)
    return code, out.getvalue(), err.getvalue()


def one_usage_line(err: str) -> str:
    """The one error line of a usage error (argparse also prints the usage line above it)."""
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [line for line in err.splitlines() if not line.startswith(("usage:", "       "))]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        # B1: was a traceback ending in ConfigError, exit 1
        (("--segment-size", "5x"), "argument --segment-size: not a size: '5x'"),
        (("--segment-threshold", "lots"), "argument --segment-threshold: not a size: 'lots'"),
        (("--part-size", "1..2M"), "argument --part-size: not a size: '1..2M'"),
        (("--segment-size", "1MiB"), "argument --segment-size: expected a size from 5MiB to 5GiB"),
        (("--concurrency", "0"), "argument --concurrency/-j: expected a whole number from 1 to"),
        (("--retries", "-1"), "argument --retries: expected a whole number from 0 to 50"),
        # W9: was accepted (0 fell back to $PROCORE_COMPANY_ID; -5 and 99999 seconds went on)
        (("--company-id", "0"), "argument --company-id: expected a company id"),
        (("--company-id", "-4"), "argument --company-id: expected a company id"),
        (("--instruction-max-age", "-5"), "argument --instruction-max-age: expected a number"),
        (("--instruction-max-age", "99999"), "at most 3600"),
        (("--folder", "../.."), "argument --folder: '.' and '..' are not folder names"),
        (("--folder", "Docs/./2026"), "argument --folder: '.' and '..' are not folder names"),
        (("--folder", "Docs//2026"), "argument --folder: a folder name is empty"),
        (("--stats", "-1"), "argument --stats: expected a number of seconds"),
    ],
)
def test_a_bad_flag_value_is_one_usage_line_and_exit_2(argv: tuple[str, ...], says: str) -> None:
    code, out, err = run("src", "--project", "1", *argv)
    assert code == 2 and out == ""
    line = one_usage_line(err)
    assert line.startswith("bulkupload: error: ") and says in line, line


def test_a_company_id_of_0_in_the_environment_is_refused() -> None:
    """W9: `--company-id 0` no longer falls back to the environment; 0 there is refused too."""
    code, _, err = run("src", "--project", "1", env={**ENV, "PROCORE_COMPANY_ID": "0"})
    assert code == 2 and "PROCORE_COMPANY_ID must be a positive id, not 0" in err


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        # B4: each was "internal error: TypeError/ValueError/ExceptionGroup"
        ('concurrency = "lots"', 'concurrency = "lots": expected a whole number from 1 to 512'),
        ('project = "abc"', 'project = "abc": expected a project id'),
        ('segment_size = "1"', 'segment_size = "1": expected a size from 5MiB to 5GiB'),
        ("concurrency = 1.5", "concurrency = 1.5: expected a whole number"),
        ("include = 5", "include = 5: expected a list of strings"),
        ("exclude = [1, 2]", "exclude = [1, 2]: expected a list of strings"),
        # W5: "no" turned checksums on; "fancy" was accepted
        ('checksum = "no"', 'checksum = "no": expected true or false (without quotes)'),
        ('progress = "fancy"', 'progress = "fancy": expected one of auto, tty, plain, none'),
        ('folder = "../up"', "folder = \"../up\": '.' and '..' are not folder names"),
        ("instruction_max_age = -5", "instruction_max_age = -5: expected a number of seconds"),
        ("part-size = true", "part-size = true: expected a size over 5MiB"),
        ("concurency = 4", "unknown option(s): concurency (did you mean concurrency?)"),
        ("debug = true", "unknown option(s): debug"),
    ],
)
def test_a_mistyped_toml_value_is_one_line_naming_file_and_key(
    tmp_path: Path, toml: str, says: str
) -> None:
    config = tmp_path / "bulkupload.toml"
    config.write_text(f"project = 1\n{toml}\n" if "project" not in toml else toml + "\n")
    code, out, err = run("src", "--config", str(config))
    assert code == 2 and out == "", err
    [line] = err.strip().splitlines()
    assert line.startswith(f"bulkupload: error: {config}: ") and says in line, line


def test_toml_takes_what_the_flags_take(tmp_path: Path) -> None:
    """B4: a SIZE string was a TypeError in TOML; a number of bytes still works."""
    config = tmp_path / "bulkupload.toml"
    config.write_text(
        'project = 1\nsegment_threshold = "64MiB"\npart_size = "48MiB"\nsegment-size = "8MiB"\n'
        'checksum = false\nprogress = "plain"\ninclude = "*.pdf"\ninstruction_max_age = 600\n'
        "stats = 5\n"
    )
    merged = settings("src", "--config", str(config))
    assert merged.segment_threshold == 64 << 20 and merged.part_size == 48 << 20
    assert merged.segment_size == 8 << 20 and merged.checksum is False
    assert merged.progress == "plain" and merged.include == ("*.pdf",)
    assert merged.instruction_max_age == 600


def test_no_plan_from_the_flag_or_the_file(tmp_path: Path) -> None:
    assert settings("src", "--project", "1").plan is True
    assert settings("src", "--project", "1", "--no-plan").plan is False
    config = tmp_path / "bulkupload.toml"
    config.write_text("project = 1\nno_plan = true\n")
    assert settings("src", "--config", str(config)).plan is False
