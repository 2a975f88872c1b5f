"""Document Management's project configuration over HTTP: upload requirements (default and
conditional rules, naming standard, duplicate rule), fields, and one field's values with
`keyword`, `include_inactive`, sorting and pagination; the tool off on an unconfigured project."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import pytest
from emulator_testkit import Api, check_answer
from pdm_testkit import FIELDS, REQUIREMENTS, VALUES, Pdm, reasons

from bulkupload.emulator.__main__ import parse_args
from bulkupload.emulator.pdm import default_pdm_projects
from bulkupload.emulator.server import RunningEmulator


async def test_requirements_name_a_default_and_a_conditional_rule(api: Api) -> None:
    status, body, headers = await Pdm(api).get("upload_requirements")
    assert status == 200
    check_answer(REQUIREMENTS, status, body, headers)
    default, drawings = body["data"]
    assert default["rule_qualifiers"] == []
    names = [f["name"] for f in default["fields_required_by_project"]]
    assert names == ["name", "type", "status", "revision"]
    assert default["additional_required_fields"] == []
    [qualifier] = drawings["rule_qualifiers"]
    assert qualifier["field"]["name"] == "type"
    assert [v["label"] for v in qualifier["acceptable_values"]] == ["Drawing"]
    assert [f["name"] for f in drawings["additional_required_fields"]] == ["discipline", "number"]
    assert {rule["allow_duplicate_revisions"] for rule in body["data"]} == {False}
    assert default["naming_standard"] is None
    assert (headers["Total"], headers["Link"]) == ("2", "")


async def test_the_naming_standard_project_publishes_its_fields(api: Api) -> None:
    status, body, _ = await Pdm(api, project=100).get("upload_requirements")
    assert status == 200
    standard = body["data"][0]["naming_standard"]
    assert standard["name"] == "Discipline-Number_Revision"
    assert [f["name"] for f in standard["fields"]] == ["discipline", "number", "revision"]
    assert body["data"][0]["allow_duplicate_revisions"] is True
    status, body, _ = await Pdm(api, project=200, company=2).get("upload_requirements")
    assert status == 200
    assert [rule["rule_qualifiers"] for rule in body["data"]] == [[]]


async def test_fields_are_paginated_ten_by_default_with_link_and_total(api: Api) -> None:
    pdm = Pdm(api)
    status, first, headers = await pdm.get("fields")
    assert status == 200
    check_answer(FIELDS, status, first, headers)
    assert len(first["data"]) == 10
    assert headers["Total"] == "13"
    assert 'rel="next"' in headers["Link"] and 'rel="prev"' not in headers["Link"]
    status, second, headers = await pdm.get("fields?page=2")
    assert [f["name"] for f in second["data"]] == ["page_count", "project", "volume"]
    assert 'rel="prev"' in headers["Link"] and 'rel="next"' not in headers["Link"]
    fields = {f["name"]: f for f in first["data"] + second["data"]}
    assert {f["type"] for f in fields.values()} == {
        "string",
        "lov_entry",
        "lov_entries",
        "reference",
        "rich_text",
        "timestamp",
        "numeric",
    }
    assert fields["project"]["readonly"] is True
    assert fields["volume"]["active"] is False
    assert fields["custom_field_501"]["custom_field_definition_id"] == "501"
    assert "original_filename" not in fields  # a system field: not user-settable


async def test_values_by_name_or_id_keyword_inactive_and_pages(api: Api) -> None:
    pdm = Pdm(api)
    await pdm.learn()
    status, body, headers = await pdm.get("fields/type/values")
    assert status == 200
    check_answer(VALUES, status, body, headers)
    assert [v["code"] for v in body["data"]] == ["DRW", "SPC", "RPT"]  # Superseded is inactive
    type_id = pdm.fields["type"]["id"]
    status, by_id, _ = await pdm.get(f"fields/{type_id}/values?include_inactive=true")
    assert [(v["label"], v["active"]) for v in by_id["data"]][-1] == ("Superseded", False)
    status, found, _ = await pdm.get("fields/discipline/values?keyword=struct")
    assert [v["label"] for v in found["data"]] == ["Structural"]
    status, found, _ = await pdm.get("fields/type/values?keyword=drw")  # codes match too
    assert [v["label"] for v in found["data"]] == ["Drawing"]
    status, page, headers = await pdm.get(
        "fields/discipline/values?per_page=3&page=2&sort_by=label&sort_order=desc"
    )
    assert [v["label"] for v in page["data"]] == ["Architectural"]
    assert headers["Total"] == "4"
    status, locations, _ = await pdm.get("fields/location/values")
    assert {v["field_id"] for v in locations["data"]} == {pdm.fields["location"]["id"]}
    assert [v["id"] for v in locations["data"]] == ["42001", "42002", "42003"]
    status, empty, headers = await pdm.get("fields/number/values")
    assert (status, empty["data"], headers["Total"]) == (200, [], "0")


async def test_unknown_fields_and_unsupported_parameters_are_400(api: Api) -> None:
    pdm = Pdm(api)
    status, body, _ = await pdm.get("fields/nonexistent/values")
    assert status == 400
    check_answer(VALUES, status, body)
    assert reasons(body) == ["INVALID_PROPERTY"]
    status, body, _ = await pdm.get("fields?per_page=0")
    assert status == 400
    status, body, _ = await pdm.get("fields/type/values?document_collection_id=1")
    assert status == 400


async def test_reads_need_no_upload_permission_and_a_project_without_pdm_is_403(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession
) -> None:
    projects = default_pdm_projects()
    del projects[100]
    emulator = make_emulator(pdm_projects=projects)
    api = Api(emulator, http)
    await api.login("pdm-no-upload-client-id", "pdm-no-upload-client-secret")
    status, _, _ = await Pdm(api).get("fields")
    assert status == 200
    status, body, _ = await Pdm(api, project=100).get("fields")
    assert status == 403
    check_answer(FIELDS, status, body)
    assert body["error"]["code"] == "FORBIDDEN"
    status, body, _ = await Pdm(api, project=200, company=1).get("fields")
    assert status == 403  # a project of another company: PDM publishes no 404 here
    check_answer(FIELDS, status, body)


def test_cli_flags_set_processing_times_and_pdm_faults() -> None:
    flags = "--pdm-processing-reads 0 --pdm-processing-seconds 2.5"
    faults = "--fault-pdm-submit-conflict 0.25 --fault-pdm-ml-error 1"
    config = parse_args(f"{flags} {faults}".split())
    assert (config.pdm_processing_reads, config.pdm_processing_seconds) == (0, 2.5)
    initial = config.initial_faults()
    assert (initial.pdm_submit_conflict, initial.pdm_ml_error) == (0.25, 1.0)
    with pytest.raises(SystemExit):
        parse_args(["--fault-pdm-verify-failed", "2"])


def test_the_admin_view_of_the_set_up_names_every_id_and_permission(api: Api) -> None:
    setup = api.emulator.admin_get("/_emulator/pdm/config")
    assert setup["permissions"]["pdm-no-submit-client-id"] == ["Upload New Files"]
    assert setup["permissions"]["pdm-no-upload-client-id"] == ["Submit New Files"]
    assert setup["permissions"]["demo-client-id"] == ["Submit New Files", "Upload New Files"]
    project = setup["projects"]["100"]
    assert project["naming_standard"]["pattern"] == "{discipline}-{number}_{revision}.{ext}"
    assert setup["projects"]["200"]["workflow"]["name"] == "Standard Review"
    assert project["fields"][0]["id"] == "01JP000100F000000000000001"
