"""Path patterns and value templates: what a document controller writes matches what they mean."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkupload.metadata._patterns import Ref, Template, builtin_captures, glob_regex

# Segment text: anything but "/" (names from real trees: spaces, dots, brackets, accents, ...).
segment = st.text(st.characters(blacklist_characters="/", blacklist_categories=["Cs"]), min_size=1)


def match(pattern: str, path: str) -> dict[str, str | None] | None:
    found = re.match(glob_regex(pattern)[0], path)
    return None if found is None else found.groupdict()


def test_captures_split_at_the_first_separator() -> None:
    assert match("Drawings/{d}/{number}-{title}.pdf", "Drawings/E/E-101-Floor plan.pdf") == {
        "d": "E",
        "number": "E",
        "title": "101-Floor plan",
    }


def test_a_capture_stays_within_one_segment() -> None:
    assert match("{a}.pdf", "x/y.pdf") is None
    assert match("*/{a}.pdf", "x/y.pdf") == {"a": "y"}


def test_star_and_question_mark_stay_within_a_segment() -> None:
    assert match("*.pdf", "a.pdf") == {}
    assert match("*.pdf", "dir/a.pdf") is None
    assert match("?.pdf", "a.pdf") == {}
    assert match("?.pdf", "ab.pdf") is None


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("**/x.pdf", "x.pdf", True),
        ("**/x.pdf", "a/b/c/x.pdf", True),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/1/2/b", True),
        ("a/**/b", "ab", False),
        ("Drawings/**", "Drawings/a.pdf", True),
        ("Drawings/**", "Drawings/E/a.pdf", True),
        ("Drawings/**", "Drawings", False),
        ("Drawings/**", "Drawingsx/a.pdf", False),
        ("**", "anything/at/all", True),
        ("/top.pdf", "top.pdf", True),  # a leading slash is the SOURCE root
    ],
)
def test_double_star_is_any_depth(pattern: str, path: str, matches: bool) -> None:
    assert (match(pattern, path) is not None) is matches


def test_a_repeated_capture_must_repeat_its_text() -> None:
    assert match("{d}/{d}-{n}.pdf", "E/E-101.pdf") == {"d": "E", "n": "101"}
    assert match("{d}/{d}-{n}.pdf", "E/M-101.pdf") is None


def test_braces_are_escaped_by_doubling() -> None:
    assert match("{{draft}}-{n}.pdf", "{draft}-7.pdf") == {"n": "7"}


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("a**/b", "'**' must be a whole path segment"),
        ("a//b", "empty path segment"),
        ("Drawings/", "ends with '/'"),
        ("{1abc}.pdf", "is not a capture name"),
        ("{a.pdf", "'{' without '}'"),
        ("a}.pdf", "'}' without '{'"),
        ("{a{b}}.pdf", "'{' inside"),
    ],
)
def test_malformed_patterns_say_why(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        glob_regex(pattern)


@given(st.lists(segment, min_size=1, max_size=4))
def test_literal_text_matches_itself_only(segments: list[str]) -> None:
    path = "/".join(segments)
    pattern = path.replace("{", "{{").replace("}", "}}").replace("*", "x").replace("?", "x")
    literal = path.replace("*", "x").replace("?", "x")
    if "**" in pattern or pattern.startswith("/"):
        return
    assert match(pattern, literal) == {}
    assert match(pattern, literal + "x") is None


@given(
    discipline=segment,
    number=st.text(
        st.characters(blacklist_characters="/-", blacklist_categories=["Cs"]), min_size=1
    ),
    title=segment,
)
def test_captures_from_arbitrary_names(discipline: str, number: str, title: str) -> None:
    path = f"Drawings/{discipline}/{number}-{title}.pdf"
    found = match("Drawings/{discipline}/{number}-{title}.pdf", path)
    assert found == {"discipline": discipline, "number": number, "title": title}
    rendered = Template.parse("{number} {title|untitled}").render(found)
    assert rendered == f"{number} {title}"


def test_templates_render_literals_captures_and_defaults() -> None:
    template = Template.parse("Rev {revision|A} of {{{number}}}")
    assert template.parts == ("Rev ", Ref("revision", "A"), " of {", Ref("number"), "}")
    assert template.render({"number": "7"}) == "Rev A of {7}"
    assert template.render({"number": "7", "revision": None}) == "Rev A of {7}"
    assert template.render({"number": "7", "revision": ""}) == "Rev A of {7}"
    assert template.render({"number": "7", "revision": "C"}) == "Rev C of {7}"
    assert Template.parse("{x|}").render({}) == ""
    assert Template.parse("{ x }").parts == (Ref("x"),)
    with pytest.raises(ValueError, match=re.escape("{1x|a} is not a capture name")):
        Template.parse("{1x|a}")


@given(st.text(st.characters(blacklist_categories=["Cs"])))
def test_escaped_text_renders_back_to_itself(text: str) -> None:
    escaped = text.replace("{", "{{").replace("}", "}}")
    assert Template.parse(escaped).render({}) == text


def test_builtin_captures_describe_the_path() -> None:
    assert builtin_captures("Drawings/E/A-101.rev.pdf") == {
        "path": "Drawings/E/A-101.rev.pdf",
        "dir": "Drawings/E",
        "file": "A-101.rev.pdf",
        "stem": "A-101.rev",
        "ext": "pdf",
    }
    assert builtin_captures("README")["stem"] == "README"
    assert builtin_captures("README")["ext"] == ""
    assert builtin_captures(".env")["stem"] == ".env"
    assert builtin_captures("top.pdf")["dir"] == ""
