"""Field values as a PATCH gives them and as answers show them.

The metadata details' "Constructing the Fields Array" rules: `values` is always an array; lookup
fields (`lov_entry`, `lov_entries`, `reference`) take value ids from the values endpoint, only
active ones (technical guide, step 3); `string`, `rich_text`, `numeric` and `timestamp` take one
literal (`numeric` string-encoded integers or decimals, `timestamp` ISO 8601). Readonly fields
"cannot be set through the API" (guide, step 2). Not published, chosen here: `[]` clears a field;
`lov_entry` and `reference` take at most one id, `lov_entries` any number without repeats; a
`timestamp` needs a time and a zone (`Z` or an offset) and is kept in UTC with milliseconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from .settings import PdmField, PdmValue

NUMERIC = re.compile(r"^-?\d+(\.\d+)?$")
ZONED = re.compile(r"T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")


class ValueRefused(Exception):
    """Why a field cannot take the values given (a PATCH item fails with this message)."""


def checked(field: PdmField, values: list[str]) -> tuple[str, ...]:
    """The values to store for `field`, or ValueRefused."""
    if field.readonly:
        raise ValueRefused(f"field {field.name} is read-only")
    if not field.active:
        raise ValueRefused(f"field {field.name} is inactive")
    if not values:
        return ()
    if field.type == "lov_entries":
        if len(set(values)) != len(values):
            raise ValueRefused(f"field {field.name} lists a value twice")
        return tuple(_value(field, value).id for value in values)
    if len(values) > 1:
        raise ValueRefused(f"field {field.name} ({field.type}) takes one value")
    [value] = values
    if field.lookup:
        return (_value(field, value).id,)
    if field.type == "numeric" and not NUMERIC.match(value):
        raise ValueRefused(f"field {field.name} takes a number such as 42 or 3.14")
    if field.type == "timestamp":
        return (_timestamp(field, value),)
    if not value:
        raise ValueRefused(f"field {field.name} takes a non-empty text; send [] to clear it")
    return (value,)


def _value(field: PdmField, value_id: str) -> PdmValue:
    found = field.value(value_id)
    if found is None:
        raise ValueRefused(f"{value_id!r} is not a value of field {field.name}")
    if not found.active:
        raise ValueRefused(f"value {found.label!r} of field {field.name} is inactive")
    return found


def _timestamp(field: PdmField, text: str) -> str:
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        stamp = None
    if stamp is None or not ZONED.search(text):
        raise ValueRefused(f"field {field.name} takes an ISO 8601 date-time with a zone")
    return (
        stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
    )


def shown(field: PdmField, values: tuple[str, ...]) -> list[dict[str, object]]:
    """`values` of a field object in an upload: `{label}` for literals; lookups as the metadata
    details show them (lov `{id, code, label, active, tags}`, reference `{id, code, label}`)."""
    out: list[dict[str, object]] = []
    for held in values:
        value = field.value(held) if field.lookup else None
        if value is None:
            out.append({"label": held})
        elif field.type == "reference":
            out.append({"id": value.id, "code": value.code, "label": value.label})
        else:
            out.append(
                {
                    "id": value.id,
                    "code": value.code,
                    "label": value.label,
                    "active": value.active,
                    "tags": list(value.tags),
                }
            )
    return out


def labels(field: PdmField, values: tuple[str, ...]) -> list[str]:
    """The values as people read them (labels of lookups, literals as they are)."""
    return [str(item["label"]) for item in shown(field, values)]
