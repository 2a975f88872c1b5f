"""The commands freeze what the imports made and collect the youngest generation less often."""

from __future__ import annotations

import gc
import subprocess
import sys

from bulkupload.cli.collector import YOUNGEST, tune_collector


def test_the_imports_are_frozen_and_young_objects_collected_less_often() -> None:
    before = gc.get_threshold()
    tracked = len(gc.get_objects())
    try:
        tune_collector()
        # What existed is frozen: out of every generation the collector walks.
        assert gc.get_freeze_count() >= tracked - 1_000
        assert len(gc.get_objects()) < 1_000
        assert gc.get_threshold() == (YOUNGEST, before[1], before[2])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_the_command_line_tunes_the_collector_before_it_runs() -> None:
    probe = (
        "import gc, bulkupload.cli as cli\n"
        "cli.run = lambda: print(gc.get_threshold()[0], gc.get_freeze_count() > 10_000) or 0\n"
        "cli.main()\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(YOUNGEST), "True"]
