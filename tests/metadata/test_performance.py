"""Matching is compiled once and cheap per file: 100,000 paths against 50 rules in well under the
bound (about 0.5 s on the development machine, where nearly every path tries most rules), and
an outcome is a few small records that point at the shared catalog."""

from __future__ import annotations

import sys
import time

from bulkupload.metadata import parse_rules
from tests.metadata.project import DRAWING_RULES, resolver

RULES = 50
PATHS = 100_000


def many_rules() -> str:
    blocks = []
    for n in range(RULES - 1):
        blocks.append(
            f'[[rule]]\nmatch = "**/Package {n}/{{discipline}}/{{number}}_{{title}}.pdf"\n'
            f'fields = {{ type = "Drawing", number = "{{number}}", discipline = "{{discipline}}" }}'
        )
    blocks.append("[[rule]]\nregex = '^Specs/(?P<number>\\d{6}) (?P<title>.+)\\.docx$'")
    return "\n".join(blocks)


def test_matching_100000_paths_against_50_rules_is_fast() -> None:
    rules = parse_rules(many_rules())
    # Most paths match late or not at all: the costly case.
    paths = [f"Site/Package {n % 60}/E/E-{n}_Plan of level {n % 9}.pdf" for n in range(PATHS)]
    started = time.perf_counter()
    matched = sum(rules.match(path)[0] is not None for path in paths)
    elapsed = time.perf_counter() - started
    assert matched == sum(1 for n in range(PATHS) if n % 60 < RULES - 1)
    assert elapsed < 10, f"{elapsed:.2f} s"  # generous: shared CI machines vary


async def test_resolving_many_files_is_fast_and_outcomes_are_small() -> None:
    meta = await resolver(DRAWING_RULES)
    started = time.perf_counter()
    for n in range(10_000):
        outcome = await meta.resolve(f"Drawings/{'EMA'[n % 3]}/X-{n}_Sheet {n}.pdf")
    elapsed = time.perf_counter() - started
    assert elapsed < 10, f"{elapsed:.2f} s"  # about 0.2 s here
    # What a file in flight holds beyond the shared catalog records: its own texts and tuples.
    own = sys.getsizeof(outcome) + sys.getsizeof(outcome.fields) + sys.getsizeof(outcome.problems)
    own += sum(
        sys.getsizeof(s) + sys.getsizeof(s.values) + sys.getsizeof(s.text) for s in outcome.fields
    )
    assert own < 4096
