"""`make demo`: start the emulator, generate a sample tree, upload it with the real CLI, summarise.

Everything happens on loopback; nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from .human import human_bytes

DISCIPLINES = {
    "Architectural": ["A-101 Floor Plan", "A-201 Elevations", "A-301 Sections", "A-501 Details"],
    "Structural": ["S-101 Foundation Plan", "S-201 Framing Plan", "S-501 Connections"],
    "MEP": ["M-101 HVAC Plan", "E-101 Lighting Plan", "P-101 Plumbing Riser"],
}
LEVELS = ["Level 1", "Level 2", "Level 3", "Roof"]


def make_sample_tree(root: Path, *, files: int = 300, seed: int = 42) -> tuple[int, int]:
    """A drawings-like tree: disciplines / levels / sheets and photos; returns (files, bytes)."""
    rng = random.Random(seed)
    count = total = 0
    while count < files:
        discipline = rng.choice(list(DISCIPLINES))
        level = rng.choice(LEVELS)
        sheet = rng.choice(DISCIPLINES[discipline])
        kind = rng.random()
        if kind < 0.6:
            rel = Path("Drawings") / discipline / level / f"{sheet} rev{count}.pdf"
            size = rng.randint(20_000, 400_000)
        elif kind < 0.9:
            rel = Path("Photos") / level / f"IMG_{count:04d}.jpg"
            size = rng.randint(50_000, 800_000)
        else:
            rel = Path("Specs") / f"Section 0{count % 10} – Spécification {count}.docx"
            size = rng.randint(1_000, 60_000)
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))
        count += 1
        total += size
    (root / "Specs" / "README (empty).txt").write_bytes(b"")
    return count + 1, total


def start_emulator(data_dir: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bulkupload.emulator",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    info: dict[str, str] = {}
    while len(info) < 3:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("the emulator did not start")
        key, _, value = line.strip().partition(": ")
        if key in ("base_url", "client_id", "client_secret"):
            info[key] = value
    return proc, info


def count_tree(node: dict[str, Any]) -> tuple[int, int]:
    """(folders, files) below a node of the emulator's Documents tree."""
    folders, files = len(node["folders"]), len(node["files"])
    for child in node["folders"]:
        more_folders, more_files = count_tree(child)
        folders, files = folders + more_folders, files + more_files
    return folders, files


def main() -> None:
    # Everything the demo makes (tree, emulator data, manifest, state, report) goes when it ends.
    with tempfile.TemporaryDirectory(prefix="bulkupload-demo-") as tmp:
        code = demo(Path(tmp))
    print(f"demo: removed {tmp}")
    sys.exit(code)


def demo(work: Path) -> int:
    tree = work / "drawings"
    files, size = make_sample_tree(tree)
    print(f"demo: generated {files} files ({human_bytes(size)}) in {tree}")
    proc, info = start_emulator(work / "emulator-data")
    base = info["base_url"]
    print(f"demo: emulator running at {base}")
    try:
        env = dict(
            os.environ,
            PROCORE_CLIENT_ID=info["client_id"],
            PROCORE_CLIENT_SECRET=info["client_secret"],
            PROCORE_COMPANY_ID="1",
        )
        cmd = [
            sys.executable,
            "-m",
            "bulkupload",
            str(tree),
            "--project",
            "42",
            "--concurrency",
            "16",
            "--folder",
            "Demo/Drawings migration",
            "--base-url",
            base,
            "--login-url",
            base,
            "--progress",
            "plain",
            "--manifest",
            str(work / "manifest.jsonl"),
            "--state",
            str(work / "state.sqlite"),
            "--report",
            str(work / "report.json"),
        ]
        print(
            "demo: $ bulkupload",
            str(tree),
            "--project 42 --concurrency 16 --folder 'Demo/Drawings migration'",
            flush=True,
        )
        code = subprocess.call(cmd, env=env)
        with urllib.request.urlopen(f"{base}/_emulator/counters") as answer:
            counters = json.load(answer)
        print(
            f"demo: the emulator saw {counters['api_calls']} API calls, "
            f"{counters['storage_requests']} storage POSTs, "
            f"{counters['storage_authorization_headers']} of them with an Authorization header"
        )
        with urllib.request.urlopen(f"{base}/_emulator/documents?project_id=42") as answer:
            tree = json.load(answer)
        folders, documents = count_tree(tree)
        print(f"demo: project 42's Documents tool now holds {documents} files in {folders} folders")
        print("demo: second run (nothing changed, so nothing is sent):", flush=True)
        code2 = subprocess.call(cmd, env=env)
        print(f"demo: exit codes {code}, {code2}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return code or code2


if __name__ == "__main__":
    main()
