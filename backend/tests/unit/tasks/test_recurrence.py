"""The rule logic alone: which RRULEs are accepted, the next occurrence in a time zone, and
reminder offsets."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from app.tasks.recurrence import (
    InvalidRule,
    check_rule_repeats,
    is_time_zone,
    next_occurrence,
    offset_text,
    parse_rule,
    reminder_offset,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def following(rule: str, due: str, zone: str = "UTC", occurrence: int = 1) -> str | None:
    found = next_occurrence(parse_rule(rule), at(due), zone, occurrence)
    return None if found is None else found.isoformat()


def test_the_dst_example() -> None:
    first = following("FREQ=DAILY", "2026-03-27T09:00:00+01:00", "Europe/Berlin")
    assert first == "2026-03-28T08:00:00+00:00"
    assert following("FREQ=DAILY", first, "Europe/Berlin") == "2026-03-29T07:00:00+00:00"


def test_a_missing_wall_clock_time_moves_forward_by_the_gap() -> None:
    # 02:30 does not exist in Berlin on 29 March 2026: 03:30 summer time.
    assert (
        following("FREQ=DAILY", "2026-03-28T02:30:00+01:00", "Europe/Berlin")
        == "2026-03-29T01:30:00+00:00"
    )


def test_a_repeated_wall_clock_time_takes_the_first() -> None:
    assert (
        following("FREQ=DAILY", "2026-10-24T02:30:00+02:00", "Europe/Berlin")
        == "2026-10-25T00:30:00+00:00"
    )


def test_the_zone_decides_the_day() -> None:
    # Friday 23:30 in New York is Saturday in UTC: weekdays are New York's.
    due = "2026-01-02T23:30:00-05:00"
    assert following("FREQ=WEEKLY;BYDAY=FR", due, "America/New_York") == (
        "2026-01-10T04:30:00+00:00"
    )
    assert following("FREQ=WEEKLY;BYDAY=FR", due, "UTC") == "2026-01-09T04:30:00+00:00"


@pytest.mark.parametrize(
    ("rule", "due", "expected"),
    [
        ("FREQ=MONTHLY;BYDAY=-1FR", "2026-01-30T10:00:00Z", "2026-02-27T10:00:00+00:00"),
        ("FREQ=MONTHLY;BYMONTHDAY=31", "2026-01-31T10:00:00Z", "2026-03-31T10:00:00+00:00"),
        ("FREQ=MONTHLY;BYMONTHDAY=-1", "2026-01-31T10:00:00Z", "2026-02-28T10:00:00+00:00"),
        ("FREQ=MONTHLY;BYDAY=1MO", "2026-01-05T10:00:00Z", "2026-02-02T10:00:00+00:00"),
        ("FREQ=WEEKLY;BYDAY=MO,WE,FR", "2026-01-02T10:00:00Z", "2026-01-05T10:00:00+00:00"),
        ("FREQ=DAILY;INTERVAL=3", "2026-01-30T10:00:00Z", "2026-02-02T10:00:00+00:00"),
        (
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
            "2026-01-01T10:00:00Z",
            "2028-02-29T10:00:00+00:00",
        ),
        ("FREQ=YEARLY;INTERVAL=1000", "2026-01-01T10:00:00Z", "3026-01-01T10:00:00+00:00"),
        # A task moved off the rule's days: the next day of the rule after it.
        ("FREQ=MONTHLY;BYMONTHDAY=15", "2026-01-20T10:00:00Z", "2026-02-15T10:00:00+00:00"),
    ],
)
def test_next_occurrences(rule: str, due: str, expected: str) -> None:
    assert following(rule, due) == expected


def test_count_counts_occurrences_of_the_series() -> None:
    rule = "FREQ=DAILY;COUNT=3"
    assert following(rule, "2026-01-01T10:00:00Z", occurrence=1) is not None
    assert following(rule, "2026-01-02T10:00:00Z", occurrence=2) is not None
    assert following(rule, "2026-01-03T10:00:00Z", occurrence=3) is None


def test_until_bounds_the_series_as_an_instant() -> None:
    rule = "FREQ=DAILY;UNTIL=20260103T090000Z"
    # 10:00 in Berlin is 09:00 UTC: the 3rd is still within UNTIL, the 4th not.
    assert following(rule, "2026-01-02T10:00:00+01:00", "Europe/Berlin") == (
        "2026-01-03T09:00:00+00:00"
    )
    assert following(rule, "2026-01-03T10:00:00+01:00", "Europe/Berlin") is None


def test_the_end_of_time_ends_the_series() -> None:
    assert following("FREQ=YEARLY", "9999-06-01T10:00:00Z") is None


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=MONTHLY;BYMONTH=4,6;BYMONTHDAY=31,-31",
        "FREQ=DAILY;COUNT=1",
        "FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=DAILY;INTERVAL=14;BYDAY=SA",
        "FREQ=DAILY;UNTIL=20250101T000000Z",
    ],
)
def test_a_rule_that_never_repeats_after_due_at(rule: str) -> None:
    with pytest.raises(InvalidRule):
        check_rule_repeats(parse_rule(rule), at("2026-01-01T10:00:00Z"), "UTC")


def test_the_search_for_a_rare_date_is_bounded() -> None:
    # Starving filters are searched for a bounded time, not until year 9999.
    started = time.perf_counter()
    rule = parse_rule("FREQ=DAILY;INTERVAL=2;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO")
    next_occurrence(rule, at("2026-01-01T10:00:00Z"), "UTC", 1)
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=HOURLY",
        "FREQ=MINUTELY",
        "FREQ=SECONDLY",
        "FREQ=DAILY;BYSETPOS=1",
        "FREQ=DAILY;BYHOUR=1",
        "FREQ=DAILY;BYWEEKNO=1",
        "FREQ=DAILY;BYYEARDAY=1",
        "FREQ=DAILY;DTSTART=20260101",
        "BYDAY=MO",
        "FREQ=DAILY;INTERVAL=-1",
        "FREQ=DAILY;INTERVAL=1.5",
        "FREQ=DAILY;COUNT=2;UNTIL=20270101T000000Z",
        "FREQ=DAILY;UNTIL=2027-01-01",
        "FREQ=DAILY;UNTIL=20271301T000000Z",
        "FREQ=DAILY;BYDAY=-1FR",
        "FREQ=MONTHLY;BYDAY=0FR",
        "FREQ=YEARLY;BYDAY=54MO",
        "FREQ=MONTHLY;BYMONTHDAY=1,,2",
        "FREQ=MONTHLY;BYMONTHDAY=+-1",
        "FREQ=YEARLY;BYMONTH=-1",
        "FREQ=WEEKLY;BYMONTHDAY=3",
        "FREQ=DAILY;WKST=MONDAY",
        "FREQ=DAILY;INTERVAL",
        "FREQ=DAILY;;INTERVAL=2",
        "FREQ=DAILY;" + "INTERVAL=1;" * 100,
    ],
)
def test_unsupported_rules(rule: str) -> None:
    with pytest.raises(InvalidRule):
        parse_rule(rule)


def test_names_are_case_insensitive() -> None:
    assert parse_rule("freq=monthly;byday=-1fr") == parse_rule("FREQ=MONTHLY;BYDAY=-1FR")


@pytest.mark.parametrize(
    ("name", "known"),
    [("Europe/Berlin", True), ("UTC", True), ("europe/berlin", False), ("Mars/Base", False)],
)
def test_time_zones(name: str, known: bool) -> None:
    assert is_time_zone(name) is known


@pytest.mark.parametrize(
    ("text", "normal", "offset"),
    [
        ("PT0S", "PT0S", timedelta(0)),
        ("P0D", "PT0S", timedelta(0)),
        ("PT900S", "PT15M", timedelta(minutes=15)),
        ("PT24H", "P1D", timedelta(days=1)),
        ("P1W", "P7D", timedelta(days=7)),
        ("P1DT1H30M", "P1DT1H30M", timedelta(days=1, minutes=90)),
        ("P4W", "P28D", timedelta(days=28)),
        ("PT90061S", "P1DT1H1M1S", timedelta(seconds=90061)),
    ],
)
def test_reminder_offsets_are_normalised(text: str, normal: str, offset: timedelta) -> None:
    assert reminder_offset(text) == offset
    assert offset_text(offset) == normal


@pytest.mark.parametrize(
    "text", ["", "P", "PT", "P1", "PT1", "P1DT", "P1M", "P1Y", "-PT1M", "PT1.5M", "P29D", "pt1m"]
)
def test_bad_reminder_offsets(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        reminder_offset(text)
