"""Start-up: what only some runs need is imported only by them (issue 14: start-up is a tenth
of a 2,000-file run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import bulkupload

# Everything a plain upload imports before its first file: the command line, the runner, the
# pipeline and the protocols.
SCRIPT = """
import sys
import bulkupload.cli, bulkupload.runner, bulkupload.pipeline.run, bulkupload.protocols
print("\\n".join(sorted(sys.modules)))
"""

# Needed by a terminal's live line, Document Management, --bwlimit, --include/--exclude and
# --config only.
LATER = (
    "rich",
    "bulkupload.metadata",
    "bulkupload.procore.pdm",
    "bulkupload.destinations.document_management",
    "aiolimiter",
    "pathspec",
    "tomllib",
)


def test_a_plain_run_imports_none_of_what_only_some_runs_need() -> None:
    root = Path(bulkupload.__file__).parent.parent
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=root, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    imported = set(proc.stdout.split())
    assert "aiohttp" in imported and "bulkupload.runner" in imported  # the run itself is there
    early = {n for n in imported if any(n == m or n.startswith(f"{m}.") for m in LATER)}
    assert early == set()
