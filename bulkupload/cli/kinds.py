"""How an option's value is read: from a flag's text (`from_text`, argparse's `type`) and from a
TOML value that is already typed (`from_toml`). A bad value raises `argparse.ArgumentTypeError`
with what was expected: argparse prints it as its usage line, `options.read_config` adds the
file and the key."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import clock_time, parse_duration, parse_rate, parse_size
from ..errors import ConfigError

__all__ = [
    "Choice",
    "ClockTime",
    "Count",
    "Duration",
    "Flag",
    "Fraction",
    "Kind",
    "PathValue",
    "Rate",
    "Seconds",
    "Size",
    "Text",
    "TextList",
    "WholeNumber",
]

Bad = argparse.ArgumentTypeError  # argparse turns it into its one usage line


class Kind:
    """How a value is read: from a flag's text, and from a TOML value (already typed)."""

    @property
    def expected(self) -> str:
        return "a string"

    def from_text(self, text: str) -> Any:
        return text

    def from_toml(self, value: object) -> Any:
        if not isinstance(value, str):
            raise Bad(f"expected {self.expected}")
        return self.from_text(value)


@dataclass(frozen=True)
class WholeNumber(Kind):
    low: int
    high: int
    what: str = "a whole number"

    @property
    def expected(self) -> str:
        return f"{self.what} from {self.low} to {self.high}"

    def from_text(self, text: str) -> int:
        try:
            return self.check(int(text))
        except ValueError:
            raise Bad(f"expected {self.expected}, not {text!r}") from None

    def from_toml(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Bad(f"expected {self.expected}")
        return self.check(value)

    def check(self, value: int) -> int:
        if not self.low <= value <= self.high:
            raise Bad(f"expected {self.expected}, not {value}")
        return value


@dataclass(frozen=True)
class Seconds(Kind):
    """A duration in seconds, above `low` and at most `high` (`zero_off`: 0 turns it off)."""

    low: float
    high: float
    zero_off: bool = False

    @property
    def expected(self) -> str:
        off = " (0: off)" if self.zero_off else ""
        return f"a number of seconds above {self.low:g} and at most {self.high:g}{off}"

    def from_text(self, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise Bad(f"expected {self.expected}, not {text!r}") from None
        return self.check(value)

    def from_toml(self, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Bad(f"expected {self.expected}")
        return self.check(float(value))

    def check(self, value: float) -> float:
        if self.zero_off and value == 0:
            return value
        if not math.isfinite(value) or not self.low < value <= self.high:
            raise Bad(f"expected {self.expected}, not {value:g}")
        return value


@dataclass(frozen=True)
class Size(Kind):
    """Bytes, as `64MiB`/`2GiB` (binary units) or a plain number; TOML takes both."""

    low: int
    high: int
    what: str = "a size"

    @property
    def expected(self) -> str:
        return self.what

    def from_text(self, text: str) -> int:
        return self.check(parse_size(text))

    def from_toml(self, value: object) -> int:
        if isinstance(value, str):
            return self.from_text(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise Bad(f'expected {self.expected} (e.g. "64MiB") or a number of bytes')
        return self.check(value)

    def check(self, value: int) -> int:
        if not self.low <= value <= self.high:
            raise Bad(f"expected {self.expected}, not {value} bytes")
        return value


class Flag(Kind):
    """An on/off switch: `--checksum` on the command line, `checksum = true` in TOML."""

    @property
    def expected(self) -> str:
        return "true or false"

    def from_toml(self, value: object) -> bool:
        if not isinstance(value, bool):
            raise Bad(f"expected {self.expected} (without quotes)")
        return value


class Count(Flag):
    """A repeatable switch (`-v`, `-vv`)."""


@dataclass(frozen=True)
class Choice(Kind):
    values: tuple[str, ...]

    @property
    def expected(self) -> str:
        return "one of " + ", ".join(self.values)

    def from_text(self, text: str) -> str:
        if text not in self.values:
            raise Bad(f"expected {self.expected}, not {text!r}")
        return text


@dataclass(frozen=True)
class Text(Kind):
    what: str = "a string"
    problem: Callable[[str], str | None] | None = None

    @property
    def expected(self) -> str:
        return self.what

    def from_text(self, text: str) -> str:
        if self.problem is not None and (why := self.problem(text)) is not None:
            raise Bad(why)
        return text


class PathValue(Kind):
    @property
    def expected(self) -> str:
        return "a path (a string)"

    def from_text(self, text: str) -> Path:
        return Path(text)


class TextList(Kind):
    """A repeatable flag; in TOML a list of strings (or one string)."""

    @property
    def expected(self) -> str:
        return "a list of strings"

    def from_toml(self, value: object) -> list[str]:
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise Bad(f'expected {self.expected}, e.g. ["*.tmp", "~$*"]')
        return list(value)


class Duration(Kind):
    """A duration: `6h`, `90m`, `1h30m`, `45s` or seconds; TOML takes a number or a string."""

    @property
    def expected(self) -> str:
        return "a duration such as 6h, 90m or 1h30m"

    def from_text(self, text: str) -> float:
        seconds = parse_duration(text)
        if seconds <= 0:
            raise Bad(f"expected {self.expected} above 0")
        return seconds

    def from_toml(self, value: object) -> float:
        if isinstance(value, bool):
            raise Bad(f"expected {self.expected}")
        if isinstance(value, int | float):
            return self.from_text(str(value))
        return super().from_toml(value)  # type: ignore[no-any-return]


class ClockTime(Kind):
    """A local time of day, `06:00`."""

    @property
    def expected(self) -> str:
        return "a time of day such as 06:00"

    def from_text(self, text: str) -> str:
        try:
            clock_time(text)
        except ConfigError as exc:
            raise Bad(str(exc)) from None
        return text.strip()


class Fraction(Kind):
    """A share: above 0 and at most 1 (`0.8`); `80%` too."""

    @property
    def expected(self) -> str:
        return "a share above 0 and at most 1 (0.8, or 80%)"

    def from_text(self, text: str) -> float:
        try:
            value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            raise Bad(f"expected {self.expected}, not {text!r}") from None
        return self.check(value)

    def from_toml(self, value: object) -> float:
        if isinstance(value, str):
            return self.from_text(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Bad(f"expected {self.expected}")
        return self.check(float(value))

    def check(self, value: float) -> float:
        if not 0 < value <= 1:
            raise Bad(f"expected {self.expected}, not {value:g}")
        return value


class Rate(Kind):
    """Bytes per second as rclone writes them: `10M`, `500K`, `2GiB/s` (a plain number: KiB/s)."""

    @property
    def expected(self) -> str:
        return "a bandwidth such as 10M or 500K (per second)"

    def from_text(self, text: str) -> int:
        rate = parse_rate(text)
        if rate < 1024:
            raise Bad(f"expected {self.expected} of at least 1K")
        return rate

    def from_toml(self, value: object) -> int:
        if isinstance(value, bool):
            raise Bad(f"expected {self.expected}")
        if isinstance(value, int | float):
            return self.from_text(str(value))
        return super().from_toml(value)  # type: ignore[no-any-return]
