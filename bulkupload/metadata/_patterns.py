"""The two small languages of a rules file: path patterns with named captures, and value
templates that use them. Both are compiled once, when the rules file is read.

Pattern (`match = "Drawings/{discipline}/{number}-{title}.pdf"`), against the whole `/`-separated
path relative to SOURCE:
  `{name}`  a capture: one or more characters within one path segment, as few as will do, left
            to right (so `{number}-{title}` splits at the first `-`); the same name twice must
            match the same text twice
  `*`       any characters within one segment     `?`  one character (not `/`)
  `**`      a whole segment: any number of directories (`**/x.pdf`, `a/**/b`), or at the end
            everything below (`Drawings/**`)
  `{{` `}}` a literal brace; every other character is itself (no `[...]` classes: brackets in
            file names are common, and a `regex` rule covers the rest)

Template (`number = "{number}"`, `revision = "{revision|A}"`): literal text with `{name}` for a
capture (or a built-in: `path`, `dir`, `file`, `stem`, `ext`) and `{name|default}` for one that
may be absent: the default is used when the rule does not capture `name`, or captured nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

__all__ = ["BUILTINS", "Ref", "Template", "builtin_captures", "glob_regex"]

#: Captures every rule has, from the file's own path (a rule's capture of the same name wins).
BUILTINS = ("path", "dir", "file", "stem", "ext")

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True, slots=True)
class Ref:
    """`{name}` or `{name|default}` in a template."""

    name: str
    default: str | None = None


@dataclass(frozen=True, slots=True)
class Template:
    """A value template, parsed: literal strings and capture references, in order."""

    parts: tuple[str | Ref, ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        """The template in `text`; ValueError with a short reason when it is malformed."""
        parts: list[str | Ref] = []
        literal: list[str] = []
        for token in _tokens(text, where="template"):
            if isinstance(token, str):
                literal.append(token)
                continue
            if literal:
                parts.append("".join(literal))
                literal.clear()
            name, bar, default = token[1].partition("|")
            name = name.strip()
            if not _NAME.match(name):
                raise ValueError(f"{{{token[1]}}} is not a capture name")
            parts.append(Ref(name, default if bar else None))
        if literal:
            parts.append("".join(literal))
        return cls(tuple(parts))

    @property
    def refs(self) -> Iterator[Ref]:
        """The capture references, in order."""
        return (part for part in self.parts if isinstance(part, Ref))

    def render(self, captures: Mapping[str, str | None]) -> str:
        """The text for one file; an absent or empty capture gives its default (or nothing)."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                out.append(captures.get(part.name) or part.default or "")
        return "".join(out)


def glob_regex(pattern: str) -> tuple[str, tuple[str, ...]]:
    """The anchored regex source for a path pattern, and its capture names in first-use order.

    A leading `/` is dropped (patterns are relative to SOURCE anyway). ValueError on `**` inside
    a segment, an empty segment, a trailing `/`, or a malformed capture.
    """
    segments = pattern.removeprefix("/").split("/")
    names: list[str] = []
    out: list[str] = []
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == "**":
            # Not last: zero or more whole directories. Last: everything below, any depth.
            out.append(".+" if last else "(?:[^/]+/)*")
            continue
        if not segment:
            if last and i:
                raise ValueError("ends with '/': write 'dir/**' for everything below a folder")
            raise ValueError("has an empty path segment ('//' or nothing at all)")
        if "**" in segment:
            raise ValueError("'**' must be a whole path segment, as in 'a/**/b'")
        out.append(_segment_regex(segment, names))
        if not last:
            out.append("/")
    return "".join(out) + r"\Z", tuple(names)


def _segment_regex(segment: str, names: list[str]) -> str:
    out: list[str] = []
    for token in _tokens(segment, where="pattern"):
        if isinstance(token, tuple):
            name = token[1].strip()
            if not _NAME.match(name):
                raise ValueError(f"{{{token[1]}}} is not a capture name")
            if name in names:
                out.append(f"(?P={name})")
            else:
                names.append(name)
                out.append(f"(?P<{name}>[^/]+?)")
        elif token == "*":
            out.append("[^/]*")
        elif token == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(token))
    return "".join(out)


def _tokens(text: str, *, where: str) -> Iterator[str | tuple[str, str]]:
    """Characters of `text` one by one, with `{{`/`}}` unescaped, and each `{...}` as
    ("{", inside). `*` and `?` come out as themselves; the caller decides what they mean."""
    i, end = 0, len(text)
    while i < end:
        ch = text[i]
        if ch in "{}" and text.startswith(ch * 2, i):
            yield ch
            i += 2
        elif ch == "{":
            close = text.find("}", i)
            if close < 0:
                raise ValueError(f"'{{' without '}}' in {where} (write '{{{{' for a brace)")
            inside = text[i + 1 : close]
            if "{" in inside:
                raise ValueError(f"'{{' inside {{...}} in {where}")
            yield ("{", inside)
            i = close + 1
        elif ch == "}":
            raise ValueError(f"'}}' without '{{' in {where} (write '}}}}' for a brace)")
        else:
            yield ch
            i += 1


def builtin_captures(rel: str) -> dict[str, str | None]:
    """The built-in captures of a path: the path itself, its folder, file name, stem and
    extension (without the dot; the last one only, empty when there is none)."""
    folder, _, file = rel.rpartition("/")
    stem, dot, ext = file.rpartition(".")
    if not dot or not stem:  # "README" or ".env": no extension
        stem, ext = file, ""
    return {"path": rel, "dir": folder, "file": file, "stem": stem, "ext": ext}
