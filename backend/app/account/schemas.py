"""What the account routes return."""

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from app.tasks.schemas import TaskPublic
from app.trash.schemas import TrashedTask


class UserPublic(BaseModel):
    id: str = Field(description="The identity provider's user id (the token's `sub`).")
    email: str | None = Field(description="From the latest token's `email` claim, if any.")
    created_at: datetime = Field(description="When the API first saw this user.")


class Deletion(BaseModel):
    id: uuid.UUID
    deleted_at: datetime


class AccountExport(BaseModel):
    user: UserPublic
    tasks: list[TaskPublic] = Field(description="Live tasks, newest first.")
    trash: list[TrashedTask] = Field(description="Trashed tasks, most recently deleted first.")
    deleted: list[Deletion] = Field(
        description=(
            "The record of deletions kept for the change feed (TOMBSTONE_RETENTION_DAYS), "
            "including tasks removed from the trash for good."
        )
    )
