import uuid
from datetime import datetime, timedelta

from pydantic import BaseModel, Field, model_validator

from app.tasks.schemas import DueAt

MAX_WINDOW = timedelta(days=31)
MAX_REMINDERS = 500

_DATE_TIME = (
    "An ISO 8601 date-time with an offset (`Z`, or `%2B02:00` in a URL: a bare `+` is a space)."
)


class ReminderWindow(BaseModel):
    """GET /reminders's query: the window, `from` included, `to` excluded."""

    from_: DueAt = Field(alias="from", description=f"Start of the window (included). {_DATE_TIME}")
    to: DueAt = Field(
        description=f"End of the window (excluded): after `from`, at most 31 days later. "
        f"{_DATE_TIME}"
    )

    @model_validator(mode="after")
    def _bounded(self) -> "ReminderWindow":
        if self.to <= self.from_:
            raise ValueError("to must be after from")
        if self.to - self.from_ > MAX_WINDOW:
            raise ValueError("from and to must be at most 31 days apart")
        return self


class Reminder(BaseModel):
    task_id: uuid.UUID
    title: str
    remind_at: datetime = Field(description="`due_at` minus `offset`.")
    due_at: datetime
    offset: str = Field(description="The task's reminder offset (ISO 8601 duration).")


class ReminderList(BaseModel):
    reminders: list[Reminder] = Field(
        description=f"Ordered by `remind_at`, then `task_id`; at most {MAX_REMINDERS}."
    )
    has_more: bool = Field(description="More reminders fall in the window than were listed.")
