"""Literal field values: numbers and timestamps as Procore takes them, lists split once."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkupload.metadata._values import numeric_value, split_values, timestamp_value


@pytest.mark.parametrize(
    ("text", "sent"),
    [
        ("42", "42"),
        (" 3.14 ", "3.14"),
        ("+7", "7"),
        ("007", "7"),
        ("-0.50", "-0.50"),
        ("1e3", "1000"),
    ],
)
def test_numbers_are_sent_in_plain_decimal(text: str, sent: str) -> None:
    assert numeric_value(text) == sent


@pytest.mark.parametrize("text", ["ten", "1,5", "", "NaN", "inf", "1 000"])
def test_what_is_not_a_number_says_so(text: str) -> None:
    with pytest.raises(ValueError, match="number"):
        numeric_value(text)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4))
def test_any_decimal_round_trips(number: decimal.Decimal) -> None:
    assert decimal.Decimal(numeric_value(str(number))) == number


@pytest.mark.parametrize(
    ("text", "sent"),
    [
        ("2025-12-15", "2025-12-15T00:00:00Z"),
        ("20251215", "2025-12-15T00:00:00Z"),
        ("2025-12-15T14:30:00Z", "2025-12-15T14:30:00Z"),
        ("2025-12-15T14:30:00", "2025-12-15T14:30:00Z"),  # no offset: taken as UTC
        ("2025-12-15T14:30:00+02:00", "2025-12-15T12:30:00Z"),
        ("2025-12-15T14:30:00.250-01:00", "2025-12-15T15:30:00.250Z"),
        ("2025-12-15 14:30", "2025-12-15T14:30:00Z"),
    ],
)
def test_timestamps_are_sent_in_utc(text: str, sent: str) -> None:
    assert timestamp_value(text) == sent


@pytest.mark.parametrize("text", ["15/12/2025", "Dec 15 2025", "2025-13-01", "", "today"])
def test_what_is_not_an_iso_date_says_so(text: str) -> None:
    with pytest.raises(ValueError, match="is not an ISO date"):
        timestamp_value(text)


@given(st.dates())
def test_any_date_is_that_day_at_midnight_utc(day: dt.date) -> None:
    sent = timestamp_value(day.isoformat())
    assert dt.datetime.fromisoformat(sent.replace("Z", "+00:00")).date() == day


def test_several_values_split_at_semicolons_or_come_as_a_list() -> None:
    assert split_values("E; M ;;E") == ("E", "M")
    assert split_values(("E; M", " A ", "")) == ("E; M", "A")  # list items are not split again
    assert split_values(" ; ") == ()
