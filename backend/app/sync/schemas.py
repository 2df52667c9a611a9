import uuid

from pydantic import BaseModel, Field

from app.tasks.schemas import TaskPublic


class ChangeFeed(BaseModel):
    changes: list[TaskPublic] = Field(
        description="Tasks created, changed or restored after `since`, each once, as they are now."
    )
    deleted: list[uuid.UUID] = Field(
        description=(
            "Ids of tasks trashed or removed for good after `since`: drop them. An id you do "
            "not hold can be ignored."
        )
    )
    cursor: str = Field(description="Opaque; send it as `since` next time.")
    has_more: bool = Field(description="More changes are waiting: ask again with `cursor` now.")
