"""The vendored contract is the shared one, byte for byte (when a shared copy sits beside the repo).

CI and `git clone . /tmp/x && make test` have no `../shared`: then this is skipped and the
vendored copy is what the suite checks against.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from tests.contract.validator import CONTRACT_DIR, Contract

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared" / "procore-contract"


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def test_vendored_contract_is_byte_identical_to_the_shared_one() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"no shared contract at {SHARED} (a fresh clone): the vendored copy is used")
    shared, vendored = _files(SHARED), _files(CONTRACT_DIR)
    assert sorted(vendored) == sorted(shared)
    assert [name for name in shared if shared[name] != vendored[name]] == []


def test_every_vendored_schema_is_a_valid_2020_12_schema() -> None:
    contract = Contract()
    assert len(contract.operations) == 49
    for op in contract.operations:
        request = op.spec.get("request")
        schemas = [request["schema"]] if request else []
        schemas += [r["schema"] for r in op.spec["responses"].values()]
        for schema in schemas:
            Draft202012Validator.check_schema(schema)
