"""What goes in and out of the task routes. Tables are never request bodies."""

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from app.core.storable_text import storable_text
from app.tasks.fields import DESCRIPTION_MAX_LENGTH, PRIORITIES, TITLE_MAX_LENGTH
from app.tasks.listing import DEFAULT_SORT, ListQuery, Sort
from app.tasks.recurrence import (
    REMINDERS_MAX_COUNT,
    RULE_MAX_LENGTH,
    InvalidRule,
    check_schedule,
    is_time_zone,
    offset_text,
    parse_rule,
    reminder_offset,
)

TAG_MAX_LENGTH = 32
TAGS_MAX_COUNT = 20
SEARCH_MAX_LENGTH = 200


def _trimmed_title(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty or only whitespace")
    if len(value) > TITLE_MAX_LENGTH:
        raise ValueError(f"must be at most {TITLE_MAX_LENGTH} characters after trimming")
    return storable_text(value)


def _character_ranges(codes: list[int]) -> str:
    """`\\uXXXX-\\uYYYY...` for a regex class: an escape every regex dialect reads alike."""
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(
        f"\\u{low:04x}" if low == high else f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges
    )


# Exactly what str.strip() removes: `\s` means different things to different regex engines.
_WHITESPACE = _character_ranges([code for code in range(0x10000) if chr(code).isspace()])
# Text that can be stored, as a JSON Schema `pattern`: no NUL. (Unpaired surrogates are refused
# too, but the regex engines that validate schemas cannot even name them.)
_STORABLE_CHARACTER = r"[^\u0000]"
_TITLE_EDGE_CHARACTER = rf"[^{_WHITESPACE}\u0000]"
# The schema states exactly what `_trimmed_title` accepts, so that clients and contract tests
# know it: optional surrounding whitespace around 1 to TITLE_MAX_LENGTH storable characters
# that start and end with a non-whitespace one.


def _trimmed_text_pattern(max_length: int) -> str:
    return (
        rf"^[{_WHITESPACE}]*{_TITLE_EDGE_CHARACTER}"
        rf"(?:{_STORABLE_CHARACTER}{{0,{max_length - 2}}}{_TITLE_EDGE_CHARACTER})?"
        rf"[{_WHITESPACE}]*$"
    )


TITLE_PATTERN = _trimmed_text_pattern(TITLE_MAX_LENGTH)

Title = Annotated[
    StrictStr,
    AfterValidator(_trimmed_title),
    Field(
        description=(
            f"1 to {TITLE_MAX_LENGTH} characters after trimming surrounding whitespace; "
            "stored trimmed."
        ),
        examples=["Buy milk"],
        json_schema_extra={"pattern": TITLE_PATTERN},
    ),
]
Description = Annotated[
    StrictStr,
    Field(
        max_length=DESCRIPTION_MAX_LENGTH,
        description="Stored as given.",
        json_schema_extra={"pattern": rf"^{_STORABLE_CHARACTER}*$"},
    ),
    AfterValidator(storable_text),
]


def _tag(value: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= TAG_MAX_LENGTH:
        raise ValueError(f"each tag must be 1 to {TAG_MAX_LENGTH} characters after trimming")
    return storable_text(value).lower()


def _collapsed_tags(tags: list[str]) -> list[str]:
    # Duplicates collapse onto their first occurrence, which keeps its place.
    unique = list(dict.fromkeys(tags))
    if len(unique) > TAGS_MAX_COUNT:
        raise ValueError(f"at most {TAGS_MAX_COUNT} distinct tags")
    return unique


# A date and a time of day: pydantic alone would also read a string of digits (a query
# parameter, say) as a Unix time.
_DATE_TIME_START = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d")


def _date_time_text(value: object) -> object:
    # A JSON number would otherwise be read as a Unix time: the schema promises a string.
    if not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 date-time string with a UTC offset")
    if isinstance(value, str) and not _DATE_TIME_START.match(value):
        raise ValueError("must be an ISO 8601 date-time with a UTC offset, as 2026-12-01T17:00:00Z")
    return value


# The driver sends these two instants as PostgreSQL's -infinity and infinity.
_UNSTORABLE_INSTANTS = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))


def _in_utc(value: datetime) -> datetime:
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None
    if value in _UNSTORABLE_INSTANTS:
        raise ValueError(
            "must be after 0001-01-01T00:00:00Z and before 9999-12-31T23:59:59.999999Z"
        )
    return value


Tag = Annotated[
    StrictStr,
    AfterValidator(_tag),
    Field(
        description=(
            f"1 to {TAG_MAX_LENGTH} characters after trimming; stored trimmed and lowercase."
        ),
        examples=["groceries"],
        json_schema_extra={"pattern": _trimmed_text_pattern(TAG_MAX_LENGTH)},
    ),
]
Tags = Annotated[
    list[Tag],
    AfterValidator(_collapsed_tags),
    Field(
        description=(
            f"Duplicates (after normalising) collapse, the first keeping its place; at most "
            f"{TAGS_MAX_COUNT} distinct tags (a longer list is accepted only when it collapses "
            f"to {TAGS_MAX_COUNT} or fewer)."
        ),
        examples=[["home", "errands"]],
        # What a client should send; the server counts after collapsing (see above).
        json_schema_extra={"maxItems": TAGS_MAX_COUNT},
    ),
]
Priority = Literal["none", "low", "medium", "high"]
_PRIORITY_NAME = "|".join(PRIORITIES)
# `priority=high` or a comma list `priority=medium,high` (list query parameter).
PRIORITY_LIST_PATTERN = rf"^({_PRIORITY_NAME})(,({_PRIORITY_NAME}))*$"
# `q`: any text (punctuation and operators are plain text), but storable like a title.
SearchText = Annotated[
    str,
    AfterValidator(storable_text),
    Field(json_schema_extra={"pattern": rf"^{_STORABLE_CHARACTER}*$"}),
]
DueAt = Annotated[
    AwareDatetime,
    BeforeValidator(_date_time_text),
    AfterValidator(_in_utc),
    Field(
        description="ISO 8601 date-time with a UTC offset; stored and returned in UTC.",
        examples=["2026-12-01T17:00:00Z"],
    ),
]


def _rule(value: str) -> str:
    try:
        parse_rule(storable_text(value))
    except InvalidRule as exc:
        raise ValueError(f"not a supported RRULE: {exc}") from None
    return value


def _time_zone(value: str) -> str:
    if not is_time_zone(value):
        raise ValueError("must be an IANA time zone name, as Europe/Berlin or UTC")
    return value


def _reminder(value: str) -> str:
    return offset_text(reminder_offset(value))


def _collapsed_reminders(offsets: list[str]) -> list[str]:
    unique = sorted(set(offsets), key=reminder_offset)
    if len(unique) > REMINDERS_MAX_COUNT:
        raise ValueError(f"at most {REMINDERS_MAX_COUNT} distinct reminders")
    return unique


Recurrence = Annotated[
    StrictStr,
    AfterValidator(_rule),
    Field(
        max_length=RULE_MAX_LENGTH,
        description="An RFC 5545 RRULE value without `RRULE:`, stored and returned as given. "
        "Parts: FREQ (DAILY, WEEKLY, MONTHLY, YEARLY), INTERVAL (1-1000), BYDAY (ordinals "
        "such as 1MO, -1FR with MONTHLY or YEARLY), BYMONTHDAY, BYMONTH, COUNT (1-1000) or "
        "UNTIL (UTC, `...Z`), WKST. Needs a `due_at`, and must yield a date after it. "
        "Completing the task creates the next occurrence (see `next_id`).",
        examples=["FREQ=WEEKLY;BYDAY=MO,WE,FR"],
        json_schema_extra={"pattern": rf"^{_STORABLE_CHARACTER}*$"},
    ),
]
TimeZone = Annotated[
    StrictStr,
    AfterValidator(_time_zone),
    Field(
        max_length=64,
        description="The IANA time zone in which `recurrence` repeats the wall-clock time "
        "of `due_at`.",
        examples=["Europe/Berlin"],
    ),
]
_DURATION_PATTERN = r"^P(?=\d|T\d)(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$"
ReminderOffset = Annotated[
    StrictStr,
    AfterValidator(_reminder),
    Field(
        max_length=40,
        description="An ISO 8601 duration before `due_at` (weeks, days, hours, minutes, "
        "seconds), at most 28 days; stored normalised (`PT900S` becomes `PT15M`).",
        examples=["PT15M"],
        json_schema_extra={"pattern": _DURATION_PATTERN},
    ),
]
Reminders = Annotated[
    list[ReminderOffset],
    AfterValidator(_collapsed_reminders),
    Field(
        description=f"At most {REMINDERS_MAX_COUNT} offsets; duplicates collapse and they are "
        "sorted shortest first. A reminder is due at `due_at` minus the offset.",
        examples=[["PT0S", "PT15M", "P1D"]],
        json_schema_extra={"maxItems": REMINDERS_MAX_COUNT},
    ),
]
DEFAULT_TIME_ZONE = "UTC"


class _Input(BaseModel):
    # Unknown fields are errors: a body can never set id, owner_id or timestamps.
    model_config = ConfigDict(extra="forbid")


class TaskCreate(_Input):
    title: Title
    description: Description | None = None
    completed: StrictBool = False
    priority: Priority = "none"
    due_at: DueAt | None = None
    tags: Tags = Field(default_factory=list)
    recurrence: Recurrence | None = None
    time_zone: TimeZone = DEFAULT_TIME_ZONE
    reminders: Reminders = Field(default_factory=list)

    @model_validator(mode="after")
    def _schedule(self) -> Self:
        check_schedule(self.recurrence, self.due_at, self.time_zone)
        return self


class TaskReplace(TaskCreate):
    """PUT: a full replacement; missing optional fields return to their defaults."""


class TaskUpdate(_Input):
    """PATCH: only the fields present change; `description` may be null, `title` may not."""

    # None only stands for "not sent": an explicit null is refused below, so the schema
    # does not offer it.
    title: Title | SkipJsonSchema[None] = None
    description: Description | None = None
    completed: StrictBool | SkipJsonSchema[None] = None
    priority: Priority | SkipJsonSchema[None] = None
    due_at: DueAt | None = None
    tags: Tags | SkipJsonSchema[None] = None
    recurrence: Recurrence | None = None
    time_zone: TimeZone | SkipJsonSchema[None] = None
    reminders: Reminders | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _no_null_for_required_columns(self) -> "TaskUpdate":
        for name in ("title", "completed", "priority", "tags", "time_zone", "reminders"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} may be changed but not set to null")
        return self

    @model_validator(mode="after")
    def _schedule(self) -> "TaskUpdate":
        # Checked here when the body names all three; otherwise the service checks it
        # against the stored task.
        given = self.model_fields_set
        if given >= {"recurrence", "due_at", "time_zone"}:
            check_schedule(self.recurrence, self.due_at, self.time_zone or DEFAULT_TIME_ZONE)
        elif "due_at" in given and self.due_at is None and self.recurrence is not None:
            check_schedule(self.recurrence, None, DEFAULT_TIME_ZONE)
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class TaskCompletion(_Input):
    """Body of `/complete`: `completed` sets the state; leave it out to toggle."""

    completed: StrictBool | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _no_null(self) -> "TaskCompletion":
        if "completed" in self.model_fields_set and self.completed is None:
            raise ValueError("completed must be true or false; leave it out to toggle")
        return self


class TaskPublic(BaseModel):
    id: uuid.UUID
    title: str
    description: str | None
    completed: bool
    completed_at: datetime | None = Field(
        description="When the task was last completed; null while it is open."
    )
    priority: Priority
    due_at: datetime | None
    tags: list[str]
    recurrence: str | None
    time_zone: str
    reminders: list[str]
    series_id: uuid.UUID | None = Field(
        description="The id of the first task of the repeating series this task belongs to "
        "(its own id for that one); null for a task that never repeated. Read-only."
    )
    next_id: uuid.UUID | None = Field(
        description="On a completed occurrence of a repeating task: the id of the occurrence "
        "its completion created. Null otherwise. Read-only."
    )
    version: int = Field(description="1 on create, +1 on every change.")
    owner_id: str
    created_at: datetime
    updated_at: datetime


class TaskList(BaseModel):
    tasks: list[TaskPublic]
    total: int = Field(description="How many tasks match the filter, across all pages.")
    limit: int
    offset: int


_DATE_TIME = (
    "An ISO 8601 date-time with an offset (`Z`, or `%2B02:00` in a URL: a bare `+` is a space)."
)


class ListParameters(BaseModel):
    """The list's query parameters (limit and offset apart); every one given must hold."""

    completed: bool | None = Field(None, description="Only completed (true) or open (false) tasks.")
    priority: str | None = Field(
        None,
        pattern=PRIORITY_LIST_PATTERN,
        description="Only tasks of this priority, or of any in a comma list "
        "(`none`, `low`, `medium`, `high`).",
        examples=["high", "medium,high"],
    )
    tag: list[Tag] = Field(
        [],
        max_length=TAGS_MAX_COUNT,
        description="Only tasks carrying this tag (case-insensitive); repeat it for tasks "
        f"carrying every one named (at most {TAGS_MAX_COUNT}).",
    )
    due_before: DueAt | None = Field(
        None, description=f"Only tasks due strictly before this instant. {_DATE_TIME}"
    )
    due_after: DueAt | None = Field(
        None, description=f"Only tasks due at or after this instant. {_DATE_TIME}"
    )
    overdue: bool | None = Field(
        None, description="true: only open tasks whose due date has passed; false: every other."
    )
    q: SearchText | None = Field(
        None,
        max_length=SEARCH_MAX_LENGTH,
        description="Full-text search in title and description: every word must appear "
        "(case-insensitive, whole words; the last also as a prefix). Punctuation is "
        "plain text; a `q` with no word in it matches nothing.",
        examples=["buy mi"],
    )
    recurring: bool | None = Field(
        None, description="Only tasks with a `recurrence` (true) or without one (false)."
    )
    series_id: uuid.UUID | None = Field(
        None, description="Only the occurrences of this repeating series (its `series_id`)."
    )
    sort: Sort = Field(
        DEFAULT_SORT,
        description="Order: a field, `-` for descending; ties by id in the same direction, "
        "tasks without `due_at` last either way, priority `none` < `low` < `medium` < "
        "`high`, title case-insensitive.",
    )

    def to_query(self) -> ListQuery:
        return ListQuery(
            completed=self.completed,
            priorities=tuple(self.priority.split(",")) if self.priority is not None else (),
            tags=tuple(self.tag),
            due_before=self.due_before,
            due_after=self.due_after,
            overdue=self.overdue,
            search=self.q,
            sort=self.sort,
            recurring=self.recurring,
            series_id=self.series_id,
        )


# PostgreSQL's OFFSET is a bigint: a larger value would fail in the driver, not here.
MAX_OFFSET = 2**63 - 1
LIST_LIMIT_MAX = 100
LIST_LIMIT_DEFAULT = 50


class ListPage(ListParameters):
    """The list's parameters with its paging, read in one validation (tasks/dependencies.py)."""

    limit: int = Field(LIST_LIMIT_DEFAULT, ge=1, le=LIST_LIMIT_MAX)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
