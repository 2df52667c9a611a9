"""Repeating tasks: the RFC 5545 RRULE subset the API accepts, the next occurrence of a
rule, and reminder offsets. Pure functions, no database.

A rule repeats in the wall-clock time of the task's zone: python-dateutil's rrule expands it
on naive local date-times (DTSTART is the occurrence's `due_at` in that zone), and each
result is placed in the zone with `fold=0`. So 09:00 stays 09:00 across a DST change, a
time inside a spring-forward gap moves forward by the gap, and a time that happens twice
takes the first.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, available_timezones

from dateutil import rrule

RULE_MAX_LENGTH = 500
MAX_INTERVAL = 1000
MAX_COUNT = 1000
# A rule whose next date is further away than this is treated as never yielding one.
HORIZON_YEARS = 400
# The Gregorian calendar repeats itself (leap years and weekdays) every 400 years, and a
# rule's dates move with its DTSTART: shifting DTSTART by whole cycles shifts every date by
# the same amount. dateutil only stops looking for a date at year 9999, however many periods
# its filters reject on the way, so the search starts from a DTSTART moved (by whole cycles)
# close to that year: it then ends after HORIZON_YEARS (plus one step of the rule) to 400
# years more, whatever the rule.
_CYCLE_YEARS = 400
_LAST_YEAR = 9999

# dateutil's frequency constants (YEARLY is 0 ... SECONDLY is 6).
Frequency = Literal[0, 1, 2, 3, 4, 5, 6]
_FREQUENCIES: dict[str, Frequency] = {
    "DAILY": rrule.DAILY,
    "WEEKLY": rrule.WEEKLY,
    "MONTHLY": rrule.MONTHLY,
    "YEARLY": rrule.YEARLY,
}
# How many steps of each frequency fit in a year, at least.
_STEPS_PER_YEAR = {rrule.YEARLY: 1, rrule.MONTHLY: 12, rrule.WEEKLY: 52, rrule.DAILY: 365}
_WEEKDAYS = {
    name: day
    for name, day in zip(
        ("MO", "TU", "WE", "TH", "FR", "SA", "SU"),
        (rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU),
        strict=True,
    )
}
_PARTS = ("FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "COUNT", "UNTIL", "WKST")
_NUMBER = re.compile(r"[+-]?\d{1,4}")
_DAY = re.compile(r"([+-]?\d{1,2})?([A-Z]{2})")
_UNTIL = re.compile(r"\d{8}T\d{6}Z")
# The longest each month can be (February in a leap year).
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class InvalidRule(ValueError):
    """The text is not a rule this API accepts; the message says why."""


@dataclass(frozen=True, slots=True)
class Rule:
    """A parsed rule; COUNT and UNTIL are kept apart, as they bound the series rather than
    a single step of it."""

    frequency: Frequency
    interval: int
    weekdays: tuple[rrule.weekday, ...] | None
    month_days: tuple[int, ...] | None
    months: tuple[int, ...] | None
    week_start: rrule.weekday | None
    count: int | None
    until: datetime | None

    def _expansion(self, start: datetime) -> rrule.rrule:
        return rrule.rrule(
            self.frequency,
            dtstart=start,
            interval=self.interval,
            wkst=self.week_start,
            byweekday=self.weekdays,
            bymonthday=self.month_days,
            bymonth=self.months,
            cache=False,
        )

    def next_after(self, start: datetime) -> datetime | None:
        """The first date strictly after `start` (naive, local) of the rule with `start` as
        DTSTART, within the horizon; COUNT and UNTIL not applied."""
        if self._weekday_never_reached(start):
            return None
        # Within the horizon, and at least one whole step of the rule beyond it.
        horizon = HORIZON_YEARS + -(-self.interval // _STEPS_PER_YEAR[self.frequency])
        cycles = max(0, (_LAST_YEAR - horizon - start.year) // _CYCLE_YEARS)
        shift = cycles * _CYCLE_YEARS
        moved = start.replace(year=start.year + shift)
        found = self._expansion(moved).after(moved)
        if found is None:
            return None
        return found.replace(year=found.year - shift)

    def _weekday_never_reached(self, start: datetime) -> bool:
        # Every few days, a whole number of weeks apart: always the weekday of DTSTART. The
        # cheap case of a rule that never matches, which would otherwise be searched for
        # the whole horizon.
        return (
            self.frequency == rrule.DAILY
            and self.interval % 7 == 0
            and self.weekdays is not None
            and all(day.weekday != start.weekday() for day in self.weekdays)
        )


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def is_time_zone(name: str) -> bool:
    """An IANA zone name known here (exact spelling)."""
    return name in _zone_names()


@lru_cache(maxsize=1024)
def parse_rule(text: str) -> Rule:
    """The rule in an RRULE value (no `RRULE:` prefix), or InvalidRule."""
    if len(text) > RULE_MAX_LENGTH:
        raise InvalidRule(f"must be at most {RULE_MAX_LENGTH} characters")
    parts: dict[str, str] = {}
    for part in text.upper().split(";"):
        name, equals, value = part.partition("=")
        if not equals or not name or not value:
            raise InvalidRule(f"{part!r} is not NAME=VALUE")
        if name not in _PARTS:
            raise InvalidRule(f"{name} is not supported (only {', '.join(_PARTS)})")
        if name in parts:
            raise InvalidRule(f"{name} is given twice")
        parts[name] = value
    if "FREQ" not in parts:
        raise InvalidRule("FREQ is required")
    frequency_name = parts["FREQ"]
    if frequency_name not in _FREQUENCIES:
        raise InvalidRule(f"FREQ must be one of {', '.join(_FREQUENCIES)}")
    if "COUNT" in parts and "UNTIL" in parts:
        raise InvalidRule("COUNT and UNTIL cannot both be given")
    if "BYMONTHDAY" in parts and frequency_name == "WEEKLY":
        raise InvalidRule("BYMONTHDAY cannot be used with FREQ=WEEKLY")
    interval = _number(parts, "INTERVAL", 1, MAX_INTERVAL) or 1
    count = _number(parts, "COUNT", 1, MAX_COUNT)
    month_days = _numbers(parts, "BYMONTHDAY", 31, signed=True)
    months = _numbers(parts, "BYMONTH", 12, signed=False)
    weekdays = _weekdays(parts.get("BYDAY"), frequency_name)
    week_start = _weekday(parts["WKST"]) if "WKST" in parts else None
    until = _until(parts["UNTIL"]) if "UNTIL" in parts else None
    if month_days is not None:
        _check_month_days_exist(month_days, months)
    return Rule(
        frequency=_FREQUENCIES[frequency_name],
        interval=interval,
        weekdays=weekdays,
        month_days=month_days,
        months=months,
        week_start=week_start,
        count=count,
        until=until,
    )


def _number(parts: dict[str, str], name: str, low: int, high: int) -> int | None:
    if name not in parts:
        return None
    value = parts[name]
    if not value.isdigit() or not low <= int(value) <= high:
        raise InvalidRule(f"{name} must be a whole number from {low} to {high}")
    return int(value)


def _numbers(
    parts: dict[str, str], name: str, high: int, *, signed: bool
) -> tuple[int, ...] | None:
    if name not in parts:
        return None
    values: list[int] = []
    for item in parts[name].split(","):
        if not _NUMBER.fullmatch(item) or (not signed and not item.isdigit()):
            raise InvalidRule(f"{name} must be a comma list of whole numbers")
        value = int(item)
        if not 1 <= abs(value) <= high:
            span = f"1 to {high} or -{high} to -1" if signed else f"1 to {high}"
            raise InvalidRule(f"{name} values must be {span}")
        values.append(value)
    return tuple(dict.fromkeys(values))


def _weekday(name: str) -> rrule.weekday:
    if name not in _WEEKDAYS:
        raise InvalidRule(f"{name!r} is not a weekday (MO, TU, WE, TH, FR, SA, SU)")
    return _WEEKDAYS[name]


def _weekdays(value: str | None, frequency: str) -> tuple[rrule.weekday, ...] | None:
    if value is None:
        return None
    # An ordinal names the nth weekday of the month (MONTHLY) or of the year (YEARLY).
    limit = {"MONTHLY": 5, "YEARLY": 53}.get(frequency)
    days: list[rrule.weekday] = []
    for item in value.split(","):
        match = _DAY.fullmatch(item)
        if match is None:
            raise InvalidRule(f"BYDAY item {item!r} is not a weekday, optionally with an ordinal")
        ordinal, name = match.groups()
        day = _weekday(name)
        if ordinal is not None:
            if limit is None:
                raise InvalidRule("BYDAY ordinals (as 1MO, -1FR) need FREQ=MONTHLY or YEARLY")
            number = int(ordinal)
            if not 1 <= abs(number) <= limit:
                raise InvalidRule(f"BYDAY ordinals must be 1 to {limit} or -{limit} to -1")
            day = day(number)
        days.append(day)
    return tuple(dict.fromkeys(days))


def _until(value: str) -> datetime:
    if not _UNTIL.fullmatch(value):
        raise InvalidRule("UNTIL must be a UTC date-time as 20261231T235959Z")
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidRule("UNTIL is not a valid date-time") from None


def _check_month_days_exist(month_days: tuple[int, ...], months: tuple[int, ...] | None) -> None:
    # The cheap case of a rule that can never match, refused before any expansion.
    lengths = [_MONTH_DAYS[month - 1] for month in months or range(1, 13)]
    if not any(abs(day) <= length for day in month_days for length in lengths):
        raise InvalidRule("BYMONTHDAY names no day that its months have")


def local_time(instant: datetime, zone: str) -> datetime:
    """`instant` as the naive wall-clock time in `zone`."""
    return instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def instant_of(local: datetime, zone: str) -> datetime:
    """The UTC instant of a wall-clock time in `zone`: in a gap, moved forward by the gap;
    when it happens twice, the first."""
    return local.replace(tzinfo=ZoneInfo(zone), fold=0).astimezone(UTC)


def next_occurrence(rule: Rule, due_at: datetime, zone: str, occurrence: int) -> datetime | None:
    """The due date of the occurrence after number `occurrence` (the first task of the
    series is 1), due at `due_at`; None when COUNT or UNTIL end the series there."""
    if rule.count is not None and occurrence >= rule.count:
        return None
    try:
        local = rule.next_after(local_time(due_at, zone))
        following = None if local is None else instant_of(local, zone)
    except (OverflowError, ValueError):
        # Past the last date a date-time can hold.
        return None
    if following is None or (rule.until is not None and following > rule.until):
        return None
    return following


def check_rule_repeats(rule: Rule, due_at: datetime, zone: str) -> None:
    """InvalidRule when the rule, starting at `due_at`, never yields a later date."""
    if next_occurrence(rule, due_at, zone, 1) is None:
        raise InvalidRule(
            "never yields a date after due_at (in time_zone, within "
            f"{HORIZON_YEARS} years, within its COUNT or UNTIL)"
        )


def check_schedule(recurrence: str | None, due_at: datetime | None, time_zone: str) -> None:
    """The rules that tie `recurrence` to `due_at` and `time_zone` (ValueError naming the
    field at fault)."""
    if recurrence is None:
        return
    if due_at is None:
        raise ValueError("recurrence needs a due_at (clear recurrence to clear due_at)")
    try:
        check_rule_repeats(parse_rule(recurrence), due_at, time_zone)
    except InvalidRule as exc:
        raise ValueError(f"recurrence {exc}") from None


# Reminder offsets: ISO 8601 durations in days, hours, minutes and seconds (weeks accepted).
REMINDERS_MAX_COUNT = 5
REMINDER_MAX_OFFSET = timedelta(days=28)
_DURATION = re.compile(
    r"P(?:(?P<weeks>\d{1,6})W)?(?:(?P<days>\d{1,6})D)?"
    r"(?:T(?:(?P<hours>\d{1,6})H)?(?:(?P<minutes>\d{1,7})M)?(?:(?P<seconds>\d{1,9})S)?)?"
)


def reminder_offset(text: str) -> timedelta:
    """The duration of an ISO 8601 offset such as PT15M or P1D, or ValueError."""
    match = _DURATION.fullmatch(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(
            "must be an ISO 8601 duration in weeks, days, hours, minutes and seconds, "
            "as PT0S, PT15M, P1D"
        )
    amounts = {name: int(value) for name, value in match.groupdict(default="0").items()}
    offset = timedelta(**amounts)
    if offset > REMINDER_MAX_OFFSET:
        raise ValueError("must be at most 28 days (P28D)")
    return offset


def offset_text(offset: timedelta) -> str:
    """The normalised form of an offset: largest units first, zero parts left out."""
    days, rest = offset.days, int(offset.seconds)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    date_part = f"{days}D" if days else ""
    time_part = "".join(
        f"{amount}{unit}"
        for amount, unit in ((hours, "H"), (minutes, "M"), (seconds, "S"))
        if amount
    )
    if not date_part and not time_part:
        return "PT0S"
    return f"P{date_part}" + (f"T{time_part}" if time_part else "")
