"""Runs the real bulkupload CLI against a real emulator on loopback."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bulkupload import cli
from bulkupload.emulator.server import RunningEmulator
from bulkupload.retry import INSTANT_ENV, set_instant


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str
    manifest: Path


class Runner:
    """Builds the argv and environment a user would, against one emulator."""

    def __init__(self, emulator: RunningEmulator, work: Path) -> None:
        self.emulator = emulator
        self.work = work
        self.manifest = work / "manifest.jsonl"
        self.state = work / "state.sqlite"

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "PROCORE_CLIENT_ID": self.emulator.client_id,
            "PROCORE_CLIENT_SECRET": self.emulator.client_secret,
            "PROCORE_COMPANY_ID": "1",
            "PATH": os.environ.get("PATH", ""),
            # The default state and manifests (none of this suite's runs uses them unasked).
            "XDG_STATE_HOME": str(self.work / "state-home"),
            # Same retry decisions, no backoff sleeps: the suite does not wait out Retry-After.
            INSTANT_ENV: "1",
        }
        env.update(extra)
        return env

    def argv(self, *args: str, project: str | None = "42") -> list[str]:
        base = [
            "--base-url",
            self.emulator.base_url,
            "--login-url",
            self.emulator.login_url,
            "--manifest",
            str(self.manifest),
            "--state",
            str(self.state),
            "--progress",
            "none",
        ]
        if project is not None and "--company" not in args and "--project" not in args:
            base += ["--project", project]
        return [*base, *args]  # the test's own flags come last, so they win

    def __call__(self, *args: str, env: dict[str, str] | None = None, **kw: Any) -> CliRun:
        """In-process run of the real entry point (same code path as the console script)."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.run(self.argv(*args, **kw), env or self.env())
        return CliRun(code, out.getvalue(), err.getvalue(), self.manifest)

    def command(self, *args: str, drop_root_read: bool = False, **kw: Any) -> list[str]:
        """argv of the real CLI in its own process; `drop_root_read` makes root obey file
        permissions (no CAP_DAC_OVERRIDE), so an unreadable file really is unreadable."""
        cmd = [sys.executable, "-m", "bulkupload", *self.argv(*args, **kw)]
        if drop_root_read and os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("running as root without setpriv: cannot make a file unreadable")
            cmd = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *cmd]
        return cmd

    def subprocess(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120, **kw: Any
    ) -> CliRun:
        """The installed console script in its own process."""
        proc = subprocess.run(
            self.command(*args, **kw),
            env=env or self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return CliRun(proc.returncode, proc.stdout, proc.stderr, self.manifest)


@pytest.fixture(autouse=True)
def instant_retries() -> Iterator[None]:
    """In-process CLI runs retry without sleeping, like the subprocess runs (INSTANT_ENV)."""
    set_instant(True)
    yield
    set_instant(False)


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    with RunningEmulator() as emulator:
        yield emulator


@pytest.fixture
def runner(emu: RunningEmulator, tmp_path: Path) -> Runner:
    return Runner(emu, tmp_path)


@pytest.fixture
def make_runner(tmp_path: Path) -> Iterator[Any]:
    """A runner against an emulator with config overrides: `make_runner(upload_lifetime=2)`."""
    started: list[RunningEmulator] = []

    def make(**overrides: Any) -> Runner:
        emulator = RunningEmulator(**overrides)
        started.append(emulator)
        work = tmp_path / f"run{len(started)}"
        work.mkdir()
        return Runner(emulator, work)

    yield make
    for emulator in started:
        emulator.stop()
