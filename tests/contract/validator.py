"""Check recorded API exchanges against Procore's published contract (vendored beside this file).

One exchange gives a list of `Violation`s: the route is not published, the query, content type
or body of the request is not the published one, the status is not listed, or the answer's body
or headers do not match the schema for its status. Lost answers (the connection dropped after the
handler) are checked on the request side only. An off-contract request that got a 4xx is
`refused`, not a violation: the server said no, as Procore would. The few places where the
contract itself is wrong against Procore's documentation are listed in `exceptions.EXCEPTIONS`
and nowhere else.

`/vapid/...` is Procore's deprecated name of REST v1.0 ("Rest v1.0 is a superset of the Vapid
Api - there are no breaking changes": procore-oss/js-sdk CHANGELOG 3.0.0, linking
developers.procore.com/documentation/vapid-deprecation). The contract publishes only v1.0, so a
`/vapid/X` exchange is checked as `/rest/v1.0/X`: no exception needed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from bulkupload.emulator.recording import Exchange
from tests.contract.exceptions import EXCEPTIONS, Excepted

CONTRACT_DIR = Path(__file__).parent / "procore-contract"
LEGACY_PREFIX, LEGACY_TARGET = "/vapid/", "/rest/v1.0/"
JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_PARAM_RE = re.compile(r"\{[^/{}]+\}")
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$"
)


def _format_checker() -> FormatChecker:
    """The 2020-12 checker plus `date-time` (jsonschema only checks it with an optional extra,
    rfc3339-validator, which the project does not install: without this it would pass anything)."""
    checker = FormatChecker(formats=())
    checker.checkers.update(Draft202012Validator.FORMAT_CHECKER.checkers)

    @checker.checks("date-time", raises=ValueError)
    def date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not _RFC3339.match(value):
            return False
        datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        return True

    return checker


FORMAT_CHECKER = _format_checker()


@dataclass(frozen=True, slots=True)
class Violation:
    """One way an exchange departs from the contract."""

    operation: str | None
    method: str
    path: str
    status: int | None
    kind: str  # route | query | content-type | request | status | response | header
    where: str  # JSON path ("$.file_versions[0].upload_uuid") or a header/parameter name
    message: str

    def __str__(self) -> str:
        status = "lost" if self.status is None else str(self.status)
        op = self.operation or f"{self.method} {self.path}"
        return f"{op} [{status}] {self.kind} at {self.where}: {self.message}"


@dataclass(frozen=True)
class Operation:
    """One published operation: its template as a regex, and its contract file."""

    id: str
    method: str
    template: str
    spec: Mapping[str, Any]

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        parts = _PARAM_RE.split(self.template)
        return re.compile("^" + "[^/]+".join(re.escape(p) for p in parts) + "$")

    @property
    def literal_length(self) -> int:
        """How much of the template is fixed text: the more, the more specific the match."""
        return len(_PARAM_RE.sub("", self.template))


@dataclass(frozen=True)
class Outcome:
    """What checking one exchange found: the operation (None if unpublished) and violations."""

    operation: str | None
    violations: tuple[Violation, ...]
    excepted: tuple[tuple[Violation, str], ...] = ()  # (violation, exception id)
    unchecked: tuple[str, ...] = ()  # parts that could not be checked (truncated bodies)
    refused: tuple[Violation, ...] = ()  # off-contract requests the server refused (4xx)


class Contract:
    """The contract directory, loaded once; `check(exchange)` validates one exchange."""

    def __init__(
        self, directory: Path = CONTRACT_DIR, exceptions: Mapping[str, Excepted] = EXCEPTIONS
    ) -> None:
        index = json.loads((directory / "index.json").read_text())["operations"]
        self.operations = [
            Operation(op, entry["method"].upper(), entry["path"], self._load(directory, entry))
            for op, entry in index.items()
        ]
        self.exceptions = dict(exceptions)
        self._validators: dict[int, Draft202012Validator] = {}

    @staticmethod
    def _load(directory: Path, entry: Mapping[str, str]) -> Mapping[str, Any]:
        spec: Mapping[str, Any] = json.loads((directory / entry["file"]).read_text())
        return spec

    def operation(self, op_id: str) -> Operation:
        return next(op for op in self.operations if op.id == op_id)

    def match(self, method: str, path: str) -> Operation | None:
        """The published operation for (method, path); `/vapid/` is REST v1.0."""
        if path.startswith(LEGACY_PREFIX):
            path = LEGACY_TARGET + path[len(LEGACY_PREFIX) :]
        found = [op for op in self.operations if op.method == method and op.pattern.match(path)]
        return max(found, key=lambda op: op.literal_length, default=None)

    def check(self, exchange: Exchange) -> Outcome:
        op = self.match(exchange.method, exchange.path)
        if op is None:
            found = [
                Violation(
                    None,
                    exchange.method,
                    exchange.path,
                    exchange.status,
                    "route",
                    "-",
                    "no published operation has this method and path",
                )
            ]
            return self._outcome(None, found, ())
        checks = _Checks(self, op, exchange)
        found = [*checks.query(), *checks.request()]
        if not exchange.lost:
            found += [*checks.response()]
        return self._outcome(op.id, found, tuple(checks.unchecked))

    def _outcome(
        self, op_id: str | None, found: list[Violation], unchecked: tuple[str, ...]
    ) -> Outcome:
        kept: list[Violation] = []
        excepted: list[tuple[Violation, str]] = []
        refused: list[Violation] = []
        for violation in found:
            if _refused(violation):
                refused.append(violation)
                continue
            reason = next(
                (key for key, exc in self.exceptions.items() if exc.covers(violation)), None
            )
            if reason is None:
                kept.append(violation)
            else:
                excepted.append((violation, reason))
        return Outcome(op_id, tuple(kept), tuple(excepted), unchecked, tuple(refused))

    def validator(self, schema: Mapping[str, Any]) -> Draft202012Validator:
        """One compiled validator per schema object (schemas are validated as root documents)."""
        key = id(schema)
        if key not in self._validators:
            self._validators[key] = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
        return self._validators[key]


REQUEST_KINDS = frozenset({"route", "query", "content-type", "request"})


def _refused(violation: Violation) -> bool:
    """An off-contract request answered 4xx is the server doing its job (tests of the emulator's
    refusals send such requests on purpose); it is counted, not failed. The same request
    accepted (2xx), or with its answer lost after the handler ran, is a violation."""
    status = violation.status
    return violation.kind in REQUEST_KINDS and status is not None and 400 <= status < 500


class _Checks:
    """The checks of one exchange against one operation."""

    def __init__(self, contract: Contract, op: Operation, exchange: Exchange) -> None:
        self.contract, self.op, self.exchange = contract, op, exchange
        self.unchecked: list[str] = []

    def violation(self, kind: str, where: str, message: str) -> Violation:
        e = self.exchange
        return Violation(self.op.id, e.method, e.path, e.status, kind, where, message)

    def schema_violations(
        self, kind: str, schema: Mapping[str, Any], value: object
    ) -> Iterator[Violation]:
        errors = self.contract.validator(schema).iter_errors(value)
        for error in sorted(errors, key=lambda e: (list(e.absolute_path), e.message)):
            for leaf in _leaves(error):
                yield self.violation(kind, leaf.json_path, _short(leaf.message))

    # ---- request ------------------------------------------------------------------------

    def query(self) -> Iterator[Violation]:
        published: Mapping[str, Mapping[str, Any]] = self.op.spec.get("query") or {}
        sent = dict(self.exchange.query)
        for name, value in self.exchange.query:
            spec = published.get(name)
            if spec is None:
                yield self.violation("query", name, f"parameter {name!r} is not published")
                continue
            schema = {k: v for k, v in spec.items() if k not in ("required", "description")}
            coerced = _coerce(value, schema, schema)
            yield from (
                self.violation("query", name, v.message)
                for v in self.schema_violations("query", schema, coerced)
            )
        for name, spec in published.items():
            if spec.get("required") and name not in sent:
                yield self.violation("query", name, f"required parameter {name!r} is missing")

    def request(self) -> Iterator[Violation]:
        e, published = self.exchange, self.op.spec.get("request")
        has_body = (
            e.request_form is not None
            or bool(e.request_body)
            or e.request_truncated
            or e.request_unread
        )
        if published is None:
            if has_body:
                yield self.violation("request", "$", "this operation publishes no request body")
            return
        schema: Mapping[str, Any] = published["schema"]
        if has_body:
            allowed = [published["contentType"], *published.get("alternateContentTypes", [])]
            if e.request_content_type not in allowed:
                yield self.violation(
                    "content-type",
                    "Content-Type",
                    f"{e.request_content_type} is not published (allowed: {', '.join(allowed)})",
                )
        if e.request_truncated or e.request_unread:
            self.unchecked.append("request body (truncated or not received)")
            return
        body: object
        if e.request_form is not None:
            body = _coerce(_unflatten(e.request_form), schema, schema)
        elif e.request_body:
            try:
                body = json.loads(e.request_body)
            except ValueError:
                if e.lost:  # the connection dropped: the body may be only part of what was sent
                    self.unchecked.append("request body (cut by a dropped connection)")
                else:
                    yield self.violation("request", "$", "body is not JSON")
                return
        else:
            body = {}  # no body: what the schema requires is missing
        yield from self.schema_violations("request", schema, body)

    # ---- response -----------------------------------------------------------------------

    def response(self) -> Iterator[Violation]:
        e = self.exchange
        responses: Mapping[str, Mapping[str, Any]] = self.op.spec["responses"]
        key = str(e.status) if str(e.status) in responses else "default"
        if key not in responses:
            yield self.violation(
                "status", "-", f"status {e.status} is not published ({', '.join(responses)})"
            )
            return
        published = responses[key]
        yield from self.headers(published.get("headers") or {})
        if e.response_truncated:
            self.unchecked.append("response body (truncated)")
            return
        raw = e.response_body or b""
        body: object = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                yield self.violation("response", "$", "body is not JSON")
                return
        yield from self.schema_violations("response", published["schema"], body)

    def headers(self, published: Mapping[str, Mapping[str, Any]]) -> Iterator[Violation]:
        sent = {name.lower(): value for name, value in self.exchange.response_headers}
        for name, spec in published.items():
            value = sent.get(name.lower())
            if value is None:
                yield self.violation("header", name, "published header is missing")
            elif spec.get("type") == "integer" and not re.fullmatch(r"-?\d+", value.strip()):
                yield self.violation("header", name, f"{value!r} is not an integer")


# ---- forms: bracketed names to nested objects, strings to the schema's types ------------------


def _unflatten(form: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """`file[name]=a`, `file[tags][]=x` -> `{"file": {"name": "a", "tags": ["x"]}}` (as Rails)."""
    root: dict[str, Any] = {}
    for name, value in form:
        head, _, rest = name.partition("[")
        keys = [head] + (rest[:-1].split("][") if rest.endswith("]") else [])
        node: Any = root
        for i, key in enumerate(keys):
            last = i == len(keys) - 1
            if key == "" and isinstance(node, list):  # `a[]`: append
                if last:
                    node.append(value)
                else:
                    node.append({})
                    node = node[-1]
                continue
            if not isinstance(node, dict):
                break  # `a=1` then `a[b]=2`: keep the first, the schema check reports the rest
            if last:
                node[key] = value
            else:
                following_list = keys[i + 1] == ""
                node = node.setdefault(key, [] if following_list else {})
    return root


def _coerce(value: object, schema: Mapping[str, Any], root: Mapping[str, Any]) -> object:
    """Form values are strings: make each the type its schema declares, when it reads as one."""
    schema = _resolve(schema, root)
    if isinstance(value, dict):
        props: Mapping[str, Any] = schema.get("properties") or {}
        patterns: Mapping[str, Any] = schema.get("patternProperties") or {}
        out: dict[str, object] = {}
        for key, item in value.items():
            sub = props.get(key) or next(
                (s for p, s in patterns.items() if re.search(p, key)), None
            )
            if sub is None:
                extra = schema.get("additionalProperties")
                sub = extra if isinstance(extra, dict) else {}
            out[key] = _coerce(item, sub, root)
        return out
    if isinstance(value, list):
        items = schema.get("items")
        return [_coerce(v, items if isinstance(items, dict) else {}, root) for v in value]
    if not isinstance(value, str):
        return value
    for branch in schema.get("anyOf") or schema.get("oneOf") or ():
        if "string" in _types(_resolve(branch, root)):
            return value  # a string is fine as it is
    types = _types(schema)
    for branch in schema.get("anyOf") or schema.get("oneOf") or ():
        types += _types(_resolve(branch, root))
    if not types or "string" in types:
        return value
    if ("integer" in types or "number" in types) and re.fullmatch(r"-?\d+", value):
        return int(value)
    if "number" in types and re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", value):
        return float(value)
    if "boolean" in types and value in ("true", "false"):
        return value == "true"
    if "null" in types and value == "":
        return None
    return value


def _types(schema: Mapping[str, Any]) -> list[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return [declared]
    return list(declared) if isinstance(declared, list) else []


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    while isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node[part]
        schema, ref = node, node.get("$ref")
    return schema


# ---- readable errors -------------------------------------------------------------------------


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """The deepest errors of an anyOf/oneOf (the branch that came closest says what is wrong)."""
    if not error.context:
        yield error
        return
    best = max(error.context, key=lambda e: len(e.absolute_path))
    depth = len(best.absolute_path)
    if depth <= len(error.absolute_path):
        yield error
        return
    yield from _leaves(best)


def _short(message: str, limit: int = 200) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"
