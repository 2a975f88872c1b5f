"""From a file's path to the field values Procore needs, checked against the project's upload
requirements: the rules file and the sidecar say what each file gets, the catalog says what
the values are called in Procore.

The catalog's fields and requirements are read once (`MetadataResolver.create`), every field
key of the rules file and sidecar is bound to a field then, and values are looked up once per
run (`_lookup`). `resolve` is then pure but for those lookups: safe to call from many tasks.

Memory for a run, whatever the tree size: the catalog (fields, requirements, the values of each
field listed), at most `keyword_limit` keyword answers per reference field, the sidecar (its
rows, and the set of its paths seen so far), and one `FileMetadata` per file in flight (about
1 KiB: its own tuples and texts; the catalog records it names are shared).
"""

from __future__ import annotations

from collections.abc import Sequence

from ._catalog import Catalog
from ._lookup import KEYWORD_LIMIT, Miss, ValueLookup
from ._outcome import FieldSetting, FileMetadata, Problem, ProblemKind
from ._records import USER_VARIANTS, FieldDef, FieldType, Requirement
from ._requirements import choose_requirement, missing_fields, user_fillable
from ._rules import RuleSet
from ._sidecar import Sidecar, normalize_path
from ._values import numeric_value, split_values, timestamp_value

__all__ = ["MetadataResolver"]

Given = str | tuple[str, ...]
_LITERAL = {FieldType.STRING, FieldType.RICH_TEXT, FieldType.NUMERIC, FieldType.TIMESTAMP}
_SEVERAL = {FieldType.LOV_ENTRIES, FieldType.REFERENCE}


class MetadataResolver:
    """Resolves each file's metadata for one project and one run."""

    def __init__(
        self,
        fields: Sequence[FieldDef],
        requirements: Sequence[Requirement],
        lookup: ValueLookup,
        rules: RuleSet | None = None,
        sidecar: Sidecar | None = None,
    ) -> None:
        self.fields = tuple(fields)
        self.requirements = tuple(requirements)
        self._lookup = lookup
        self._rules = rules or RuleSet("no rules")
        self._sidecar = sidecar
        self._by_id = {field.id: field for field in self.fields}
        self._order = {field.id: index for index, field in enumerate(self.fields)}
        self._bound: dict[str, FieldDef | str] = {}
        for key in self._keys():
            self._bound.setdefault(key.casefold(), self._bind(key))
        self._sidecar_seen: set[str] = set()

    @classmethod
    async def create(
        cls,
        catalog: Catalog,
        rules: RuleSet | None = None,
        sidecar: Sidecar | None = None,
        *,
        keyword_limit: int = KEYWORD_LIMIT,
    ) -> MetadataResolver:
        """Read the project's fields and upload requirements (two listings) and bind the rules
        file's and sidecar's field keys to them."""
        fields = await catalog.fields()
        requirements = await catalog.requirements()
        lookup = ValueLookup(catalog, keyword_limit=keyword_limit)
        return cls(fields, requirements, lookup, rules, sidecar)

    async def resolve(self, rel: str) -> FileMetadata:
        """The metadata outcome for the file at `rel` (`/`-separated, relative to SOURCE)."""
        rule, captures = self._rules.match(rel)
        given: dict[str, tuple[FieldDef, Given, str]] = {}
        unknown: dict[str, Problem] = {}
        layers = [("defaults", self._rules.defaults)]
        if rule is not None:
            layers += [(f"rule {rule.number} defaults", rule.defaults)]
            layers += [(f"rule {rule.number}", rule.fields)]
        for source, entries in layers:
            for entry in entries:
                self._give(entry.key, entry.render(captures), source, given, unknown)
        path = normalize_path(rel)
        if self._sidecar is not None and (row := self._sidecar.rows.get(path)) is not None:
            self._sidecar_seen.add(path)
            for key, cell in zip(self._sidecar.columns, row, strict=True):
                self._give(key, cell, "sidecar", given, unknown)
        problems = list(unknown.values())
        settings: dict[str, FieldSetting] = {}
        for field, value, source in sorted(given.values(), key=lambda g: self._order[g[0].id]):
            found = await self._setting(field, value, source)
            if isinstance(found, FieldSetting):
                settings[field.id] = found
            else:
                problems += found
        requirement = choose_requirement(self.requirements, settings)
        for ref in missing_fields(requirement, given, self._by_id):
            reason = "is required and has no value"
            problems.append(Problem(ProblemKind.MISSING, ref.label, reason, field_id=ref.id))
        number = None if rule is None else rule.number
        return FileMetadata(rel, number, tuple(settings.values()), requirement, tuple(problems))

    def sheet_columns(self) -> tuple[tuple[str, FieldDef], ...]:
        """The (header, field) columns of a dry-run sheet: the fields any requirement rule makes
        the user fill, then those the rules file or sidecar name (each once, settable ones
        only). A header is the field's label, or its name where the label would not find it."""
        columns: dict[str, FieldDef] = {}
        for requirement in self.requirements:
            for ref in requirement.required:
                if (field := user_fillable(ref, self._by_id)) is not None:
                    columns.setdefault(field.id, field)
        named = (f for f in self._bound.values() if isinstance(f, FieldDef))
        for field in sorted(named, key=lambda f: self._order[f.id]):
            if not field.not_settable:
                columns.setdefault(field.id, field)
        return tuple((f.label if self._bind(f.label) is f else f.name, f) for f in columns.values())

    def unmatched_sidecar_paths(self) -> list[str]:
        """Sidecar paths no resolved file had so far (after a whole run: not in the tree)."""
        if self._sidecar is None:
            return []
        return sorted(path for path in self._sidecar.rows if path not in self._sidecar_seen)

    def _keys(self) -> list[str]:
        keys = [entry.key for entry in self._rules.defaults]
        for rule in self._rules.rules:
            keys += [entry.key for entry in (*rule.defaults, *rule.fields)]
        return keys + list(self._sidecar.columns if self._sidecar else ())

    def _bind(self, key: str) -> FieldDef | str:
        """The field a key names (its name, else its label, ignoring case), or why none."""
        folded = key.casefold()
        by_name = [f for f in self.fields if f.name.casefold() == folded]
        if by_name:
            return by_name[0]
        by_label = [f for f in self.fields if f.label.casefold() == folded]
        if len(by_label) == 1:
            return by_label[0]
        if by_label:
            names = ", ".join(f.name for f in by_label)
            return f"is the label of {len(by_label)} fields: use a name ({names})"
        return "names no field of this project"

    def _give(
        self,
        key: str,
        value: Given,
        source: str,
        given: dict[str, tuple[FieldDef, Given, str]],
        unknown: dict[str, Problem],
    ) -> None:
        """Record `value` for the field `key` names, over what a lower layer gave."""
        text = value.strip() if isinstance(value, str) else "; ".join(value)
        if not text:
            return  # nothing given here: a lower layer's value stands
        field = self._bound[key.casefold()]
        if isinstance(field, str):
            unknown[key.casefold()] = Problem(ProblemKind.UNKNOWN_FIELD, key, field, text, source)
        else:
            given[field.id] = (field, value.strip() if isinstance(value, str) else value, source)

    async def _setting(
        self, field: FieldDef, value: Given, source: str
    ) -> FieldSetting | list[Problem]:
        text = value if isinstance(value, str) else "; ".join(value)

        def problem(kind: ProblemKind, reason: str) -> list[Problem]:
            return [Problem(kind, field.label, reason, text, source, field.id)]

        if (why := field.not_settable) is not None:
            return problem(ProblemKind.NOT_SETTABLE, f"cannot be set: the field is {why}")
        if field.type in _SEVERAL:
            texts = split_values(value)
        elif isinstance(value, str):
            texts = (value,)
        elif len(value) == 1:
            texts = value
        else:
            return problem(ProblemKind.WRONG_TYPE, f"is {len(value)} values: the field takes one")
        if not texts:
            return problem(ProblemKind.WRONG_TYPE, "holds no value between the ';'")
        if field.type in _LITERAL:
            try:
                return FieldSetting(field, (_literal(field.type, texts[0]),), text, source)
            except ValueError as exc:
                return problem(ProblemKind.WRONG_TYPE, str(exc))
        if field.type not in (*_SEVERAL, FieldType.LOV_ENTRY):
            return problem(ProblemKind.WRONG_TYPE, f"cannot be set: type {field.type!r} is unknown")
        if field.type == FieldType.REFERENCE and field.variant in USER_VARIANTS:
            # Procore's values endpoint lists no users for these: ids are taken as given.
            if all(one.isascii() and one.isdigit() for one in texts):
                return FieldSetting(field, texts, text, source)
            return problem(ProblemKind.WRONG_TYPE, "is not a Procore user id (a number)")
        ids: list[str] = []
        problems: list[Problem] = []
        for one in texts:
            found = await self._lookup.find(field, one)
            if isinstance(found, Miss):  # named in the reason when it is one of several
                several = len(texts) > 1
                reason = f"includes {one!r}, which {found.reason}" if several else found.reason
                problems += problem(found.kind, reason)
            else:
                ids.append(found.id)
        if problems:
            return problems
        return FieldSetting(field, tuple(dict.fromkeys(ids)), text, source)


def _literal(kind: str, text: str) -> str:
    if kind == FieldType.NUMERIC:
        return numeric_value(text)
    if kind == FieldType.TIMESTAMP:
        return timestamp_value(text)
    return text.strip()
