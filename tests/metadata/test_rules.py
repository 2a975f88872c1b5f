"""The rules file: what each file gets from its path, and one clear line for a bad file."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from bulkupload.errors import ConfigError
from bulkupload.metadata import MetadataError, RuleSet, load_rules, parse_rules
from tests.metadata.project import DRAWING_RULES


def fields_of(rules: RuleSet, rel: str) -> tuple[int | None, dict[str, object]]:
    """The rule number and each field's rendered value, lowest layer first (as the resolver
    layers them: defaults, rule defaults, rule fields)."""
    rule, captures = rules.match(rel)
    out: dict[str, object] = {e.key: e.render(captures) for e in rules.defaults}
    if rule is not None:
        for entry in (*rule.defaults, *rule.fields):
            if value := entry.render(captures):
                out[entry.key] = value
    return (None if rule is None else rule.number), out


def test_the_example_rules_file_reads_and_matches() -> None:
    rules = parse_rules(DRAWING_RULES)
    assert fields_of(rules, "Drawings/E/E101_Lighting plan.pdf") == (
        1,
        {
            "status": "Issued for Construction",
            "type": "Drawing",
            "discipline": "E",
            "number": "E101",
            "revision": "A",  # no revision capture: the default
            "description": "Lighting plan",
        },
    )
    assert fields_of(rules, "Specs/260500 Wiring.docx") == (
        2,
        {"status": "Issued for Construction", "type": "SPC", "revision": "0"},
    )
    assert fields_of(rules, "Photos/site.jpg") == (None, {"status": "Issued for Construction"})


def test_the_first_matching_rule_wins() -> None:
    rules = parse_rules(
        """
        [[rule]]
        match = "Drawings/E/*.pdf"
        fields = { discipline = "Electrical" }
        [[rule]]
        match = "Drawings/**"
        fields = { discipline = "General" }
        """
    )
    assert fields_of(rules, "Drawings/E/1.pdf") == (1, {"discipline": "Electrical"})
    assert fields_of(rules, "Drawings/M/1.pdf") == (2, {"discipline": "General"})


def test_rule_defaults_fill_what_the_rule_leaves_empty() -> None:
    rules = parse_rules(
        r"""
        [defaults]
        status = "Issued for Review"
        revision = "0"
        [[rule]]
        regex = '^(?P<number>[A-Z0-9]+)(?:_R(?P<rev>\w+))?\.pdf$'
        [rule.fields]
        revision = "{rev}"
        [rule.defaults]
        revision = "A"
        status = "Issued for Construction"
        """
    )
    assert fields_of(rules, "X1_RC.pdf")[1] == {
        "status": "Issued for Construction",
        "revision": "C",
    }
    assert fields_of(rules, "X1.pdf")[1] == {"status": "Issued for Construction", "revision": "A"}


def test_values_may_be_numbers_dates_and_lists() -> None:
    rules = parse_rules(
        """
        [defaults]
        sheets = 12
        scale = 0.5
        date_authored = 2025-12-15
        stamped = 2025-12-15T10:30:00Z
        trades = ["Electrical", "{stem}", ""]
        """
    )
    assert fields_of(rules, "HVAC.pdf")[1] == {
        "sheets": "12",
        "scale": "0.5",
        "date_authored": "2025-12-15",
        "stamped": "2025-12-15T10:30:00+00:00",
        "trades": ("Electrical", "HVAC"),  # empty list items are dropped
    }


def test_ignore_case_and_unicode_forms() -> None:
    rules = parse_rules('ignore_case = true\n[[rule]]\nmatch = "plans/Café/{n}.PDF"')
    nfd = unicodedata.normalize("NFD", "Plans/Café/7.pdf")
    rule, captures = rules.match(nfd)
    assert rule is not None
    assert captures["n"] == "7"
    assert parse_rules('[[rule]]\nmatch = "plans/*.pdf"').match("Plans/a.pdf")[0] is None


def test_a_regex_rule_is_searched_as_written() -> None:
    rules = parse_rules("[[rule]]\nregex = '(?P<code>[A-Z]-\\d+)'\nfields = { number = '{code}' }")
    assert fields_of(rules, "any/where/A-12 title.pdf") == (1, {"number": "A-12"})


def test_a_rule_with_no_fields_claims_its_files() -> None:
    rules = parse_rules(
        '[[rule]]\nmatch = "Archive/**"\n[[rule]]\nmatch = "**"\nfields = { status = "x" }'
    )
    assert fields_of(rules, "Archive/old.pdf") == (1, {})


def test_load_rules_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('\ufeff[defaults]\nstatus = "Issued"\n', encoding="utf-8")
    assert load_rules(path).defaults[0].key == "status"
    with pytest.raises(MetadataError, match=r"missing\.toml: cannot read the rules file"):
        load_rules(tmp_path / "missing.toml")


BAD_VALUE = (
    "rules.toml: [defaults] field 'x': a value is text, a number, a date or a list of those,"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[defaults\n", "rules.toml: not valid TOML: "),
        ("rules = []", "rules.toml: unknown key 'rules' (expected: ignore_case, defaults, rule)"),
        ("ignore_case = 'yes'", "rules.toml: ignore_case must be true or false"),
        ("[rule]\nmatch = 'a'", "rules.toml: write rules as [[rule]] (an array of tables)"),
        (
            "[[rule]]\nmatch = 'a'\nfeilds = {}",
            "rules.toml: rule 1: unknown key 'feilds' (expected: match, regex, fields, defaults)",
        ),
        ("[[rule]]\nfields = {}", "rules.toml: rule 1: give exactly one of match"),
        ("[[rule]]\nmatch = 'a'\nregex = 'a'", "rules.toml: rule 1: give exactly one of match"),
        ("[[rule]]\nmatch = ''", "rules.toml: rule 1: match must be a non-empty text"),
        (
            "[[rule]]\nmatch='a'\n[[rule]]\nregex = '(?P<n>'",
            "rules.toml: rule 2: bad regex '(?P<n>': missing ), unterminated subpattern",
        ),
        (
            "[[rule]]\nmatch = 'a/**b'",
            "rules.toml: rule 1: bad match pattern 'a/**b': '**' must be a whole path segment",
        ),
        (
            "[[rule]]\nmatch = '{d}/{n}.pdf'\nfields = { number = '{num}' }",
            "rules.toml: rule 1: [rule.fields] field 'number': uses {num}, which this rule's "
            "pattern does not capture (it captures: d, n; built-ins: path, dir, file, stem, ext;",
        ),
        (
            "[defaults]\nnumber = '{n}'",
            "rules.toml: [defaults] field 'number': uses {n}, which is not defined here",
        ),
        (
            "[[rule]]\nmatch = 'a'\n[rule.defaults]\nx = '{a'",
            "rules.toml: rule 1: [rule.defaults] field 'x': '{' without '}' in template",
        ),
        (
            "[defaults]\nType = 'a'\ntype = 'b'",
            "rules.toml: [defaults] field 'type': given twice (also as 'Type')",
        ),
        ("[defaults]\nx = true", f"{BAD_VALUE} not true/false"),
        ("[defaults]\nx = { a = 1 }", f"{BAD_VALUE} not a table"),
        ("[defaults]\nx = [[1]]", f"{BAD_VALUE} not a list inside a list"),
        ("[defaults]\nx = 10:30:00", f"{BAD_VALUE} not a time of day"),
        ("defaults = 3", "rules.toml: [defaults] must be a table of field = value"),
        ("rule = [1]", "rules.toml: rule 1: a rule must be a table"),
        ("[defaults]\n' ' = 'a'", "rules.toml: [defaults] a field key is empty"),
    ],
)
def test_a_bad_rules_file_is_one_line_naming_file_and_rule(text: str, message: str) -> None:
    with pytest.raises(MetadataError) as caught:
        parse_rules(text, source="rules.toml")
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, ConfigError)  # the CLI's exit 2, before any upload


def test_a_defaulted_capture_need_not_be_captured() -> None:
    # `{revision|A}` says the capture may be absent: a rule may share it with rules that have it.
    rules = parse_rules("[[rule]]\nmatch = '{n}.pdf'\nfields = { revision = '{revision|A}' }")
    assert fields_of(rules, "7.pdf") == (1, {"revision": "A"})


def test_captures_shadow_builtins() -> None:
    rules = parse_rules(
        "[[rule]]\nmatch = '{stem}-{x}.pdf'\nfields = { a = '{stem}', b = '{file}' }"
    )
    assert fields_of(rules, "one-two.pdf") == (1, {"a": "one", "b": "one-two.pdf"})
