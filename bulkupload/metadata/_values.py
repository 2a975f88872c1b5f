"""Given text to what a PATCH carries for the literal field types, and the splitting of
several values. Pure functions; a value that cannot be converted raises ValueError with the end
of a sentence ("is not a number ...").

What is sent (procore/documentation, document_management_metadata_details.md, "Field Type
Reference": numeric is a string-encoded integer or decimal, timestamp ISO 8601 UTC):
  numeric    the number in plain decimal notation: "42", "3.14", "-0.5" (exponents expanded,
             a leading + and leading zeros dropped); no thousands separators, no decimal comma
  timestamp  "YYYY-MM-DDTHH:MM:SSZ" in UTC (".fffZ" when there are milliseconds). A date alone
             is midnight UTC that day, so Procore shows the same calendar date; a date-time
             without an offset is taken as UTC.
  string, rich_text  the text, stripped of surrounding white space, as given.
"""

from __future__ import annotations

import datetime as dt
import decimal

__all__ = ["numeric_value", "split_values", "timestamp_value"]


def split_values(given: str | tuple[str, ...]) -> tuple[str, ...]:
    """Several values: a list as given, or a text split at `;`; stripped, empties and repeats
    dropped, order kept."""
    parts = given if isinstance(given, tuple) else given.split(";")
    return tuple(dict.fromkeys(part.strip() for part in parts if part.strip()))


def numeric_value(text: str) -> str:
    """The number in `text` as Procore takes it."""
    try:
        number = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        raise ValueError("is not a number (write it like 42 or 3.14)") from None
    if not number.is_finite():
        raise ValueError("is not a finite number")
    plain = format(number, "f")
    return "0" if plain in ("-0", "+0") else plain


def timestamp_value(text: str) -> str:
    """The ISO 8601 date or date-time in `text`, as a UTC timestamp."""
    text = text.strip()
    try:
        if len(text) <= 10:  # a date: 2025-12-15 or 20251215
            day = dt.date.fromisoformat(text)
            return f"{day.isoformat()}T00:00:00Z"
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError("is not an ISO date (write it like 2025-12-15)") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    stamp = stamp.astimezone(dt.UTC)
    millis = stamp.microsecond // 1000
    fraction = f".{millis:03d}" if millis else ""
    whole = stamp.replace(microsecond=0, tzinfo=None).isoformat()
    return f"{whole}{fraction}Z"
