"""What a v2.1 Create Upload body must be: the published fields and types, the part rules
(1..10,000 parts, each at most 100 MiB, every one but the last over 5 MiB, sizes summing to
`file_size`), the tool enum, `url_expires_in` 60..3600. Every problem found becomes one detail
`{reason_code, source, message}` of the 400 answer."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeGuard, TypeVar

from bulkupload.emulator.core import PartSpec

MAX_PART_SIZE = 104_857_600  # 100 MiB
PART_FLOOR = 5 * 1024 * 1024  # every part but the last must be larger: exactly 5 MiB is refused
MAX_PARTS = 10_000
URL_TTL_MIN, URL_TTL_MAX = 60, 3600  # `url_expires_in`, seconds; the default is the maximum
TOOLS = frozenset(
    {
        "certifications",
        "daily_hazard_analyses",
        "document_management",
        "estimating",
        "lessons_learned",
        "orientations",
        "scheduling",
        "tool_studio",
        "toolbox_talks",
    }
)
REQUIRED = ("file_name", "file_size", "content_type", "segments")
OPTIONAL = ("sha256", "md5", "url_expires_in", "uploader_tool_name", "analytics", "custom_metadata")
SEGMENT_KEYS = frozenset({"size", "sha256", "md5"})
# `analytics`: the published members of each group (network_info is an open object).
ANALYTICS = {
    "application": {"procore_os_name", "procore_app_version", "client_sdk_name"}
    | {"client_sdk_version"},
    "network": {"network_type", "network_info"},
    "device": {"device_type", "device_model", "device_manufacturer", "screen_resolution"}
    | {"browser_name", "browser_version"},
}
TOOL_LIST = ", ".join(sorted(TOOLS))
HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")

Detail = dict[str, str]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CreatePlan:
    """A valid Create body, hex digests in lower case."""

    file_name: str
    file_size: int
    content_type: str
    sha256: str | None
    md5: str | None
    uploader_tool_name: str | None
    url_expires_in: int
    custom_metadata: dict[str, object]
    parts: tuple[PartSpec, ...]


def detail(reason_code: str, source: str, message: str) -> Detail:
    return {"reason_code": reason_code, "source": source, "message": message}


def plan_upload(body: dict[str, object]) -> CreatePlan | list[Detail]:
    """The plan of a valid body, else every problem found."""
    problems = [
        detail("UNKNOWN_PARAMETER", name, f"{name} is not a parameter of this endpoint")
        for name in sorted(set(body) - set(REQUIRED) - set(OPTIONAL))
    ]
    problems += [
        detail("MISSING_PARAMETER", name, f"{name} is required")
        for name in REQUIRED
        if name not in body
    ]
    file_name = _field(body, "file_name", _text, problems)
    content_type = _field(body, "content_type", _text, problems)
    file_size = _field(body, "file_size", _count, problems)
    sha256 = _field(body, "sha256", _sha256, problems)
    md5 = _field(body, "md5", _md5, problems)
    tool = body.get("uploader_tool_name")
    if "uploader_tool_name" in body and tool not in TOOLS:
        problems.append(
            detail("INVALID_PARAMETER", "uploader_tool_name", "must be one of " + TOOL_LIST)
        )
    ttl = url_ttl(body, problems)
    metadata = body.get("custom_metadata", {})
    if not isinstance(metadata, dict):
        problems.append(detail("INVALID_PARAMETER", "custom_metadata", "must be an object"))
    problems += _analytics_problems(body.get("analytics", {}))
    parts = _parts(body["segments"], file_size, problems) if "segments" in body else []
    if problems:
        return problems
    assert file_name is not None and content_type is not None and file_size is not None
    assert isinstance(metadata, dict)
    return CreatePlan(
        file_name=file_name,
        file_size=file_size,
        content_type=content_type,
        sha256=sha256,
        md5=md5,
        uploader_tool_name=tool if isinstance(tool, str) else None,
        url_expires_in=ttl,
        custom_metadata=metadata,
        parts=tuple(parts),
    )


def url_ttl(values: Mapping[str, object], problems: list[Detail]) -> int:
    """`url_expires_in` of a Create body or a status query: 60..3600 s, by default 3600."""
    ttl = _field(values, "url_expires_in", _url_ttl, problems)
    return URL_TTL_MAX if ttl is None else ttl


def _parts(raw: object, file_size: int | None, problems: list[Detail]) -> list[PartSpec]:
    if not isinstance(raw, list) or not raw:
        problems.append(detail("INVALID_PARAMETER", "segments", "must be a non-empty array"))
        return []
    if len(raw) > MAX_PARTS:
        problems.append(detail("TOO_MANY_PARTS", "segments", f"at most {MAX_PARTS} parts"))
        return []
    parts: list[PartSpec] = []
    for index, item in enumerate(raw):
        where = f"segments[{index}]"
        if not isinstance(item, dict):
            problems.append(detail("INVALID_PARAMETER", where, "must be an object"))
            continue
        problems += [
            detail("UNKNOWN_PARAMETER", f"{where}.{name}", f"{name} is not a segment field")
            for name in sorted(set(item) - SEGMENT_KEYS)
        ]
        if "sha256" not in item:
            problems.append(detail("MISSING_PARAMETER", f"{where}.sha256", "sha256 is required"))
        sha256 = _field(item, "sha256", _sha256, problems, f"{where}.sha256")
        md5 = _field(item, "md5", _md5, problems, f"{where}.md5")
        size = _part_size(item, index, len(raw), file_size, problems)
        if size is not None and sha256 is not None:
            parts.append(PartSpec(size, sha256, md5))
    if len(parts) == len(raw) and file_size is not None:
        total = sum(part.size for part in parts)
        if total != file_size:
            problems.append(
                detail(
                    "SIZE_MISMATCH", "segments", f"sizes sum to {total}, file_size is {file_size}"
                )
            )
    return parts


def _part_size(
    item: dict[str, object], index: int, count: int, file_size: int | None, problems: list[Detail]
) -> int | None:
    where = f"segments[{index}].size"
    if "size" not in item:
        # Published as optional: a single segment is the whole file; of several, each must say.
        if count == 1:
            return file_size
        problems.append(detail("MISSING_PARAMETER", where, "each of several parts needs a size"))
        return None
    size = _field(item, "size", _count, problems, where)
    if size is None:
        return None
    if size > MAX_PART_SIZE:
        problems.append(detail("PART_TOO_LARGE", where, f"a part is at most {MAX_PART_SIZE} bytes"))
        return None
    if index < count - 1 and size <= PART_FLOOR:
        problems.append(
            detail("PART_TOO_SMALL", where, f"every part but the last must exceed {PART_FLOOR}")
        )
        return None
    return size


def _analytics_problems(raw: object) -> list[Detail]:
    if not isinstance(raw, dict):
        return [detail("INVALID_PARAMETER", "analytics", "must be an object")]
    problems: list[Detail] = []
    for group, members in raw.items():
        where = f"analytics.{group}"
        if group not in ANALYTICS:
            problems.append(detail("UNKNOWN_PARAMETER", where, f"{group} is not published"))
        elif not isinstance(members, dict):
            problems.append(detail("INVALID_PARAMETER", where, "must be an object"))
        else:
            for name, value in members.items():
                wanted = dict if name == "network_info" else str
                if name not in ANALYTICS[group] or not isinstance(value, wanted):
                    problems.append(
                        detail("INVALID_PARAMETER", f"{where}.{name}", "not a published field")
                    )
    return problems


def _field(
    body: Mapping[str, object],
    name: str,
    accept: Callable[[object], T | None],
    problems: list[Detail],
    where: str | None = None,
) -> T | None:
    """`body[name]` as `accept` reads it; None when absent or not acceptable (null included),
    and then, if it was there, a problem noted (a missing required field is noted elsewhere)."""
    value = accept(body.get(name))
    if value is None and name in body:
        wanted = ACCEPTED[accept]
        problems.append(detail("INVALID_PARAMETER", where or name, f"must be {wanted}"))
    return value


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _count(value: object) -> int | None:
    return value if _integer(value) and value >= 1 else None


def _sha256(value: object) -> str | None:
    return value.lower() if isinstance(value, str) and HEX64.match(value) else None


def _md5(value: object) -> str | None:
    return value.lower() if isinstance(value, str) and HEX32.match(value) else None


def _url_ttl(value: object) -> int | None:
    return value if _integer(value) and URL_TTL_MIN <= value <= URL_TTL_MAX else None


ACCEPTED: dict[Callable[[object], object], str] = {
    _text: "a non-empty string",
    _count: "an integer of at least 1",
    _sha256: "64 hex digits",
    _md5: "32 hex digits",
    _url_ttl: f"an integer of {URL_TTL_MIN} to {URL_TTL_MAX} (seconds)",
}


def _integer(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
