"""`bulkupload.upload(settings, stop=...)`: the library entry point behind `bulkupload upload`."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

import bulkupload
from bulkupload.emulator.server import RunningEmulator
from bulkupload.models import WalkItem
from bulkupload.pipeline import walking
from tests.trees import make_tree, read_manifest


def settings_for(emulator: RunningEmulator, work: Path, **extra: object) -> bulkupload.Settings:
    return bulkupload.Settings(
        sources=(str(work / "src"),),
        target=bulkupload.Target("project", 42),
        company_id=1,
        credentials=bulkupload.Credentials(
            client_id=emulator.client_id, client_secret=emulator.client_secret
        ),
        base_url=emulator.base_url,
        login_url=emulator.login_url,
        manifest=work / "manifest.jsonl",
        state=work / "state.sqlite",
        progress="none",
        **extra,  # type: ignore[arg-type]
    )


async def test_upload_returns_the_outcome_and_prints_nothing(
    emulator: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = make_tree(tmp_path / "src", 12)
    report = tmp_path / "out" / "report.json"
    outcome = await bulkupload.upload(settings_for(emulator, tmp_path, report=report))
    assert isinstance(outcome, bulkupload.RunOutcome)
    assert outcome.tally.uploaded == len(expected) and outcome.tally.failed == 0
    assert outcome.stopped_by is None
    assert len(read_manifest(tmp_path / "manifest.jsonl")) == len(expected)
    assert report.exists()  # --report is part of the settings, so the library writes it
    assert capsys.readouterr().out == ""


async def test_a_stop_event_stops_the_run_like_sigint(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    make_tree(tmp_path / "src", 30)
    stop = anyio.Event()
    stop.set()
    outcome = await bulkupload.upload(settings_for(emulator, tmp_path), stop=stop)
    assert outcome.stopped_by == signal.SIGINT
    assert outcome.tally.uploaded < 30
    assert len(read_manifest(tmp_path / "manifest.jsonl")) == outcome.tally.found
    # The next run, without a stop, finishes the job.
    again = await bulkupload.upload(settings_for(emulator, tmp_path))
    assert again.stopped_by is None and again.tally.failed == 0
    assert again.tally.uploaded + outcome.tally.uploaded == again.tally.found


async def test_a_stop_mid_run_finishes_what_is_in_flight(
    make_emulator: Callable[..., RunningEmulator], tmp_path: Path
) -> None:
    emulator = make_emulator(api_latency=0.02)  # slow enough to be stopped halfway
    make_tree(tmp_path / "src", 60)
    stop = anyio.Event()

    async def stop_after_first_upload() -> None:
        for _ in range(2000):  # the emulator tells no one when a file is stored: ask it
            if (await anyio.to_thread.run_sync(emulator.counters))["storage_success"]:
                break
            await anyio.sleep(0.005)
        stop.set()

    async with anyio.create_task_group() as group:
        group.start_soon(stop_after_first_upload)
        outcome = await bulkupload.upload(settings_for(emulator, tmp_path), stop=stop)
    assert outcome.stopped_by == signal.SIGINT
    tally = outcome.tally
    assert 1 <= tally.uploaded < tally.found and tally.failed == tally.not_started > 0
    records = read_manifest(tmp_path / "manifest.jsonl")
    assert len(records) == outcome.tally.found
    assert sum(r["status"] == "uploaded" for r in records) == outcome.tally.uploaded


async def test_run_wide_errors_raise_ours(emulator: RunningEmulator, tmp_path: Path) -> None:
    make_tree(tmp_path / "src", 2)
    wrong = bulkupload.Credentials(client_id=emulator.client_id, client_secret="wrong")
    settings = settings_for(emulator, tmp_path)
    with pytest.raises(bulkupload.AuthError):
        await bulkupload.upload(bulkupload.Settings(**{**_fields(settings), "credentials": wrong}))
    with pytest.raises(bulkupload.TargetUnusable):
        await bulkupload.upload(
            bulkupload.Settings(**{**_fields(settings), "target": bulkupload.Target("project", 9)})
        )


async def test_events_tell_a_host_program_everything_the_summary_says(
    make_emulator: Callable[..., RunningEmulator], tmp_path: Path
) -> None:
    emulator = make_emulator(fault_api_5xx=0.3, fault_storage_5xx=0.3, seed=3)
    expected = make_tree(tmp_path / "src", 20)
    seen: list[bulkupload.Event] = []
    # 30 % of calls fail at random (in an order that depends on the run's timing): with the
    # default 5 retries some call of ~45 ran out now and then; with 12, about 1 run in 10^5.
    outcome = await bulkupload.upload(
        settings_for(emulator, tmp_path, retry_backoff=False, retries=12), events=seen.append
    )
    done = [e.result for e in seen if isinstance(e, bulkupload.FileDone)]
    assert sorted(r.rel for r in done) == sorted(expected) and outcome.tally.failed == 0
    assert {r.status for r in done} == {bulkupload.Status.UPLOADED}
    found = [e for e in seen if isinstance(e, bulkupload.FilesFound)]
    assert sum(e.files for e in found) == outcome.tally.found == len(expected)
    retries = [e for e in seen if isinstance(e, bulkupload.Retried)]
    injected = emulator.counters()["faults_injected"]
    assert sum(e.kind == "api" for e in retries) == injected.get("api_5xx", 0) > 0
    assert sum(e.kind == "storage" for e in retries) == injected.get("storage_5xx", 0) > 0
    assert outcome.tally.retries == len(retries)
    # Bytes move forward as sent and back as attempts fail or finish: none left in flight.
    assert sum(e.size for e in seen if isinstance(e, bulkupload.BytesMoved)) == 0
    assert [e for e in seen if isinstance(e, bulkupload.WalkEnded)] == [
        bulkupload.WalkEnded(complete=True)
    ]


def _fields(settings: bulkupload.Settings) -> dict[str, object]:
    return {name: getattr(settings, name) for name in bulkupload.Settings.__dataclass_fields__}


def test_the_library_leaves_the_host_programs_signal_handlers_alone(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """Was: UploadRun opened a SIGINT/SIGTERM receiver, replacing an embedding program's own."""
    expected = make_tree(tmp_path / "src", 5)
    seen: list[tuple[object, object]] = []

    def host_handler(signum: int, frame: object) -> None:  # the embedding program's handler
        raise AssertionError("not called")

    previous = signal.signal(signal.SIGTERM, host_handler)
    try:

        async def main() -> bulkupload.RunOutcome:
            async def watch() -> None:  # look at the handlers while the run is going on
                while True:
                    seen.append((signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)))
                    await anyio.lowlevel.checkpoint()

            async with anyio.create_task_group() as group:
                group.start_soon(watch)
                outcome = await bulkupload.upload(settings_for(emulator, tmp_path))
                group.cancel_scope.cancel()
            return outcome

        outcome = anyio.run(main)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert outcome.tally.uploaded == len(expected)
    assert len(seen) > 3
    assert {term for term, _ in seen} == {host_handler}
    # SIGINT belongs to asyncio's own runner here (the host's loop): it must not change either.
    assert len({id(sigint) for _, sigint in seen}) == 1


@pytest.mark.parametrize("plan", [True, False])
async def test_no_plan_lists_source_once(
    emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan: bool
) -> None:
    """The plan is a second walk of SOURCE beside the run; without it, SOURCE is walked once
    (a slow file share is listed once) and every file is still sent."""
    expected = make_tree(tmp_path / "src", 12)
    walks: list[object] = []
    real = walking.walk_sources

    def counted(settings: bulkupload.Settings) -> Iterator[WalkItem]:
        walks.append(settings.sources)
        return real(settings)

    monkeypatch.setattr(walking, "walk_sources", counted)
    outcome = await bulkupload.upload(settings_for(emulator, tmp_path, plan=plan))
    assert outcome.tally.uploaded == len(expected) and outcome.tally.failed == 0
    assert len(walks) == (2 if plan else 1)
    assert (outcome.plan is not None) is plan
    if outcome.plan is not None:
        assert outcome.plan["files"] == len(expected)
