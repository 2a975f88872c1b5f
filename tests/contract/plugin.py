"""pytest plugin: every emulator the suite starts records its API traffic; it is checked on stop.

Each `RunningEmulator` records (`record_by_default`); when one stops, its exchanges are checked
(`stop_hooks`) and the violations fail the test that was running, at its teardown. An emulator
that lives for the whole session is drained after every test that used it (`watch`). The terminal
summary gives the counts per operation, also written to `.pytest-contract.json` in the repo root.

`BULKUPLOAD_CONTRACT=warn` reports violations without failing (for development while the
emulator is being fixed); `=off` records nothing. The default is strict.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bulkupload.emulator.server import RunningEmulator
from tests.contract.validator import Contract, Violation

MODE_ENV = "BULKUPLOAD_CONTRACT"
REPORT_NAME = ".pytest-contract.json"
_SHOWN_PER_TEST = 40
_NUMBER_RE = re.compile(r"\[\d+\]")
_ID_RE = re.compile(r"/\d+(?=/|$)")


def mode() -> str:
    value = os.environ.get(MODE_ENV, "strict").strip().lower() or "strict"
    if value not in ("strict", "warn", "off"):
        raise pytest.UsageError(f"{MODE_ENV} must be strict, warn or off (got {value!r})")
    return value


@dataclass
class OperationCounts:
    exchanges: int = 0
    lost: int = 0
    violations: int = 0
    excepted: int = 0
    refused: int = 0
    unchecked: int = 0
    statuses: Counter[str] = field(default_factory=Counter)


@dataclass
class Tally:
    """Everything checked in the session."""

    exchanges: int = 0
    operations: defaultdict[str, OperationCounts] = field(
        default_factory=lambda: defaultdict(OperationCounts)
    )
    # (operation or route, kind, where, message) -> [count, first test]
    groups: dict[tuple[str, str, str, str], list[Any]] = field(default_factory=dict)
    refused: dict[tuple[str, str, str, str], list[Any]] = field(default_factory=dict)
    excepted: Counter[str] = field(default_factory=Counter)

    def add_violation(self, violation: Violation, test: str, *, refused: bool = False) -> None:
        where = _NUMBER_RE.sub("[*]", violation.where)
        subject = violation.operation or f"{violation.method} {_ID_RE.sub('/{n}', violation.path)}"
        key = (subject, violation.kind, where, violation.message)
        groups = self.refused if refused else self.groups
        entry = groups.setdefault(key, [0, test, set()])
        entry[0] += 1
        entry[2].add(str(violation.status) if violation.status is not None else "lost")


class ContractCheck:
    """The session's checker: turned on in pytest_configure, fed by emulator stops."""

    def __init__(self, root: Path, strict: bool) -> None:
        self.root, self.strict = root, strict
        self.contract = Contract()
        self.tally = Tally()
        self.pending: list[Violation] = []
        self.watched: list[RunningEmulator] = []
        self.current_test = "<no test>"

    def install(self) -> None:
        RunningEmulator.record_by_default = True
        RunningEmulator.stop_hooks.append(self.on_stop)

    def uninstall(self) -> None:
        RunningEmulator.record_by_default = False
        if self.on_stop in RunningEmulator.stop_hooks:
            RunningEmulator.stop_hooks.remove(self.on_stop)

    def watch(self, emulator: RunningEmulator) -> None:
        """A long-lived emulator: checked after every test, not only when it stops."""
        self.watched.append(emulator)

    def on_stop(self, emulator: RunningEmulator) -> None:
        self.drain(emulator)
        if emulator in self.watched:
            self.watched.remove(emulator)

    def drain(self, emulator: RunningEmulator) -> None:
        if emulator.recording is None:
            return
        for exchange in emulator.recording.drain():
            outcome = self.contract.check(exchange)
            self.tally.exchanges += 1
            counts = self.tally.operations[outcome.operation or "(unpublished route)"]
            counts.exchanges += 1
            counts.lost += exchange.lost
            counts.statuses["lost" if exchange.status is None else str(exchange.status)] += 1
            counts.violations += len(outcome.violations)
            counts.excepted += len(outcome.excepted)
            counts.refused += len(outcome.refused)
            counts.unchecked += len(outcome.unchecked)
            for _, reason in outcome.excepted:
                self.tally.excepted[reason] += 1
            for violation in outcome.violations:
                self.tally.add_violation(violation, self.current_test)
            for violation in outcome.refused:
                self.tally.add_violation(violation, self.current_test, refused=True)
            self.pending.extend(outcome.violations)

    def after_test(self) -> list[Violation]:
        for emulator in list(self.watched):
            self.drain(emulator)
        found, self.pending = self.pending, []
        return found

    # ---- reporting ---------------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        ops = self.tally.operations
        return {
            "mode": "strict" if self.strict else "warn",
            "exchanges": self.tally.exchanges,
            "violations": sum(c.violations for c in ops.values()),
            "refused": sum(c.refused for c in ops.values()),
            "operations": {
                op: {
                    "exchanges": c.exchanges,
                    "lost": c.lost,
                    "violations": c.violations,
                    "excepted": c.excepted,
                    "refused": c.refused,
                    "unchecked": c.unchecked,
                    "statuses": dict(sorted(c.statuses.items())),
                }
                for op, c in sorted(ops.items())
            },
            "violation_groups": _groups(self.tally.groups),
            "refused_groups": _groups(self.tally.refused),
            "excepted": dict(self.tally.excepted),
        }

    def write_report(self) -> Path:
        path = self.root / REPORT_NAME
        path.write_text(json.dumps(self.report(), indent=2) + "\n")
        return path


def _groups(groups: dict[tuple[str, str, str, str], list[Any]]) -> list[dict[str, Any]]:
    return [
        {
            "operation": subject,
            "kind": kind,
            "where": where,
            "message": message,
            "count": count,
            "statuses": sorted(statuses),
            "first_test": test,
        }
        for (subject, kind, where, message), (count, test, statuses) in sorted(groups.items())
    ]


def format_violations(found: list[Violation]) -> str:
    lines = [f"contract: {len(found)} violation(s) of Procore's published API contract:"]
    lines += [f"  - {v}" for v in found[:_SHOWN_PER_TEST]]
    if len(found) > _SHOWN_PER_TEST:
        lines.append(f"  ... and {len(found) - _SHOWN_PER_TEST} more")
    lines.append(f"(set {MODE_ENV}=warn to report without failing)")
    return "\n".join(lines)


_CHECK = pytest.StashKey["ContractCheck"]()


def active(config: pytest.Config) -> ContractCheck | None:
    return config.stash.get(_CHECK, None)


def pytest_configure(config: pytest.Config) -> None:
    chosen = mode()
    if chosen == "off":
        return
    check = ContractCheck(config.rootpath, strict=chosen == "strict")
    check.install()
    config.stash[_CHECK] = check


def pytest_unconfigure(config: pytest.Config) -> None:
    if (check := active(config)) is not None:
        check.uninstall()


@pytest.fixture(autouse=True)
def contract_check(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test whose emulators answered (or were asked) outside the contract."""
    check = active(request.config)
    if check is None:
        yield
        return
    check.current_test = request.node.nodeid
    yield
    found = check.after_test()
    check.current_test = "<session teardown>"
    if found and check.strict:
        pytest.fail(format_violations(found), pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    check = active(session.config)
    if check is None:
        return
    late = check.after_test()  # emulators of session fixtures stop after the last test
    if late and check.strict:
        print("\n" + format_violations(late))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    check.write_report()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    check = active(config)
    if check is None:
        return
    report = check.report()
    tr = terminalreporter
    per_op = ", ".join(
        f"{op}={c['exchanges']}" + (f" ({c['violations']} violations)" if c["violations"] else "")
        for op, c in report["operations"].items()
    )
    tr.write_sep("-", "contract")
    tr.write_line(
        f"contract: {report['exchanges']} exchanges validated "
        f"({report['violations']} violations, {report['refused']} off-contract requests refused "
        f"with a 4xx, mode {report['mode']}); per operation: {per_op}"
    )
    if report["excepted"]:
        tr.write_line(f"contract: excepted (tests/contract/exceptions.py): {report['excepted']}")
    groups = report["violation_groups"]
    if groups:
        tr.write_line(f"contract: {len(groups)} distinct violations:")
        for g in groups[:200]:
            tr.write_line(
                f"  {g['count']:>6}x {g['operation']} [{','.join(g['statuses'])}] "
                f"{g['kind']} at {g['where']}: {g['message']}  (first: {g['first_test']})"
            )
    tr.write_line(f"contract: figures in {REPORT_NAME}")
