"""The rules file (TOML): which field values each file gets from its path. Read and checked
once; a malformed file is one MetadataError line naming the file and the rule.

    ignore_case = false           # optional: patterns match regardless of case
    [defaults]                    # for every file (a field key: a Procore field name or label)
    status = "Issued for Construction"
    [[rule]]                      # rules are tried in order; the first that matches wins
    match = "Drawings/{discipline}/{number}-{title}.pdf"   # or regex = '...' with (?P<name>...)
    [rule.fields]                 # for the files this rule matches
    type = "Drawing"              # a literal (a label or a code: "Electrical" or "E")
    number = "{number}"           # a capture; "{revision|A}": A when there is none
    discipline = ["E", "M"]       # several values (lov_entries); "E; M" says the same
    [rule.defaults]               # used where this rule's fields leave a field empty

Per field, the first non-empty value wins: CSV sidecar, the rule's `fields`, the rule's
`defaults`, the file's `[defaults]`. Values may be text, numbers, TOML dates or lists of those.
A `regex` rule is searched in the path as written (anchor it with ^ and $); its named groups
are its captures. See `_patterns` for the pattern and template syntax.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import MetadataError
from ._patterns import BUILTINS, Template, builtin_captures, glob_regex

__all__ = ["FieldEntry", "Rule", "RuleSet", "load_rules", "parse_rules"]

_TOP_KEYS = ("ignore_case", "defaults", "rule")
_RULE_KEYS = ("match", "regex", "fields", "defaults")

Captures = dict[str, str | None]


@dataclass(frozen=True, slots=True)
class FieldEntry:
    """One field given in a rules table: `key` as written, and one template per value
    (a TOML list gives several; `is_list` keeps that apart from one text with `;` in it)."""

    key: str
    templates: tuple[Template, ...]
    is_list: bool = False

    def render(self, captures: Mapping[str, str | None]) -> str | tuple[str, ...]:
        """The value for one file: a text, or the non-empty texts of a list."""
        if not self.is_list:
            return self.templates[0].render(captures)
        texts = (t.render(captures).strip() for t in self.templates)
        return tuple(text for text in texts if text)


@dataclass(frozen=True, slots=True)
class Rule:
    """One `[[rule]]`: `number` counts from 1 in file order, as error messages say it."""

    number: int
    pattern: re.Pattern[str]
    is_glob: bool
    fields: tuple[FieldEntry, ...]
    defaults: tuple[FieldEntry, ...]

    def match(self, rel: str) -> Captures | None:
        """The captures when this rule matches `rel` (built-ins included), else None."""
        found = self.pattern.match(rel) if self.is_glob else self.pattern.search(rel)
        if found is None:
            return None
        captures = builtin_captures(rel)
        captures.update(found.groupdict())
        return captures


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A whole rules file, compiled. `source` names it in messages."""

    source: str
    defaults: tuple[FieldEntry, ...] = ()
    rules: tuple[Rule, ...] = ()

    def match(self, rel: str) -> tuple[Rule | None, Captures]:
        """The first rule that matches `rel` and its captures (no rule: None, built-ins).

        Paths are compared in Unicode NFC, so a name written on macOS (NFD) matches a pattern
        typed elsewhere, and captured text goes to Procore composed."""
        if not unicodedata.is_normalized("NFC", rel):
            rel = unicodedata.normalize("NFC", rel)
        for rule in self.rules:
            captures = rule.match(rel)
            if captures is not None:
                return rule, captures
        return None, builtin_captures(rel)


def load_rules(path: str | Path) -> RuleSet:
    """Read and check a rules file (blocking: call it before the event loop or in a thread)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MetadataError(f"{path}: cannot read the rules file ({exc})") from exc
    return parse_rules(text, source=str(path))


def parse_rules(text: str, *, source: str = "rules") -> RuleSet:
    """Check and compile a rules file's text; MetadataError names `source` and the rule."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MetadataError(f"{source}: not valid TOML: {exc}") from exc
    _known_keys(doc, _TOP_KEYS, f"{source}:")
    ignore_case = doc.get("ignore_case", False)
    if not isinstance(ignore_case, bool):
        raise MetadataError(f"{source}: ignore_case must be true or false")
    flags = re.IGNORECASE if ignore_case else 0
    defaults = _entries(doc.get("defaults", {}), f"{source}: [defaults]", frozenset(BUILTINS))
    tables = doc.get("rule", [])
    if not isinstance(tables, list):
        raise MetadataError(f"{source}: write rules as [[rule]] (an array of tables)")
    rules = tuple(
        _rule(table, number, f"{source}: rule {number}:", flags)
        for number, table in enumerate(tables, start=1)
    )
    return RuleSet(source, defaults, rules)


def _rule(table: Any, number: int, where: str, flags: int) -> Rule:
    if not isinstance(table, dict):
        raise MetadataError(f"{where} a rule must be a table")
    _known_keys(table, _RULE_KEYS, where)
    if ("match" in table) == ("regex" in table):
        raise MetadataError(f"{where} give exactly one of match = '...' or regex = '...'")
    is_glob = "match" in table
    source = table["match" if is_glob else "regex"]
    if not isinstance(source, str) or not source:
        raise MetadataError(f"{where} {'match' if is_glob else 'regex'} must be a non-empty text")
    source = unicodedata.normalize("NFC", source)
    try:
        regex = glob_regex(source)[0] if is_glob else source
        pattern = re.compile(regex, flags)
    except (ValueError, re.error) as exc:
        kind = "match pattern" if is_glob else "regex"
        raise MetadataError(f"{where} bad {kind} {source!r}: {exc}") from exc
    names = frozenset(pattern.groupindex) | frozenset(BUILTINS)
    fields = _entries(table.get("fields", {}), f"{where} [rule.fields]", names, pattern)
    defaults = _entries(table.get("defaults", {}), f"{where} [rule.defaults]", names, pattern)
    return Rule(number, pattern, is_glob, fields, defaults)


def _entries(
    table: Any,
    where: str,
    names: frozenset[str],
    pattern: re.Pattern[str] | None = None,
) -> tuple[FieldEntry, ...]:
    if not isinstance(table, dict):
        raise MetadataError(f"{where} must be a table of field = value")
    seen: dict[str, str] = {}
    entries: list[FieldEntry] = []
    for key, value in table.items():
        field_where = f"{where} field {key!r}:"
        if not key.strip():
            raise MetadataError(f"{where} a field key is empty")
        if (folded := key.strip().casefold()) in seen:
            raise MetadataError(f"{field_where} given twice (also as {seen[folded]!r})")
        seen[folded] = key
        is_list = isinstance(value, list)
        texts = [_text(v, field_where) for v in (value if is_list else [value])]
        try:
            templates = tuple(Template.parse(t) for t in texts)
        except ValueError as exc:
            raise MetadataError(f"{field_where} {exc}") from exc
        for ref in (ref for template in templates for ref in template.refs):
            if ref.default is None and ref.name not in names:
                raise MetadataError(f"{field_where} uses {{{ref.name}}}, {_undefined(pattern)}")
        entries.append(FieldEntry(key.strip(), templates, is_list))
    return tuple(entries)


def _undefined(pattern: re.Pattern[str] | None) -> str:
    builtins = ", ".join(BUILTINS)
    if pattern is None:
        return f"which is not defined here (only built-ins: {builtins}; or write {{name|default}})"
    own = ", ".join(pattern.groupindex) or "nothing"
    return (
        f"which this rule's pattern does not capture (it captures: {own}; built-ins: "
        f"{builtins}; or write {{name|default}})"
    )


def _text(value: Any, where: str) -> str:
    """A TOML value as template text: numbers as written, dates and date-times in ISO 8601."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    kind = {dict: "a table", list: "a list inside a list", bool: "true/false"}.get(
        type(value), "a time of day"
    )
    raise MetadataError(f"{where} a value is text, a number, a date or a list of those, not {kind}")


def _known_keys(table: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in known:
            raise MetadataError(f"{where} unknown key {key!r} (expected: {', '.join(known)})")
