"""The package imports where POSIX-only modules are missing (Windows has no fcntl)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import bulkupload

SCRIPT = """
import importlib, pkgutil, sys
sys.modules["fcntl"] = None  # what `import fcntl` meets on Windows: ImportError
import bulkupload
names = [m.name for m in pkgutil.walk_packages(bulkupload.__path__, "bulkupload.")]
names = [n for n in names if not n.endswith(".__main__")]  # those run a program when imported
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def test_every_module_imports_without_fcntl() -> None:
    root = Path(bulkupload.__file__).parent.parent
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=root, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) >= 30  # every module was really imported
