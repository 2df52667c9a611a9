"""Typed dependencies of the task routes."""

import uuid
from typing import Annotated

from fastapi import Depends, Path

from app.auth.dependencies import CurrentUserId
from app.core.database import DatabaseDep
from app.tasks import service
from app.tasks.service import TaskRow

TaskIdPath = Annotated[uuid.UUID, Path(description="The task's id (a UUID).")]


async def own_task(task_id: TaskIdPath, user_id: CurrentUserId, db: DatabaseDep) -> TaskRow:
    """The caller's task named in the path, or 404."""
    return await service.get_task(db, user_id, task_id)


OwnTask = Annotated[TaskRow, Depends(own_task)]
