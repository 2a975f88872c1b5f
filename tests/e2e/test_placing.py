"""Issue #14: placing is its own stage, and neither a crash nor a long run costs a stored file.

Placing (attaching, or a Document Management batch) runs off the transfer slots, after the
state has recorded the stored bytes; its input is bounded, so the transfers cannot run ahead of
it by more than a batch and the workers in flight.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.e2e.conftest import Runner
from tests.e2e.test_document_management import (
    PDM,
    assert_one_revision_each,
    drawings_tree,
    write_rules,
)
from tests.e2e.test_nightly import assert_documents_hold, small_tree, state_report
from tests.proxy import Proxy


def test_placing_keeps_every_upload_within_its_24_hours_over_days_of_procores_time(
    make_runner: Any, tmp_path: Path
) -> None:
    """Each storage request moves Procore's clock on 10 minutes: the run lasts over two days
    of Procore's time, and Procore deletes a v2.1 upload not linked within 24 hours of its
    creation. Every upload is still linked in time, so every file becomes its revision."""
    runner: Runner = make_runner()
    runner.emulator.set_faults(storage_clock_step=600.0)
    src = tmp_path / "src"
    expected = drawings_tree(src, 300)
    before = runner.emulator.admin_get("/_emulator/clock")["now"]
    result = runner(str(src), *PDM, "--rules", str(write_rules(tmp_path)), "-j", "1")
    assert result.code == 0, result.stdout + result.stderr
    elapsed = runner.emulator.admin_get("/_emulator/clock")["now"] - before
    assert elapsed > 2 * 24 * 3600  # 300 storage requests: over two days on Procore's clock
    assert_one_revision_each(runner.emulator, expected)


class HoldingProxy(Proxy):
    """Passes every call on, except attaching (`POST /rest/v1.0/files`), which it answers
    503 with a long Retry-After: the run stores every file and then waits to place them."""

    def __init__(self, upstream: str) -> None:
        self.held = 0
        super().__init__(upstream, before=self._hold)

    def _hold(self, request: web.Request) -> web.StreamResponse | None:
        if request.method == "POST" and request.path.endswith("/rest/v1.0/files"):
            self.held += 1
            return web.json_response({"errors": "busy"}, status=503, headers={"Retry-After": "120"})
        return None


def stored_md5s(runner: Runner) -> set[str]:
    return {o["md5"] for o in runner.emulator.objects()}


def test_sigkill_between_storing_and_placing_leaves_stored_not_attached(
    runner: Runner, tmp_path: Path
) -> None:
    """Attaching is held: the run stores files until the placing backlog is full, then takes no
    new file. Killed then, every stored file is in the state as stored, not attached; the next
    run attaches those without sending their bytes again, and sends only the rest."""
    src = tmp_path / "src"
    expected = small_tree(src, 60)
    args = (str(src), "--folder", "Killed", "-j", "4")
    env = {k: v for k, v in runner.env().items() if k != "BULKUPLOAD_INSTANT_RETRIES"}
    with HoldingProxy(runner.emulator.base_url) as proxy:
        proc = subprocess.Popen(
            runner.command(*args, "--base-url", proxy.url),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        seen, still_since = stored_md5s(runner), time.monotonic()
        while proxy.held < 4 or time.monotonic() - still_since < 1.0:  # until it stalls
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
            if (now := stored_md5s(runner)) != seen:
                seen, still_since = now, time.monotonic()
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
    stored = {rel for rel, (md5, _) in expected.items() if md5 in seen}
    # Placing held, the transfers stopped at the backlog. A file counts in it from the moment
    # its sender stored it, and a sender takes a file only while fewer than its room (2 C) are
    # counted: at most room - 1 + a file per sender (C) can be stored, whatever the timing.
    print(f"stored when the backlog was full: {len(stored)} of {len(expected)}")
    assert 4 <= len(stored) <= 2 * 4 - 1 + 4
    rows = state_report(runner.state)
    assert {r["path"]: r["status"] for r in rows} == dict.fromkeys(stored, "sent")

    runner.emulator.reset_counters()
    result = runner(*args)
    assert result.code == 0, result.stdout + result.stderr
    # Attached without sending the stored bytes again; only the rest were sent.
    assert runner.emulator.counters()["storage_requests"] == len(expected) - len(stored)
    assert_documents_hold(runner.emulator, "Killed", expected)
