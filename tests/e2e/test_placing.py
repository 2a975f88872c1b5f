"""Issue #14: placing is its own stage, and neither a crash nor a long run costs a stored file.

Placing (attaching, or a Document Management batch) runs off the transfer slots, after the
state has recorded the stored bytes; its input is bounded, so the transfers cannot run ahead of
it by more than a batch and the workers in flight.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

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

T = TypeVar("T")


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
    """Passes every call on, except placing's first (a POST to `held_path`: attaching, or a
    batch's document uploads), which it answers 503 with a long Retry-After: the run stores
    files and then waits to place them."""

    def __init__(self, upstream: str, held_path: str) -> None:
        self.held = 0
        self.held_path = held_path
        super().__init__(upstream, before=self._hold)

    def _hold(self, request: web.Request) -> web.StreamResponse | None:
        if request.method == "POST" and request.path.endswith(self.held_path):
            self.held += 1
            return web.json_response({"errors": "busy"}, status=503, headers={"Retry-After": "120"})
        return None


def stored_md5s(runner: Runner) -> set[str]:
    return {o["md5"] for o in runner.emulator.objects()}


def kill_when_stalled(
    runner: Runner,
    args: tuple[str, ...],
    held_path: str,
    stored: Callable[[], T],
    *,
    held: int = 1,
    quiet: float = 1.0,
) -> T:
    """Run the CLI with placing's first call held (`held_path`) and SIGKILL it once `held`
    calls were held and `stored` has not changed for `quiet` seconds; what `stored` saw then."""
    env = {k: v for k, v in runner.env().items() if k != "BULKUPLOAD_INSTANT_RETRIES"}
    with HoldingProxy(runner.emulator.base_url, held_path) as proxy:
        proc = subprocess.Popen(
            runner.command(*args, "--base-url", proxy.url),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        seen, still_since = stored(), time.monotonic()
        while proxy.held < held or time.monotonic() - still_since < quiet:  # until it stalls
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
            if (now := stored()) != seen:
                seen, still_since = now, time.monotonic()
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
    return seen


def test_sigkill_between_storing_and_placing_leaves_stored_not_attached(
    runner: Runner, tmp_path: Path
) -> None:
    """Attaching is held: the run stores files until the placing backlog is full, then takes no
    new file. Killed then, every stored file is in the state as stored, not attached; the next
    run attaches those without sending their bytes again, and sends only the rest."""
    src = tmp_path / "src"
    expected = small_tree(src, 60)
    args = (str(src), "--folder", "Killed", "-j", "4")
    seen = kill_when_stalled(runner, args, "/rest/v1.0/files", lambda: stored_md5s(runner), held=4)
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


def v21_stored(runner: Runner) -> int:
    """v2.1 uploads whose every part has reached storage."""
    return sum(1 for u in runner.emulator.v21_uploads() if u["parts_received"] == u["parts"])


def test_document_management_sends_the_next_batch_while_one_is_placed(
    runner: Runner, tmp_path: Path
) -> None:
    """Placing's first call for a batch (creating its document uploads) is held: the senders go
    on storing the next batch meanwhile, then stop when the backlog holds two batches. A file
    counts from the moment it is stored, and a sender takes one only while fewer than two
    batches (200) are counted: at least 200 and at most 200 - 1 + C are stored."""
    src = tmp_path / "src"
    expected = drawings_tree(src, 260)
    args = (str(src), *PDM, "--rules", str(write_rules(tmp_path)), "-j", "4")
    seen = kill_when_stalled(
        runner,
        args,
        "/document_management/document_uploads",
        lambda: v21_stored(runner),
        quiet=2.0,  # each look at the v2.1 uploads costs the emulator more than a listing
    )
    print(f"stored while the first batch was held: {seen} of {len(expected)}")
    assert 2 * 100 <= seen <= 2 * 100 - 1 + 4
    result = runner(*args)
    assert result.code == 0, result.stdout + result.stderr
    assert_one_revision_each(runner.emulator, expected)
