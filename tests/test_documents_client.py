"""FolderMirror and attach against the emulated Documents tool over loopback HTTP."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Handler
from hypothesis import given
from hypothesis import strategies as st

from bulkupload.emulator.core import Identity, StoredObject, UploadRecord
from bulkupload.emulator.documents.routes import add_documents_routes
from bulkupload.emulator.state import STATE_KEY, EmulatorState
from bulkupload.errors import ApiError, NotFound
from bulkupload.models import OnConflict, Target
from bulkupload.procore.attach import AttachResult, attach
from bulkupload.procore.client import ApiRequester
from bulkupload.procore.folders import FolderMirror
from bulkupload.procore.remote import RemoteFile, remote_name
from bulkupload.retry import INSTANT, OnRetry

PROJECT = Target("project", 10)
COMPANY_ID = 1

# The contract keys request["identity"] / request["company_id"] by plain strings.
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web.NotAppKeyWarning")


@web.middleware
async def fake_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Stands in for the real auth middleware."""
    if request.path.startswith("/rest/"):
        request["identity"] = Identity("alice")
        request["company_id"] = int(request.headers["Procore-Company-Id"])
    return await handler(request)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    data: Any


class LoopbackRequester:
    """A minimal ApiClient stand-in: one HTTP call per request, errors raised, calls recorded."""

    policy = INSTANT  # a write sent with retry=False is retried by its caller, at once here

    def on_retry(self, method: str, path: str) -> OnRetry:
        return lambda exc: None

    def __init__(self, client: TestClient[web.Request, web.Application]) -> None:
        self.client = client
        self.calls: list[tuple[str, str]] = []

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        retry: bool = True,
    ) -> Answer:
        self.calls.append((method, path))
        headers = {"Procore-Company-Id": str(COMPANY_ID)}
        body: FormData | None = None
        if form is not None:
            body = FormData()
            for key, value in form.items():
                body.add_field(key, value)
        async with self.client.request(
            method, path, json=json, data=body, params=params, headers=headers
        ) as resp:
            data = await resp.json()
            if resp.status >= 400:
                message = str(data.get("errors") or data.get("error") or data)
                raise (NotFound if resp.status == 404 else ApiError)(resp.status, message)
            return Answer(resp.status, dict(resp.headers), data)

    def count(self, method: str, suffix: str) -> int:
        return sum(1 for m, p in self.calls if m == method and p.endswith(suffix))


async def attach_via(
    mirror: FolderMirror,
    *,
    folder_id: int,
    name: str,
    upload_uuid: str,
    size: int,
    on_conflict: OnConflict = "version",
) -> AttachResult:
    """Attach as a run does: the file already holding the name comes from the mirror's cache."""
    return await attach(
        mirror.requester,
        mirror,
        folder_id=folder_id,
        name=name,
        upload_uuid=upload_uuid,
        size=size,
        on_conflict=on_conflict,
        existing=await mirror.existing_file(folder_id, name),
    )


@pytest.fixture
def state() -> EmulatorState:
    return EmulatorState()


@pytest.fixture
async def api(state: EmulatorState) -> AsyncIterator[LoopbackRequester]:
    app = web.Application(middlewares=[fake_auth])
    app[STATE_KEY] = state
    add_documents_routes(app)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield LoopbackRequester(client)


def upload(state: EmulatorState, uuid: str, project_id: int | None = PROJECT.id) -> str:
    now = state.clock.now()
    state.uploads[uuid] = UploadRecord(
        uuid, "alice", COMPANY_ID, project_id, now, now + 3600, "b", uuid, None,
        stored=StoredObject("b", uuid, len(uuid), f"md5-{uuid}", "/dev/null"),
    )  # fmt: skip
    return uuid


async def tree(api: LoopbackRequester, **query: str) -> Any:
    async with api.client.get("/_emulator/documents", params=query or {"project_id": "10"}) as r:
        return await r.json()


def folder_names(node: Any, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for sub in node["folders"]:
        path = f"{prefix}{sub['name']}"
        out |= {path} | folder_names(sub, path + "/")
    return out


async def test_concurrent_callers_create_each_folder_once(api: LoopbackRequester) -> None:
    requester: ApiRequester = api  # the test adapter must satisfy the protocol statically too
    mirror = FolderMirror(requester, PROJECT, "Migrations/2026-11")
    paths = ["A/B/C", "A/B", "A", "A/D", "E/F", "", "A/B/C/G"] * 8
    random.Random(4).shuffle(paths)
    ids: dict[str, set[int]] = {}

    async def resolve(p: str) -> None:
        ids.setdefault(p, set()).add(await mirror.folder_id_for(p))

    async with anyio.create_task_group() as tg:
        for p in paths[:50]:
            tg.start_soon(resolve, p)
    assert all(len(v) == 1 for v in ids.values())
    expected = {"Migrations", "Migrations/2026-11"} | {
        f"Migrations/2026-11/{p}" for p in ("A", "A/B", "A/B/C", "A/B/C/G", "A/D", "E", "E/F")
    }
    assert folder_names(await tree(api)) == expected
    assert api.count("POST", "/folders") == len(expected)
    assert api.count("GET", "/folders") == 1  # the root only


async def test_existing_tree_is_listed_once_per_folder(
    api: LoopbackRequester, state: EmulatorState
) -> None:
    first = FolderMirror(api, PROJECT)
    c_id = await first.folder_id_for("A/B/C")
    await attach_via(
        first,
        folder_id=c_id,
        name="f.txt",
        upload_uuid=upload(state, "u1"),
        size=len("u1"),
        on_conflict="skip",
    )
    await first.folder_id_for("A/D")
    api.calls.clear()

    second = FolderMirror(api, PROJECT)
    async with anyio.create_task_group() as tg:
        for p in ["A/B/C", "A/D", "A/B", "A"] * 10:
            tg.start_soon(second.folder_id_for, p)
    assert await second.folder_id_for("A/B/C") == c_id
    assert api.count("POST", "/folders") == 0
    listed = Counter(p for m, p in api.calls if m == "GET")
    # Root, A and A/B were listed to find their children; the leaves A/B/C and A/D were not.
    assert len(api.calls) == len(listed) == 3
    found = await second.existing_file(c_id, "f.txt")
    assert found is not None and found.latest_version == 1 and found.size == len("u1")
    assert await second.existing_file(c_id, "other.txt") is None
    assert len(api.calls) == 4  # existing_file listed A/B/C once


async def test_fresh_run_stays_within_the_call_budget(
    api: LoopbackRequester, state: EmulatorState
) -> None:
    files = ["a.txt", "d1/b.txt", "d1/c.txt", "d1/d2/e.txt", "d3/f.txt", "d3/d4/d5/g.txt"]
    mirror = FolderMirror(api, PROJECT, "Base")

    async def send(rel: str) -> None:
        folder, _, name = rel.rpartition("/")
        folder_id = await mirror.folder_id_for(folder)
        result = await attach_via(
            mirror,
            folder_id=folder_id,
            name=name,
            upload_uuid=upload(state, rel),
            size=len(rel),
            on_conflict="version",
        )
        assert result.action == "created" and result.version == 1

    async with anyio.create_task_group() as tg:
        for rel in files:
            tg.start_soon(send, rel)
    folders = {"Base", "Base/d1", "Base/d1/d2", "Base/d3", "Base/d3/d4", "Base/d3/d4/d5"}
    assert folder_names(await tree(api)) == folders
    # One listing (root) plus one create per folder, one attach per file.
    assert len(api.calls) == 1 + len(folders) + len(files)
    assert api.count("POST", "/files") == len(files)


async def test_on_conflict_modes(api: LoopbackRequester, state: EmulatorState) -> None:
    mirror = FolderMirror(api, PROJECT)
    folder = await mirror.folder_id_for("X")
    made = await attach_via(
        mirror,
        folder_id=folder,
        name="r.pdf",
        upload_uuid=upload(state, "u1"),
        size=len("u1"),
        on_conflict="version",
    )
    assert made.action == "created"
    api.calls.clear()

    skipped = await attach_via(
        mirror,
        folder_id=folder,
        name="r.pdf",
        upload_uuid=upload(state, "u2"),
        size=len("u2"),
        on_conflict="skip",
    )
    assert (skipped.action, skipped.file_id, api.calls) == ("skipped", made.file_id, [])

    versioned = await attach_via(
        mirror,
        folder_id=folder,
        name="r.pdf",
        upload_uuid=upload(state, "u3"),
        size=len("u3"),
        on_conflict="version",
    )
    assert (versioned.action, versioned.file_id, versioned.version) == (
        "versioned",
        made.file_id,
        2,
    )
    cached = await mirror.existing_file(folder, "r.pdf")
    assert cached is not None and cached.latest_version == 2 and cached.size == len("u3")

    renamed = await attach_via(
        mirror,
        folder_id=folder,
        name="r.pdf",
        upload_uuid=upload(state, "u4"),
        size=len("u4"),
        on_conflict="rename",
    )
    assert (renamed.action, renamed.name) == ("renamed", "r (1).pdf")
    assert await mirror.existing_file(folder, "r (1).pdf") is not None
    assert [m for m, _ in api.calls] == ["PATCH", "POST"]
    (files,) = [f["files"] for f in (await tree(api))["folders"]]
    assert [(f["name"], len(f["versions"])) for f in files] == [("r (1).pdf", 1), ("r.pdf", 2)]


@pytest.mark.parametrize(
    ("mode", "action", "versions"), [("version", "versioned", 2), ("skip", "skipped", 1)]
)
async def test_name_taken_by_someone_else(
    api: LoopbackRequester, state: EmulatorState, mode: Any, action: str, versions: int
) -> None:
    mine = FolderMirror(api, PROJECT)
    folder = await mine.folder_id_for("Shared")
    assert await mine.existing_file(folder, "s.txt") is None  # listing cached before the race
    other = FolderMirror(api, PROJECT)
    other_folder = await other.folder_id_for("Shared")
    assert other_folder == folder
    await attach_via(
        other,
        folder_id=folder,
        name="s.txt",
        upload_uuid=upload(state, "theirs"),
        size=len("theirs"),
        on_conflict="skip",
    )

    result = await attach_via(
        mine,
        folder_id=folder,
        name="s.txt",
        upload_uuid=upload(state, "mine"),
        size=len("mine"),
        on_conflict=mode,
    )
    assert result.action == action
    (f,) = (await tree(api))["folders"][0]["files"]
    assert len(f["versions"]) == versions


async def test_lost_answer_retry_is_recognised(
    api: LoopbackRequester, state: EmulatorState
) -> None:
    mirror = FolderMirror(api, PROJECT)
    folder = await mirror.folder_id_for("")
    first = await attach(
        api, FolderMirror(api, PROJECT), folder_id=folder, name="once.txt",
        upload_uuid=upload(state, "u"), size=len("u"), on_conflict="version", existing=None,
    )  # fmt: skip
    again = await attach(
        api, FolderMirror(api, PROJECT), folder_id=folder, name="once.txt", upload_uuid="u", size=1,
        on_conflict="version", existing=None,
    )  # fmt: skip
    assert (again.action, again.file_id, again.version) == ("created", first.file_id, 1)


async def test_folder_name_race_uses_the_other_folder(api: LoopbackRequester) -> None:
    mine = FolderMirror(api, PROJECT)
    await mine.folder_id_for("")  # root listed now, before the other uploader acts
    theirs = await FolderMirror(api, PROJECT).folder_id_for("Race")
    assert await mine.folder_id_for("Race") == theirs


async def test_company_target_and_undecodable_names(
    api: LoopbackRequester, state: EmulatorState
) -> None:
    company = Target("company", COMPANY_ID)
    mirror = FolderMirror(api, company, "Base")
    folder = await mirror.folder_id_for("caf\udce9")
    result = await attach_via(mirror,
        folder_id=folder, name="x\udcff.txt", upload_uuid=upload(state, "c", None), size=len("c"),
        on_conflict="version",
    )  # fmt: skip
    assert result.name == "x\ufffd.txt"
    assert all(p.startswith(f"/rest/v1.0/companies/{COMPANY_ID}/") for _, p in api.calls)
    got = await tree(api, company_id=str(COMPANY_ID))
    assert folder_names(got) == {"Base", "Base/caf\ufffd"}
    with pytest.raises(ApiError, match="another"):  # a project upload is refused at company level
        await attach_via(
            mirror,
            folder_id=folder,
            name="p.txt",
            upload_uuid=upload(state, "p"),
            size=len("p"),
            on_conflict="version",
        )


@given(st.binary())
def test_remote_name_is_valid_text_and_keeps_valid_names(raw: bytes) -> None:
    local = raw.decode("utf-8", "surrogateescape")  # how the walk hands names over
    remote = remote_name(local)
    remote.encode("utf-8")  # strict: raises on any surrogate left behind
    assert remote == raw.decode("utf-8", "replace")


async def pin_form(api: LoopbackRequester, form: int | None) -> int:
    """Pin the emulator's answer form for unpublished refusals; returns how many forms exist."""
    async with api.client.post("/_emulator/documents/clash-form", json={"form": form}) as r:
        assert r.status == 200
        return int((await r.json())["count"])


async def test_every_clash_answer_form_is_resolved_from_the_listing(
    api: LoopbackRequester, state: EmulatorState
) -> None:
    """Procore publishes no status or wording for a name clash: whatever the emulator answers,
    the client looks at the folder and acts on what it finds."""
    count = await pin_form(api, None)
    assert count >= 6
    for form in range(count):
        await pin_form(api, form)
        mine = FolderMirror(api, PROJECT)
        await mine.folder_id_for("")  # root listed before the other uploader acts
        other = FolderMirror(api, PROJECT)
        theirs = await other.folder_id_for(f"Clash{form}")
        # Folder clash: the folder is adopted, not created twice, not failed.
        assert await mine.folder_id_for(f"Clash{form}") == theirs
        assert await mine.existing_file(theirs, "s.txt") is None  # listing cached, then the race
        await attach_via(other,
            folder_id=theirs, name="s.txt", upload_uuid=upload(state, f"theirs{form}"),
            size=len(f"theirs{form}"), on_conflict="skip",
        )  # fmt: skip
        # File clash: someone else's file, so --on-conflict version adds our bytes as version 2.
        result = await attach_via(mine,
            folder_id=theirs, name="s.txt", upload_uuid=upload(state, f"m{form}"),
            size=len(f"m{form}"), on_conflict="version",
        )  # fmt: skip
        assert (result.action, result.version) == ("versioned", 2), form
        # The same PATCH again, as a retry after a lost answer would send it (the file as it was
        # before: one version): the upload is already attached, and the listing shows it is ours.
        before = RemoteFile(result.file_id or 0, "s.txt", len(f"theirs{form}"), latest_version=1)
        again = await attach(
            api, FolderMirror(api, PROJECT), folder_id=theirs, name="s.txt", upload_uuid=f"m{form}",
            size=len(f"m{form}"), on_conflict="version", existing=before,
        )  # fmt: skip
        assert (again.action, again.version) == ("versioned", 2), form
    node = next(f for f in (await tree(api))["folders"] if f["name"] == "Clash0")
    assert [len(f["versions"]) for f in node["files"]] == [2]


async def test_a_checked_out_file_fails_clearly(
    api: LoopbackRequester, state: EmulatorState
) -> None:
    mirror = FolderMirror(api, PROJECT)
    folder = await mirror.folder_id_for("Locked")
    made = await attach_via(mirror,
        folder_id=folder, name="l.pdf", upload_uuid=upload(state, "l1"), size=2,
        on_conflict="version",
    )  # fmt: skip
    body = {"project_id": PROJECT.id, "file_id": made.file_id, "until": state.clock.now() + 3600}
    async with api.client.post("/_emulator/documents/checkout", json=body) as r:
        assert r.status == 200
    with pytest.raises(ApiError) as caught:
        await attach_via(mirror,
            folder_id=folder, name="l.pdf", upload_uuid=upload(state, "l2"), size=2,
            on_conflict="version",
        )  # fmt: skip
    assert caught.value.status == 409
    (node,) = next(f for f in (await tree(api))["folders"] if f["name"] == "Locked")["files"]
    assert len(node["versions"]) == 1


class OddAnswers:
    """A requester whose answers have shapes Procore does not publish (no id, a list)."""

    policy = INSTANT

    def on_retry(self, method: str, path: str) -> OnRetry:
        return lambda exc: None

    def __init__(self, data: Any) -> None:
        self.data = data

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        params: dict[str, str] | None = None,
        retry: bool = True,
    ) -> Answer:
        return Answer(200 if method == "GET" else 201, {}, self.data)


@pytest.mark.parametrize("data", [{"name": "no id"}, [], None, {"id": "x", "name": "n"}])
async def test_an_unexpected_answer_shape_is_an_api_error_not_a_crash(data: Any) -> None:
    """Was: a KeyError from an unexpected Documents answer escaped the per-file accounting."""
    with pytest.raises(ApiError, match="unexpected answer"):
        await FolderMirror(OddAnswers(data), PROJECT).folder_id_for("A")
    with pytest.raises(ApiError, match="unexpected answer"):
        odd = OddAnswers(data)
        await attach(
            odd, FolderMirror(odd, PROJECT), folder_id=1, name="f.txt", upload_uuid="u", size=1,
            on_conflict="version", existing=None,
        )  # fmt: skip


async def test_folders_the_walk_has_left_are_forgotten_at_no_extra_call(
    api: LoopbackRequester, state: EmulatorState
) -> None:
    """Was: every folder listing cached for the whole run (memory grew with the tree)."""
    rels = sorted(f"d{d:02}/s{s}/f{f}.txt" for d in range(40) for s in range(3) for f in range(2))
    mirror = FolderMirror(api, PROJECT, "Base", keep=4)
    held = []
    for rel in rels:  # the walk's order: sorted, depth first
        folder, _, name = rel.rpartition("/")
        mirror.focus(folder)
        folder_id = await mirror.folder_id_for(folder)
        await attach_via(mirror, folder_id=folder_id, name=name, upload_uuid=upload(state, rel),
                         size=len(rel))  # fmt: skip
        held.append(mirror.remembered)
    # Folders on the current path and the last 4 used, never the 161 made: bounded by the
    # depth and `keep`, not by the tree.
    assert max(held) <= 2 * (4 + 4)
    folders = 1 + 40 + 40 * 3  # Base, d00..d39, their s0..s2
    assert api.count("POST", "/folders") == folders  # each made once, none twice
    assert api.count("GET", "/folders") == 1  # the root only: nothing listed again
    assert api.count("POST", "/files") == len(rels)
