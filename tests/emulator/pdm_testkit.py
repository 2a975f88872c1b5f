"""A bare Document Management client over real HTTP, enough to drive the emulator in tests:
the configuration lookups, create, link a v2.1 upload, PATCH, reads and submit."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import aiohttp
from emulator_testkit import Api, check_answer
from unified_testkit import Unified

from bulkupload.emulator.server import RunningEmulator

# operationIds of the contract, by what they do
REQUIREMENTS = "RestV20CompaniesCompanyIdProjectsProjectIdDocumentManagementUploadRequirementsGet"
FIELDS = "RestV20CompaniesCompanyIdProjectsProjectIdDocumentManagementFieldsGet"
VALUES = "RestV20CompaniesCompanyIdProjectsProjectIdDocumentManagementFieldsFieldIdOrNameValuesGet"
CREATE = "RestV20CompaniesCompanyIdProjectsProjectIdDocumentManagementDocumentUploadsPost"
PATCH = "RestV20CompaniesCompanyIdProjectsProjectIdDocumentManagementDocumentUploadsPatch"
SHOW = (
    "RestV20CompaniesCompanyIdProjectsProjectIdDocumentManagementDocumentUploadsDocumentUploadIdGet"
)
SHOW21 = (
    "RestV21CompaniesCompanyIdProjectsProjectIdDocumentManagementDocumentUploadsDocumentUploadIdGet"
)
LIST = "RestV20CompaniesCompanyIdProjectsProjectIdDocumentManagementDocumentUploadsGet"
LIST21 = "RestV21CompaniesCompanyIdProjectsProjectIdDocumentManagementDocumentUploadsGet"
SELECTED = (
    "RestV22CompaniesCompanyIdProjectsProjectIdDocumentManagementDocumentUploadsSelectedUploadsPost"
)
SUBMIT = "RestV20CompaniesCompanyIdProjectsProjectIdDocumentManagementDocumentRevisionsPost"
SUBMIT21 = "RestV21CompaniesCompanyIdProjectsProjectIdDocumentManagementDocumentRevisionsPost"
PDF = b"%PDF-1.7 emulated drawing\n"
UNKNOWN_ULID = "01JP999999Z000000000000001"


def reasons(body: dict[str, Any]) -> list[str]:
    return [item["reason_code"] for item in body["error"]["details"]]


def field_of(upload: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in upload["fields"] if f["name"] == name)


class CompanyApi(Api):
    """The same identity, every call carrying `company` as its Procore-Company-Id."""

    def __init__(self, api: Api, company: int) -> None:
        super().__init__(api.emulator, api.session)
        self.token, self.company = api.token, company

    def headers(self, company: int | None = 1) -> dict[str, str]:
        return super().headers(None if company is None else self.company)


class Pdm:
    """One identity's calls to one project's Document Management."""

    def __init__(self, api: Api, project: int = 42, company: int = 1) -> None:
        self.api, self.project, self.company = api, project, company
        self.fields: dict[str, dict[str, Any]] = {}
        self.values: dict[str, dict[str, str]] = {}  # field name -> value code -> id

    def path(self, tail: str, version: str = "v2.0") -> str:
        scope = f"companies/{self.company}/projects/{self.project}"
        return f"/rest/{version}/{scope}/document_management/{tail}"

    async def get(self, tail: str, version: str = "v2.0") -> tuple[int, Any, Any]:
        return await self.api.get(self.path(tail, version), company=self.company)

    async def post(self, tail: str, body: dict[str, Any], version: str = "v2.0") -> tuple[int, Any]:
        status, answer, _ = await self.api.call(
            self.path(tail, version), body, company=self.company
        )
        return status, answer

    async def learn(self) -> None:
        """Field ids by name, and value ids by code for every lookup field."""
        status, body, _ = await self.get("fields?per_page=100")
        assert status == 200, body
        self.fields = {f["name"]: f for f in body["data"]}
        for name, field in self.fields.items():
            if field["type"] in ("lov_entry", "lov_entries", "reference"):
                status, body, _ = await self.get(
                    f"fields/{name}/values?include_inactive=true&per_page=100"
                )
                assert status == 200, body
                self.values[name] = {v["code"]: v["id"] for v in body["data"]}

    def report(
        self, name: str, revision: str, *more: dict[str, Any], kind: str = "RPT"
    ) -> list[dict[str, Any]]:
        """The baseline fields (a Report, Status Open, unless `kind` says another Type)."""
        required = [self.set("name", name), self.set("type", kind), self.set("status", "OPN")]
        return [*required, self.set("revision", revision), *more]

    def set(self, name: str, *values: str) -> dict[str, Any]:
        """A `fields` entry: lookups by value code, literals as they are."""
        field = self.fields[name]
        if field["type"] in ("lov_entry", "lov_entries", "reference"):
            values = tuple(self.values[name][code] for code in values)
        return {"id": field["id"], "values": list(values)}

    async def create(self, *names: str, mime: str = "application/pdf") -> list[str]:
        body = {"uploads": [{"file_name": name, "mime_type": mime} for name in names]}
        status, answer = await self.post("document_uploads", body)
        assert status == 201, answer
        check_answer(CREATE, status, answer)
        return [item["id"] for item in answer["data"]]

    async def file(self, data: bytes = PDF, name: str = "file.pdf", **extra: Any) -> str:
        """A v2.1 upload of `data` in this project, `available`: its upload_id."""
        v21 = Unified(
            CompanyApi(self.api, self.company),
            f"/rest/v2.1/companies/{self.company}/projects/{self.project}/uploads",
        )
        extra.setdefault("uploader_tool_name", "document_management")
        started = await v21.start([data], name=name, **extra)
        etags = await v21.send(started, [data])
        status, answer = await v21.patch(started["upload_id"], etags)
        assert status == 200, answer
        status, answer = await v21.status(started["upload_id"])
        assert answer["data"]["status"] == "available", answer
        return str(started["upload_id"])

    async def patch(self, *params: dict[str, Any], **top: Any) -> tuple[int, Any]:
        status, answer, _ = await self.api.call_method(
            "PATCH",
            self.path("document_uploads"),
            {"update_params": list(params), **top},
            company=self.company,
        )
        return status, answer

    async def show(self, upload_id: str, version: str = "v2.0") -> tuple[int, Any]:
        status, answer, _ = await self.get(f"document_uploads/{upload_id}", version)
        return status, answer

    async def submit(self, *items: dict[str, Any], version: str = "v2.0") -> tuple[int, Any]:
        return await self.post("document_revisions", {"uploads": list(items)}, version)

    async def ready(self, name: str, *fields: dict[str, Any], data: bytes = PDF) -> str:
        """Create, link a file and set COMPLETED with `fields`: the upload id."""
        [upload_id] = await self.create(
            name, mime="application/pdf" if name.endswith(".pdf") else "text/plain"
        )
        file_upload_id = await self.file(data, name)
        status, answer = await self.patch(
            {
                "id": upload_id,
                "file_upload_id": file_upload_id,
                "upload_status": "COMPLETED",
                "fields": list(fields),
            }
        )
        assert status == 207 and answer["data"]["success"] == [{"id": upload_id}], answer
        return upload_id

    async def event(self, upload_id: str) -> str:
        """The upload's `latest_event_id`, read until its ML and scraping have ended."""
        while True:
            status, answer = await self.show(upload_id)
            assert status == 200, answer
            statuses = answer["data"]["integration_statuses"]
            if "in_progress" not in statuses.values():
                return str(answer["data"]["latest_event_id"])

    async def submit_ready(self, *upload_ids: str, version: str = "v2.0") -> tuple[int, Any]:
        items = [{"id": u, "upload_latest_event_id": await self.event(u)} for u in upload_ids]
        return await self.submit(*items, version=version)


async def connect(
    make_emulator: Callable[..., RunningEmulator], http: aiohttp.ClientSession, **config: Any
) -> Api:
    """A fresh emulator with `config`, and its default identity logged in."""
    api = Api(make_emulator(**config), http)
    await api.login()
    return api


async def learned(api: Api, project: int = 42, company: int = 1) -> Pdm:
    """A Pdm client that has read the project's fields and values."""
    pdm = Pdm(api, project, company)
    await pdm.learn()
    return pdm


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()
