"""The command line's shape: which command a word names, help for every option of every command,
one resolution of connection settings, and one table from error to sentence and exit code."""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import socket
from pathlib import Path

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from bulkupload import cli
from bulkupload.cli.attach import attach_settings_from
from bulkupload.cli.failures import describe
from bulkupload.config import Settings
from bulkupload.destinations.documents import documents_state_key
from bulkupload.emulator.server import RunningEmulator
from bulkupload.errors import (
    ApiError,
    AuthError,
    ConfigError,
    InsecureApi,
    NetworkError,
    StateError,
    TargetUnusable,
)
from bulkupload.models import Target
from bulkupload.procore.unreachable import unreachable
from tests.trees import make_tree, read_manifest

ENV = {"PROCORE_CLIENT_ID": "id", "PROCORE_CLIENT_SECRET": "secret", "PROCORE_COMPANY_ID": "7"}


def run(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run(list(argv), ENV if env is None else env)
    return code, out.getvalue(), err.getvalue()


def parse(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(list(argv))


# ── which command ────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["./drawings", "--project", "42"], "upload"),
        (["--project", "42", "report"], "upload"),  # an upload option first: `report` is a SOURCE
        (["upload", "report", "--project", "42"], "upload"),
        (["./report", "--project", "42"], "upload"),
        (["--debug", "attach", "--project", "42"], "attach"),
        (["report", "--format", "csv"], "report"),
        ([], "upload"),
    ],
)
def test_the_first_word_names_the_command(argv: list[str], command: str) -> None:
    assert parse(*argv).command == command


def test_sources_named_like_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse("upload", "report", "--project", "1").sources == ["report"]
    assert parse("./report", "--project", "1").sources == ["./report"]
    assert parse("--project", "1", "attach").sources == ["attach"]


def test_a_word_that_is_a_command_and_a_path_gets_one_explaining_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was: `bulkupload report --project 1` failed with 'unrecognized arguments'."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "report").mkdir()
    code, out, err = run("report", "--no-attach")
    assert code == 2 and out == ""
    [line] = err.strip().splitlines()
    assert "'report' is the report command, and also a path here" in line
    assert "`bulkupload upload report ...`" in line and "`bulkupload ./report ...`" in line
    (tmp_path / "attach").mkdir()
    code, _, err = run("attach", "--no-such-flag")
    assert code == 2 and "`bulkupload upload attach ...`" in err
    # Where the command parses, the command runs: the path is not a reason to refuse it.
    code, _, err = run("report", "--state", str(tmp_path / "nothing.sqlite"))
    assert code == 2 and "no state store at" in err and "also a path" not in err


def test_debug_works_before_and_after_the_command_word(tmp_path: Path) -> None:
    missing = str(tmp_path / "none.sqlite")
    for argv in (
        ["--debug", "report", "--state", missing],
        ["report", "--state", missing, "--debug"],
    ):
        code, _, err = run(*argv)
        assert code == 2 and "Traceback" in err, argv
    code, _, err = run("report", "--state", missing)
    assert code == 2 and "Traceback" not in err
    assert err.strip() == f"bulkupload report: error: no state store at {missing}"


# ── help ─────────────────────────────────────────────────────────────────────────────────
def test_every_command_documents_every_option_in_its_help() -> None:
    parser = cli.build_parser()
    for name, sub in parser.commands.items():
        code, out, _ = run(name, "--help")
        assert code == 0, name
        for action in sub._actions:
            for option in action.option_strings:
                assert option in out, (name, option)
            if action.option_strings:
                assert action.help, (name, action.option_strings)
                # F7: each shows its default (but --help and --version)
                if not {"--help", "--version"} & set(action.option_strings):
                    assert "(default: " in action.help, (name, action.option_strings)
    code, out, _ = run("--help")
    assert code == 0
    for text in ("upload", "attach", "report", "bulkupload upload report", "exit codes"):
        assert text in out, text


def test_help_and_the_usage_line_name_every_command() -> None:
    """F6: `bulkupload help` was an upload of a SOURCE named help."""
    code, out, err = run("help")
    assert code == 0 and err == ""
    usage = out.split("\n\n")[0]
    for command in ("[upload] SOURCE", "attach", "report", "help"):
        assert f"bulkupload [-q|-v|--debug] {command}" in usage or f"bulkupload {command}" in usage
    code, out, _ = run("help", "attach")
    assert code == 0 and out.startswith("usage: bulkupload [-q|-v|--debug] attach")


@pytest.mark.parametrize(
    "argv",
    [
        ["--debug", "attach", "--project", "42"],
        ["-v", "attach", "--project", "42"],
        ["-vv", "report"],
        ["--log-level", "info", "attach"],
        ["--log-level=debug", "-q", "report"],
    ],
)
def test_global_flags_before_the_command_word(argv: list[str]) -> None:
    assert parse(*argv).command == argv[-1] if argv[-1] == "report" else "attach"


def test_version_before_or_after_a_source() -> None:
    for argv in (["--version"], ["./drawings", "--version"]):
        code, out, _ = run(*argv)
        assert code == 0 and out.startswith("bulkupload "), argv


# ── one resolution of the connection ─────────────────────────────────────────────────────
def test_upload_and_attach_resolve_the_connection_alike(tmp_path: Path) -> None:
    env = {**ENV, "PROCORE_BASE_URL": "https://sandbox.example/", "PROCORE_COMPANY_ID": ""}
    flags = ["--company", "9", "--login-url", "https://login.example", "--folder", "/A/B/"]
    upload = cli.settings_from(parse("src", *flags), env)
    attach = attach_settings_from(parse("attach", "--manifest", "m.jsonl", *flags), env).connection
    for name in ("base_url", "login_url", "company_id", "credentials", "allow_http"):
        assert getattr(attach, name) == getattr(upload, name), name
    assert attach.base_url == "https://sandbox.example" and attach.company_id == 9


def test_attach_refuses_what_upload_refuses() -> None:
    for argv in (["--project", "1", "--base-url", "http://api.example.com"], []):
        code, _, err = run("attach", *argv)
        assert code == 2, argv
        code_up, _, err_up = run("src", *argv)
        assert code_up == 2
        assert err.split(": error: ")[1].replace("attach", "upload") == err_up.split(": error: ")[1]


def test_attach_reads_the_upload_runs_config_file(tmp_path: Path) -> None:
    config = tmp_path / "bulkupload.toml"
    config.write_text(
        'sources = ["x"]\nproject = 42\nfolder = "Docs/"\nconcurrency = 3\nretries = 1\n'
        'manifest = "m.jsonl"\nstate = "s.sqlite"\nexclude = ["*.tmp"]\n',
        encoding="utf-8",
    )
    settings = attach_settings_from(parse("attach", "--config", str(config), "-j", "5"), ENV)
    assert settings.target == Target("project", 42)
    assert (settings.folder, settings.concurrency, settings.retries) == ("Docs", 5, 1)
    assert (settings.manifest, settings.state) == (Path("m.jsonl"), Path("s.sqlite"))


@pytest.mark.parametrize("key", ["debug", "config", "version", "command", "nonsense"])
def test_config_file_keys_that_steer_nothing_are_refused(tmp_path: Path, key: str) -> None:
    """Was: `debug`, `config` and `version` were accepted and silently ignored."""
    config = tmp_path / "c.toml"
    config.write_text(f"{key} = true\n", encoding="utf-8")
    for argv in (["upload", "src"], ["attach"]):
        code, _, err = run(*argv, "--project", "1", "--config", str(config))
        assert code == 2 and f"unknown option(s): {key}" in err, (argv, err)


def test_attach_records_under_the_key_an_upload_run_uses() -> None:
    for folder, attach_flag in (("", []), ("Migrations/2026", ["--folder", "Migrations/2026/"])):
        upload = Settings(
            sources=("x",),
            target=Target("project", 42),
            company_id=1,
            credentials=cli.settings_from(parse("x", "--project", "1"), ENV).credentials,
            folder=folder,
        )
        attach = attach_settings_from(
            parse("attach", "--manifest", "m.jsonl", "--project", "42", *attach_flag), ENV
        )
        assert attach.state_key == documents_state_key(upload.target, upload.folder)


# ── one table from error to sentence and exit code ───────────────────────────────────────
@pytest.mark.parametrize(
    ("error", "sentence"),
    [
        (ConfigError("no SOURCE given"), "no SOURCE given"),
        (AuthError("bad secret"), "authentication failed: bad secret"),
        (NetworkError("refused"), "cannot reach Procore: refused"),
        (StateError("state store s: locked"), "state store s: locked"),
        (TargetUnusable("project 9 not found"), "project 9 not found"),
        (InsecureApi("refusing plain http", host="h"), "refusing plain http"),
        (ApiError(500, "boom", call="GET /x"), "Procore refused the run: Procore API 500 (GET /x)"),
        (KeyError("id"), "internal error: KeyError: 'id'"),
    ],
)
def test_each_error_has_one_sentence_and_exit_2(error: Exception, sentence: str) -> None:
    text, code = describe(error)
    assert text.startswith(sentence) and code == 2


@pytest.mark.parametrize(
    ("cause", "words"),
    [
        (
            aiohttp.ClientConnectorDNSError(
                ConnectionKey("login.example", 443, True, True, None, None, None),
                OSError(socket.EAI_NONAME, "Name or service not known"),
            ),
            "DNS lookup failed: no such host, or no network",
        ),
        (aiohttp.ConnectionTimeoutError("Connection timeout to host"), "timed out"),
        (TimeoutError(), "timed out"),
        (aiohttp.ServerDisconnectedError(), "the server closed the connection"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "connection reset"),
        (
            aiohttp.ClientConnectorError(
                ConnectionKey("h", 1, False, True, None, None, None),
                ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
            ),
            "connection refused: nothing listens there",
        ),
    ],
)
def test_a_network_error_names_the_host_and_the_cause(cause: Exception, words: str) -> None:
    """F5: was `cannot reach the login server: ClientConnectorDNSError`."""
    login = unreachable("https://login.procore.com/oauth/token", cause, login=True)
    text, code = describe(login)
    assert code == 2
    assert text == (
        f"cannot reach the login server https://login.procore.com ({words}); if that is not "
        "your login server, set --login-url or PROCORE_LOGIN_URL"
    )
    api = unreachable("http://127.0.0.1:8080/rest/v1.0/x", cause, call="GET /rest/v1.0/x")
    assert describe(api)[0] == f"cannot reach http://127.0.0.1:8080 ({words}; GET /rest/v1.0/x)"


def test_a_task_group_error_is_described_by_the_first_of_ours() -> None:
    group = ExceptionGroup("tasks", [KeyError("x"), ExceptionGroup("inner", [AuthError("no")])])
    assert describe(group) == ("authentication failed: no", 2)
    assert describe(ExceptionGroup("tasks", [KeyError("x")]))[0] == "internal error: KeyError: 'x'"


# ── a SOURCE named `report`, uploaded for real ───────────────────────────────────────────
def test_a_directory_named_report_is_uploaded(
    emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    expected = make_tree(tmp_path / "report", 5)
    env = {
        "PROCORE_CLIENT_ID": emulator.client_id,
        "PROCORE_CLIENT_SECRET": emulator.client_secret,
        "PROCORE_COMPANY_ID": "1",
    }
    common = ["--project", "42", "--base-url", emulator.base_url, "--login-url", emulator.login_url]
    common += ["--progress", "none", "--no-attach"]
    for n, argv in enumerate((["upload", "report"], ["./report"], [*common[:2], "report"])):
        manifest = tmp_path / f"m{n}.jsonl"
        state = tmp_path / f"s{n}.sqlite"
        code, out, err = run(
            *argv, *common, "--manifest", str(manifest), "--state", str(state), env=env
        )
        assert code == 0, (argv, out, err)
        assert f"{len(expected)} uploaded" in out, argv
        assert len(read_manifest(manifest)) == len(expected)
    code, _, err = run("report", *common, env=env)
    assert code == 2 and "bulkupload upload report" in err
