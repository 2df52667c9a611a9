from datetime import datetime

from pydantic import BaseModel, Field

from app.tasks.schemas import TaskPublic


class TrashedTask(TaskPublic):
    deleted_at: datetime = Field(description="When the task was moved to the trash.")


class TrashList(BaseModel):
    tasks: list[TrashedTask]
    total: int = Field(description="How many tasks are in the trash, across all pages.")
    limit: int
    offset: int
