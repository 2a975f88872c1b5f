"""How sizes, durations, paths and reasons read for a person (progress, summary, logs).

Sizes are binary, as `--part-size 64MiB` parses them: what is printed can be typed back.
Paths are one line each: undecodable bytes as `\\xNN`, control characters (a newline or a tab
in a file name) escaped, so a name never splits a line of output.
"""

from __future__ import annotations

from .models import printable

__all__ = ["count", "human_bytes", "human_duration", "reason_text", "shown"]

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_CONTROL = {code: f"\\x{code:02x}" for code in [*range(32), 127]} | {
    ord("\n"): "\\n",
    ord("\t"): "\\t",
    ord("\r"): "\\r",
}


def human_bytes(n: float) -> str:
    """`1.5 GiB`, `980 B`: binary units, one decimal above bytes."""
    for unit in _UNITS:
        if abs(n) < 1024 or unit == _UNITS[-1]:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    """`0m07s`, `12m30s`, `3h04m05s`."""
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`1 file`, `2 files`."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def shown(text: str) -> str:
    """A path or a message as one printable line."""
    return printable(text).translate(_CONTROL)


def reason_text(rel: str, reason: str, *, prefix: str | tuple[str, ...] = ()) -> str:
    """A file's reason without what the line says already: its path (`a: a: Permission
    denied`), or the words that introduce it (`skipped: skipped: FIFO`)."""
    text = reason.strip()
    for said in (f"{printable(rel)}: ", f"{rel}: "):
        if rel and text.startswith(said):
            text = text[len(said) :]
    for word in (prefix,) if isinstance(prefix, str) else prefix:
        if word and text.startswith(f"{word}: "):
            text = text[len(word) + 2 :]
    return shown(text)
