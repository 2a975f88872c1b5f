"""The plugin end to end, in a pytest of its own: strict fails the test, warn only reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

OFF_CONTRACT_TEST = """
import json
import urllib.request

from bulkupload.emulator.server import RunningEmulator


def test_asks_with_an_unpublished_query_parameter():
    with RunningEmulator() as emu:
        body = {"grant_type": "client_credentials", "client_id": emu.client_id,
                "client_secret": emu.client_secret}
        login = urllib.request.Request(emu.token_url, data=json.dumps(body).encode(),
                                       headers={"Content-Type": "application/json"})
        token = json.loads(urllib.request.urlopen(login).read())["access_token"]
        ask = urllib.request.Request(
            emu.base_url + "/rest/v1.0/folders?project_id=42&colour=red",
            headers={"Authorization": "Bearer " + token, "Procore-Company-Id": "1"},
        )
        assert urllib.request.urlopen(ask).status == 200
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    pytester.makepyfile(test_off_contract=OFF_CONTRACT_TEST)
    return pytester


def test_strict_mode_fails_the_test_that_produced_a_violation(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("-p", "tests.contract.plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)  # the test body passed; its teardown failed
    result.stdout.fnmatch_lines(["*RestV10FoldersGet*query at colour*is not published*"])
    report = json.loads((suite.path / ".pytest-contract.json").read_text())
    assert report["mode"] == "strict"
    assert report["operations"]["OauthTokenPost"]["exchanges"] == 1
    assert report["operations"]["RestV10FoldersGet"]["exchanges"] == 1


def test_warn_mode_reports_without_failing(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BULKUPLOAD_CONTRACT", "warn")
    result = suite.runpytest_subprocess("-p", "tests.contract.plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["contract: 2 exchanges validated*", "*query at colour*"])
