"""Issue #12 end to end: files into Procore's Document Management through the real CLI.

Each file's metadata comes from a rules file and a sidecar; bytes go as v2.1 uploads; document
uploads are created, completed and submitted in batches of up to 100. Checked through the
emulator's views of its containers, revisions and document uploads.
"""

from __future__ import annotations

import csv
import hashlib
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bulkupload.emulator.faults import reset_connection
from bulkupload.emulator.server import RunningEmulator
from tests.e2e.conftest import Runner
from tests.proxy import Proxy
from tests.trees import read_manifest

PDM = ("--to", "document-management")
DISCIPLINES = {"A": "Architectural", "S": "Structural", "M": "Mechanical", "E": "Electrical"}

RULES = """
[defaults]
status = "Open"
revision = "A"

[[rule]]
match = "Drawings/{discipline}/{number}.pdf"
[rule.fields]
type = "Drawing"
name = "{number}"
discipline = "{discipline}"
number = "{number}"

[[rule]]
match = "Specs/{section}/{number}.pdf"
[rule.fields]
type = "Specification"
name = "Spec {number}"
"""


def drawings_tree(src: Path, count: int, *, seed: int = 3) -> dict[str, dict[str, str]]:
    """`count` files in a nested drawings-and-specs tree; rel -> the metadata each should get
    from RULES (labels, as the emulator's views show them)."""
    rng = random.Random(seed)
    expected: dict[str, dict[str, str]] = {}
    for i in range(count):
        if i % 5 == 4:
            number = f"{3 + i % 7:02d}-{i:04d}"
            rel = f"Specs/{number[:2]}0000/{number}.pdf"
            meta = {"type": "Specification", "name": f"Spec {number}"}
        else:
            code = "ASME"[i % 4]
            number = f"{code}-{i:04d}"
            rel = f"Drawings/{code}/{number}.pdf"
            meta = {
                "type": "Drawing",
                "name": number,
                "discipline": DISCIPLINES[code],
                "number": number,
            }
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"%PDF-1.7\n" + rng.randbytes(rng.randint(100, 4000)))
        expected[rel] = {**meta, "status": "Open", "revision": "A"}
    return expected


def write_rules(work: Path, text: str = RULES) -> Path:
    rules = work / "rules.toml"
    rules.write_text(text)
    return rules


def write_sidecar(work: Path, rows: dict[str, dict[str, str]]) -> Path:
    columns = sorted({key for row in rows.values() for key in row})
    sidecar = work / "sidecar.csv"
    with sidecar.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", *columns])
        for rel, row in rows.items():
            writer.writerow([rel, *(row.get(c, "") for c in columns)])
    return sidecar


def revisions(emulator: RunningEmulator, project: int = 42) -> dict[str, list[dict[str, Any]]]:
    """Each container's revisions in version order, by the container's match criteria."""
    return {c["match_criteria"]: c["revisions"] for c in emulator.pdm_documents(project)}


def by_file(emulator: RunningEmulator, project: int = 42) -> dict[str, list[dict[str, Any]]]:
    """Every revision by its file name."""
    out: dict[str, list[dict[str, Any]]] = {}
    for revs in revisions(emulator, project).values():
        for rev in revs:
            out.setdefault(rev["file_name"], []).append(rev)
    return out


def assert_one_revision_each(emulator: RunningEmulator, expected: dict[str, Any]) -> None:
    """Exactly one revision per file of `expected` (by file name), none of anything else."""
    held = by_file(emulator)
    assert {n: len(r) for n, r in held.items()} == {rel.rsplit("/", 1)[1]: 1 for rel in expected}


def manual_fields(revision: dict[str, Any]) -> dict[str, str]:
    """The fields this client set (Procore's ML may fill others)."""
    return {k: v for k, v in revision["metadata"].items() if revision["sources"][k] == "MANUAL"}


def api_calls(emulator: RunningEmulator) -> int:
    return int(emulator.counters()["api_calls"])


def creates(emulator: RunningEmulator) -> int:
    routes: dict[str, int] = emulator.counters()["api_calls_by_route"]
    return sum(n for r, n in routes.items() if r.startswith("POST") and r.endswith("/uploads"))


def test_a_tree_with_rules_and_a_sidecar_becomes_revisions(runner: Runner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    expected = drawings_tree(src, 300)
    # The sidecar (a document controller's spreadsheet) wins over the rules where it has cells.
    reviewed = sorted(expected)[::37]
    sidecar_rows = {
        rel: {"status": "In Review", "description": f"checked {rel}"} for rel in reviewed
    }
    for rel in reviewed:
        expected[rel].update(sidecar_rows[rel])
    rules = write_rules(tmp_path)
    sidecar = write_sidecar(tmp_path, sidecar_rows)
    flags = (*PDM, "--rules", str(rules), "--sidecar", str(sidecar))

    result = runner(str(src), *flags)
    assert result.code == 0, result.stdout + result.stderr
    lines = read_manifest(runner.manifest)
    assert len(lines) == 300 and {r["status"] for r in lines} == {"uploaded"}
    calls = api_calls(runner.emulator)
    assert calls / 300 <= 2.2, calls
    print(f"API calls per file, 300 files into Document Management: {calls / 300:.3f}")

    held = by_file(runner.emulator)
    assert len(held) == 300 and all(len(revs) == 1 for revs in held.values())
    for rel, meta in expected.items():
        [rev] = held[rel.rsplit("/", 1)[1]]
        assert manual_fields(rev) == meta, rel
        assert rev["version"] == 1
    containers = revisions(runner.emulator)
    assert set(containers) == {f"{m['name']}|application/pdf" for m in expected.values()}

    # A changed drawing with its new revision letter becomes revision 2 of its container.
    changed = "Drawings/S/S-0001.pdf"
    with (src / changed).open("ab") as fh:
        fh.write(b"revised")
    sidecar_rows[changed] = {"revision": "B"}
    write_sidecar(tmp_path, sidecar_rows)
    before = api_calls(runner.emulator)
    result = runner(str(src), *flags)
    assert result.code == 0, result.stdout + result.stderr
    assert api_calls(runner.emulator) - before <= 20  # the catalog and one file's calls
    revs = revisions(runner.emulator)["S-0001|application/pdf"]
    assert [r["version"] for r in revs] == [1, 2]
    assert manual_fields(revs[1])["revision"] == "B"
    assert sum(len(r) for r in revisions(runner.emulator).values()) == 301

    # Nothing changed: no API call at all.
    before = api_calls(runner.emulator)
    result = runner(str(src), *flags)
    assert result.code == 0, result.stdout + result.stderr
    assert api_calls(runner.emulator) == before


@pytest.mark.seaweedfs
def test_revisions_from_parts_a_real_s3_seaweedfs_holds(
    seaweed_emulator: RunningEmulator, tmp_path: Path
) -> None:
    """The same placing when SeaweedFS holds the v2.1 parts (its own presigned UploadPart URLs)."""
    runner = Runner(seaweed_emulator, tmp_path)
    src = tmp_path / "src"
    expected = drawings_tree(src, 40, seed=11)
    result = runner(str(src), *PDM, "--rules", str(write_rules(tmp_path)))
    assert result.code == 0, result.stdout + result.stderr
    lines = read_manifest(runner.manifest)
    assert len(lines) == 40 and {r["status"] for r in lines} == {"uploaded"}
    held = by_file(seaweed_emulator)
    for rel, meta in expected.items():
        [rev] = held[rel.rsplit("/", 1)[1]]
        assert manual_fields(rev) == meta, rel
        assert rev["md5"] == hashlib.md5((src / rel).read_bytes()).hexdigest()


def test_a_dry_run_lists_every_metadata_problem_and_creates_nothing(
    runner: Runner, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    drawings_tree(src, 20)
    (src / "Misc").mkdir()
    (src / "Misc" / "notes.pdf").write_bytes(b"%PDF no rule matches this one")
    (src / "Drawings" / "Q").mkdir()
    (src / "Drawings" / "Q" / "Q-9999.pdf").write_bytes(b"%PDF discipline Q is not a value")
    rules = write_rules(tmp_path)
    sheet = tmp_path / "fill-in.csv"
    result = runner(
        str(src), *PDM, "--rules", str(rules), "--dry-run", "--metadata-sheet", str(sheet)
    )
    out = result.stdout + result.stderr
    assert result.code == 1, out
    assert creates(runner.emulator) == 0
    assert not runner.emulator.v21_uploads() and not runner.emulator.pdm_uploads(42)
    dry_manifest = runner.manifest.with_name("manifest-dry-run.jsonl")  # a dry run's own
    records = {r["path"]: r for r in read_manifest(dry_manifest)}
    notes, q = records["Misc/notes.pdf"], records["Drawings/Q/Q-9999.pdf"]
    assert notes["status"] == q["status"] == "failed"
    assert "Type: is required" in notes["error"]  # no rule matches: required, not given
    assert "Q" in q["error"]  # no Discipline of that label or code
    assert sum(r["error"] == "dry run: would upload" for r in records.values()) == 20
    with sheet.open(newline="", encoding="utf-8-sig") as fh:  # a BOM, for spreadsheets
        rows = {row["path"]: row for row in csv.DictReader(fh)}
    assert set(rows) == {"Misc/notes.pdf", "Drawings/Q/Q-9999.pdf"}
    assert "metadata to fill in" in out


def test_sigkill_at_three_moments_then_one_revision_per_file(
    make_runner: Any, tmp_path: Path
) -> None:
    runner: Runner = make_runner(api_latency=0.002)
    src = tmp_path / "src"
    expected = drawings_tree(src, 1000)
    rules = write_rules(tmp_path)
    flags = (*PDM, "--rules", str(rules), "-j", "16")
    rng = random.Random(12)
    # Three moments picked at random over the run's ~2,050 API calls: among the creates and
    # parts, the batches' PATCHes and submits, and near the end.
    for low, high in ((100, 700), (700, 1400), (1400, 2000)):
        at = rng.randint(low, high)
        proc = subprocess.Popen(
            runner.command(str(src), *flags),
            env=runner.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while api_calls(runner.emulator) < at and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL  # killed mid-run, not finished
    result = runner(str(src), *flags)
    assert result.code == 0, result.stdout + result.stderr
    held = by_file(runner.emulator)
    assert {name: len(revs) for name, revs in held.items()} == {
        rel.rsplit("/", 1)[1]: 1 for rel in expected
    }
    lines = read_manifest(runner.manifest)
    assert len(lines) == 1000 and all(r["status"] in ("uploaded", "skipped") for r in lines)
    # Every upload linked to a revision came from this tree, and no submitted one twice.
    submitted = [u for u in runner.emulator.pdm_uploads(42) if u["state"] == "submitted"]
    assert len(submitted) == 1000


def test_failed_ids_in_the_207_are_sent_again_then_fail_alone(
    make_runner: Any, tmp_path: Path
) -> None:
    runner: Runner = make_runner(seed=5, fault_pdm_verify_failed=0.3)
    src = tmp_path / "src"
    expected = drawings_tree(src, 60)
    flags = (*PDM, "--rules", str(write_rules(tmp_path)))
    result = runner(str(src), *flags)
    # A PATCH item that failed is sent once more; failing twice, the file fails with Procore's
    # word, and its stored bytes and document upload wait for the next run.
    records = {r["path"]: r for r in read_manifest(runner.manifest)}
    refused = {rel for rel, r in records.items() if r["status"] == "failed"}
    assert refused and result.code == 1, result.stdout + result.stderr
    assert all("Procore refused the document upload" in records[r]["error"] for r in refused)
    assert runner.emulator.counters()["faults_injected"]["pdm_verify_failed"] > len(refused)
    sent_before = len(runner.emulator.v21_uploads())

    runner.emulator.set_faults(pdm_verify_failed=0.0)
    result = runner(str(src), *flags)
    assert result.code == 0, result.stdout + result.stderr
    assert len(runner.emulator.v21_uploads()) == sent_before  # no bytes sent again
    assert_one_revision_each(runner.emulator, expected)


class LosingProxy(Proxy):
    """Passes everything to the emulator; the answers to the first `lose` calls of `route`
    (method, path suffix) are lost after Procore did the work."""

    def __init__(self, upstream: str, route: tuple[str, str], lose: int = 1) -> None:
        self.route, self.lose = route, lose
        super().__init__(upstream, after=self._after)

    def _after(self, request: web.Request, status: int, body: bytes) -> web.StreamResponse | None:
        method, suffix = self.route
        if request.method == method and request.path.endswith(suffix) and self.lose > 0:
            self.lose -= 1
            reset_connection(request)
            return web.Response()
        return None


@pytest.mark.parametrize("retries", ["5", "0"])
def test_a_lost_submit_answer_never_makes_a_second_revision(
    runner: Runner, tmp_path: Path, retries: str
) -> None:
    """Retried, the submit is refused (the uploads are no longer waiting: they were submitted),
    which settles it. Not retried, the run ends unplaced; the next one's PATCH finds the
    document uploads gone from the 207 (consumed), which says the same."""
    src = tmp_path / "src"
    expected = drawings_tree(src, 30)
    flags = (*PDM, "--rules", str(write_rules(tmp_path)), "--retries", retries)
    with LosingProxy(runner.emulator.base_url, ("POST", "/document_revisions")) as proxy:
        first = runner(str(src), *flags, "--base-url", proxy.url)
    if retries == "0":
        assert first.code == 1
        records = read_manifest(runner.manifest)
        assert {r["status"] for r in records} == {"failed"}
        assert all("not placed" in r["error"] for r in records)
        again = runner(str(src), *flags)
        assert again.code == 0, again.stdout + again.stderr
        actions = {r.get("action") for r in read_manifest(runner.manifest)}
        assert actions == {"submitted earlier"}
    else:
        assert first.code == 0, first.stdout + first.stderr
    assert_one_revision_each(runner.emulator, expected)
    assert len(runner.emulator.v21_uploads()) == 30  # and no bytes sent twice


def test_a_lost_create_answer_leaves_only_invisible_orphans(runner: Runner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    expected = drawings_tree(src, 30)
    flags = (*PDM, "--rules", str(write_rules(tmp_path)))
    with LosingProxy(runner.emulator.base_url, ("POST", "/document_uploads")) as proxy:
        result = runner(str(src), *flags, "--base-url", proxy.url)
    assert result.code == 0, result.stdout + result.stderr
    uploads = runner.emulator.pdm_uploads(42)
    orphans = [u for u in uploads if u["state"] == "live" and u["upload_status"] == "INCOMPLETE"]
    assert len(orphans) == 30  # the lost create's, never completed nor submitted
    assert_one_revision_each(runner.emulator, expected)


def test_concurrency_conflicts_are_submitted_again_with_fresh_event_ids(
    make_runner: Any, tmp_path: Path
) -> None:
    runner: Runner = make_runner(seed=8, fault_pdm_submit_conflict=0.25)
    src = tmp_path / "src"
    expected = drawings_tree(src, 40)
    result = runner(str(src), *PDM, "--rules", str(write_rules(tmp_path)))
    assert result.code == 0, result.stdout + result.stderr
    assert runner.emulator.counters()["faults_injected"]["pdm_submit_conflict"] >= 5
    assert_one_revision_each(runner.emulator, expected)


def test_a_duplicate_revision_fails_alone_with_what_to_do(runner: Runner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    drawings_tree(src, 10)
    flags = (*PDM, "--rules", str(write_rules(tmp_path)))
    assert runner(str(src), *flags).code == 0
    with (src / "Drawings/A/A-0000.pdf").open("ab") as fh:
        fh.write(b"changed, but still revision A")  # project 42 refuses duplicate revisions
    result = runner(str(src), *flags)
    assert result.code == 1
    [line] = [r for r in read_manifest(runner.manifest) if r["status"] == "failed"]
    assert line["path"] == "Drawings/A/A-0000.pdf"
    assert "DUPLICATE_REVISION" in line["error"] and "new revision value" in line["error"]
    assert len(revisions(runner.emulator)["A-0000|application/pdf"]) == 1


def test_a_workflow_in_the_way_is_ended_only_when_asked(runner: Runner, tmp_path: Path) -> None:
    # Project 200 (company 2) starts a review workflow on every revision.
    src = tmp_path / "src"
    drawings_tree(src, 4)
    rules = write_rules(tmp_path)
    env = runner.env(PROCORE_COMPANY_ID="2")
    flags = (*PDM, "--rules", str(rules), "--project", "200")
    assert runner(str(src), *flags, env=env).code == 0
    changed = "Drawings/A/A-0000.pdf"
    with (src / changed).open("ab") as fh:
        fh.write(b"revised")
    write_sidecar(tmp_path, {changed: {"revision": "B"}})
    flags = (*flags, "--sidecar", str(tmp_path / "sidecar.csv"))
    result = runner(str(src), *flags, env=env)
    assert result.code == 1
    [line] = [r for r in read_manifest(runner.manifest) if r["status"] == "failed"]
    assert "WORKFLOW_CONFLICT" in line["error"] and "--terminate-workflows" in line["error"]
    ending = ("--terminate-workflows", "superseded by revision B", "--terminated-status", "Void")
    result = runner(str(src), *flags, *ending, env=env)
    assert result.code == 2 and "--terminated-status" in result.stderr  # Void is inactive
    result = runner(str(src), *flags, ending[0], ending[1], ending[2], "Closed", env=env)
    assert result.code == 0, result.stdout + result.stderr
    revs = revisions(runner.emulator, 200)["A-0000|application/pdf"]
    assert [r["version"] for r in revs] == [1, 2]
    assert revs[0]["termination_reason"] == "superseded by revision B"


@pytest.mark.parametrize(
    ("client", "missing"),
    [("pdm-no-upload-client-id", "Upload New Files"), ("pdm-no-submit-client-id", "Submit")],
)
def test_an_identity_without_the_permission_stops_with_one_line(
    runner: Runner, tmp_path: Path, client: str, missing: str
) -> None:
    src = tmp_path / "src"
    drawings_tree(src, 5)
    env = runner.env(
        PROCORE_CLIENT_ID=client, PROCORE_CLIENT_SECRET=client.replace("-id", "-secret")
    )
    result = runner(str(src), *PDM, "--rules", str(write_rules(tmp_path)), env=env)
    assert result.code == 2, result.stdout + result.stderr
    assert missing in result.stderr and "Traceback" not in result.stderr
    assert not revisions(runner.emulator)
    # Every file found still has its line, saying it was not placed.
    assert len(read_manifest(runner.manifest)) == 5


def test_bytes_past_the_24_hour_deadline_are_sent_again(runner: Runner, tmp_path: Path) -> None:
    """Stored, then no document upload could be made; a day later on Procore's clock (not
    ours) the unlinked bytes are deleted: the next run sees it in Procore's state and sends
    them again."""
    src = tmp_path / "src"
    expected = drawings_tree(src, 6)
    flags = (*PDM, "--rules", str(write_rules(tmp_path)), "--retries", "0")
    with LosingProxy(runner.emulator.base_url, ("POST", "/document_uploads"), lose=10) as proxy:
        first = runner(str(src), *flags, "--base-url", proxy.url)
    assert first.code == 1
    assert "deletes them from" in first.stdout  # the warning names the deadline
    runner.emulator.advance_clock(24 * 3600 + 60)
    result = runner(str(src), *flags)
    assert result.code == 0, result.stdout + result.stderr
    assert len(runner.emulator.v21_uploads()) == 6  # the first run's were deleted
    assert_one_revision_each(runner.emulator, expected)


def test_document_uploads_deleted_unsubmitted_are_made_again(
    runner: Runner, tmp_path: Path
) -> None:
    """Completed, then the run died before submitting; a day later Procore has deleted the
    document uploads (410 when read, where a submitted one is 404): new ones, one revision
    each, no bytes sent again."""
    src = tmp_path / "src"
    expected = drawings_tree(src, 6)
    flags = (*PDM, "--rules", str(write_rules(tmp_path)), "--retries", "0")
    with LosingProxy(runner.emulator.base_url, ("POST", "/selected_uploads"), lose=10) as proxy:
        first = runner(str(src), *flags, "--base-url", proxy.url)
    assert first.code == 1 and not revisions(runner.emulator)
    runner.emulator.advance_clock(24 * 3600 + 60)
    result = runner(str(src), *flags)
    assert result.code == 0, result.stdout + result.stderr
    assert len(runner.emulator.v21_uploads()) == 6  # linked bytes are kept
    assert_one_revision_each(runner.emulator, expected)
    states = [u["state"] for u in runner.emulator.pdm_uploads(42)]
    assert states.count("expired") == 6 and states.count("submitted") == 6
