"""Benchmark plumbing: the emulator as a subprocess, and clients measured by their wait4 rusage."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

MEASURE = Path(__file__).with_name("measure.py")
PROJECT_ID = 42
COMPANY_ID = 1


@dataclass(frozen=True, slots=True)
class Measured:
    """One client process: wall time, CPU (user + system) and peak RSS from its rusage."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    returncode: int


@dataclass(slots=True)
class Row:
    """One line of a results table."""

    client: str
    files: int
    nbytes: int
    measured: Measured
    api_calls: int
    rate_limited: int
    run_duration_s: float | None = None  # the client's own timing, when it reports one
    startup_cpu_s: float = 0.0  # CPU of starting the interpreter and importing the client
    emulator_cpu_s: float = 0.0  # what the emulator spent serving this client
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def files_per_s(self) -> float:
        return self.files / max(self.measured.wall_s, 1e-9)

    @property
    def mb_per_s(self) -> float:
        return self.nbytes / 1e6 / max(self.measured.wall_s, 1e-9)

    @property
    def cpu_ms_per_file(self) -> float:
        return self.measured.cpu_s * 1000 / max(self.files, 1)

    @property
    def emulator_busy(self) -> float:
        """Share of one core the emulator used during the run (near 1.0: it was the limit)."""
        return self.emulator_cpu_s / max(self.measured.wall_s, 1e-9)

    @property
    def net_cpu_ms_per_file(self) -> float:
        """CPU per file once the one-off start-up (interpreter + imports) is taken out."""
        return max(self.measured.cpu_s - self.startup_cpu_s, 0.0) * 1000 / max(self.files, 1)


def run_measured(
    command: Sequence[str], env: Mapping[str, str] | None = None, log: Path | None = None
) -> Measured:
    """Run `command` to completion; its own rusage (not the emulator's) gives CPU and peak RSS.

    The command runs under measure.py, a small intermediate process, so that its ru_maxrss does
    not start from this harness's size (Linux keeps the parent's peak across fork and exec).
    """
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        out = log.open("wb") if log is not None else subprocess.DEVNULL
        try:
            subprocess.run(
                [sys.executable, "-S", str(MEASURE), result.name, *command],
                env=dict(env) if env is not None else None,
                stdout=out,
                stderr=out,
                check=True,
            )
        finally:
            if log is not None and not isinstance(out, int):
                out.close()
        data = json.loads(Path(result.name).read_text())
    return Measured(
        wall_s=float(data["wall_s"]),
        cpu_s=float(data["cpu_s"]),
        peak_rss_mb=float(data["peak_rss_mb"]),
        returncode=int(data["returncode"]),
    )


def startup_cpu(*modules: str, tries: int = 3) -> float:
    """Least CPU seconds over `tries` runs of an interpreter that only imports `modules`."""
    code = "import " + ", ".join(modules)
    return min(run_measured([sys.executable, "-c", code]).cpu_s for _ in range(tries))


class Emulator:
    """`bulkupload-emulator` in a subprocess with its own data dir, removed on exit."""

    def __init__(self, workdir: Path, *flags: str, in_memory: bool = True) -> None:
        # Stored bytes go to RAM when possible: disk writeback stalls would add noise that is
        # neither the client's nor Procore's. Data sets bigger than RAM ask for the disk.
        shm = Path("/dev/shm")
        usable = in_memory and shm.is_dir() and os.access(shm, os.W_OK)
        root = shm if usable else workdir
        self.data_dir = Path(tempfile.mkdtemp(prefix="bench-emulator-", dir=root))
        # SeaweedFS (--storage seaweedfs) keeps its bytes and logs in a temp dir: make it ours.
        scratch = self.data_dir / "tmp"
        scratch.mkdir()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bulkupload.emulator",
                "--port",
                "0",
                "--data-dir",
                str(self.data_dir),
                *flags,
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, TMPDIR=str(scratch)),
        )
        assert self.process.stdout is not None
        info: dict[str, str] = {}
        while len(info) < 3:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the emulator did not start")
            key, _, value = line.strip().partition(": ")
            info[key] = value
        self.base_url = info["base_url"]
        self.client_id = info["client_id"]
        self.client_secret = info["client_secret"]

    def env(self) -> dict[str, str]:
        """Environment for a client: the emulator's service account and company."""
        return dict(
            os.environ,
            PROCORE_CLIENT_ID=self.client_id,
            PROCORE_CLIENT_SECRET=self.client_secret,
            PROCORE_COMPANY_ID=str(COMPANY_ID),
        )

    def admin(self, method: str, path: str) -> Any:
        """The JSON answer of an `/_emulator/` endpoint (an object or a list)."""
        data = b"{}" if method == "POST" else None
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def cpu_seconds(self) -> float:
        """CPU (user + system) the emulator and its children (SeaweedFS) have used so far."""
        return sum(_process_cpu(pid) for pid in _process_tree(self.process.pid))

    def counters(self) -> dict[str, Any]:
        counters: dict[str, Any] = self.admin("GET", "/_emulator/counters")
        return counters

    def reset(self) -> None:
        """Zero the counters so each client is counted alone."""
        self.admin("POST", "/_emulator/counters/reset")

    def purge_objects(self) -> None:
        """Delete stored bytes between clients so big scenarios do not fill the disk."""
        for name in ("objects", "parts"):  # v1 objects; v2.1 parts (an upload's pieces)
            folder = self.data_dir / name
            if folder.is_dir():
                for path in folder.iterdir():
                    if path.is_file():
                        path.unlink(missing_ok=True)

    def stop(self) -> None:
        children = {pid: _started(pid) for pid in _process_tree(self.process.pid)[1:]}
        # Its bytes are thrown away: SeaweedFS is killed at once, not asked to end (it takes
        # the emulator's 2 s of grace on SIGTERM, every time).
        _kill(children)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _kill(processes: dict[int, str | None]) -> None:
    """SIGKILL each of `processes` (pid: start time) that is still the same process."""
    for pid, started in processes.items():
        if started is not None and _started(pid) == started:  # the same process, not a reuse
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _process_tree(pid: int) -> list[int]:
    """`pid` and its live descendants, from /proc's children lists."""
    found, index = [pid], 0
    while index < len(found):
        for task in Path(f"/proc/{found[index]}/task").glob("*/children"):
            try:
                found += [int(child) for child in task.read_text().split()]
            except OSError:
                continue
        index += 1
    return found


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat from its third field on (after the command name); [] once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _process_cpu(pid: int) -> float:
    """CPU (user + system) one live process has used so far; 0 once it is gone."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else 0.0


def _started(pid: int) -> str | None:
    """When a live process started (clock ticks since boot): tells it from a reused pid."""
    fields = _stat(pid)
    return fields[19] if fields else None
