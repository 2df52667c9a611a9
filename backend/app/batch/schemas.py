"""The batch request and its results.

The envelope (the list, each operation's kind and its own fields) is validated as a whole:
a malformed one is 422 for the request and nothing runs. An operation's `data` is validated
when that operation runs, by the same rules as the single routes (TaskCreate for create,
TaskUpdate for update): invalid data fails that operation alone, with 422 in its result.
"""

import re
import uuid
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from app.core.errors import ErrorBody
from app.tasks.schemas import TaskPublic

MAX_OPERATIONS = 100
REF_PREFIX = "ref:"
_REF_NAME = r"[A-Za-z0-9_-]{1,64}"
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
REF_PATTERN = rf"^{_REF_NAME}$"
TARGET_PATTERN = rf"^(?:{_UUID}|{REF_PREFIX}{_REF_NAME})$"


def _checked(pattern: str) -> Any:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise ValueError(f"must match {pattern}")
        return value

    return AfterValidator(check)


RefName = Annotated[
    StrictStr,
    _checked(REF_PATTERN),
    Field(
        description="Names the created task for later operations of this batch (`ref:<name>`); "
        "1 to 64 letters, digits, `_` or `-`, unique within the batch.",
        json_schema_extra={"pattern": REF_PATTERN},
    ),
]
Target = Annotated[
    StrictStr,
    _checked(TARGET_PATTERN),
    Field(
        description="The task: its id, or `ref:<name>` of a task created earlier in this batch.",
        json_schema_extra={"pattern": TARGET_PATTERN},
    ),
]
IfMatch = Annotated[
    StrictStr,
    Field(
        description='As the If-Match header: the task\'s ETag (e.g. `"3"`), several separated '
        "by commas, or `*`. A mismatch (or a value that is none of these) fails this "
        "operation with 412. Required (else 428) when the server runs with "
        "REQUIRE_IF_MATCH=true.",
    ),
]
TaskData = Annotated[
    dict[str, Any],
    Field(
        description="The task's fields, validated when the operation runs: as the body of "
        "POST /tasks (TaskCreate) for create, of PATCH /tasks/{task_id} (TaskUpdate) for "
        "update. Invalid data fails this operation alone, with 422 in its result."
    ),
]


class _Operation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _no_explicit_null(self) -> Self:
        # Optional fields here may be left out, not sent as null: the schema offers no null.
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} may be left out but not null")
        return self


class CreateOperation(_Operation):
    op: Literal["create"]
    ref: RefName | SkipJsonSchema[None] = None
    data: TaskData


class UpdateOperation(_Operation):
    op: Literal["update"]
    id: Target
    data: TaskData
    if_match: IfMatch | SkipJsonSchema[None] = None


class CompleteOperation(_Operation):
    op: Literal["complete"]
    id: Target
    completed: StrictBool | SkipJsonSchema[None] = Field(
        default=None, description="Sets completion; leave it out to toggle."
    )
    if_match: IfMatch | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _no_null(self) -> "CompleteOperation":
        # As for /complete: null is neither a state nor "leave it out" (the schema offers
        # only true and false).
        if "completed" in self.model_fields_set and self.completed is None:
            raise ValueError("completed must be true or false; leave it out to toggle")
        return self


class DeleteOperation(_Operation):
    op: Literal["delete"]
    id: Target
    if_match: IfMatch | SkipJsonSchema[None] = None


Operation = Annotated[
    CreateOperation | UpdateOperation | CompleteOperation | DeleteOperation,
    Field(discriminator="op"),
]


class BatchRequest(_Operation):
    operations: list[Operation] = Field(
        max_length=MAX_OPERATIONS,
        description=f"Applied in order; at most {MAX_OPERATIONS}.",
    )
    atomic: StrictBool = Field(
        default=False,
        description="true: all operations are applied or none (409 `batch_failed` if any "
        "fails). false: each succeeds or fails on its own.",
    )


class OperationResult(BaseModel):
    """One operation's outcome; keys that do not apply are left out."""

    ref: str | SkipJsonSchema[None] = Field(
        default=None, description="The operation's ref (create), or the ref its id named."
    )
    id: uuid.UUID | SkipJsonSchema[None] = Field(
        default=None, description="The task the operation acted on, when known."
    )
    status: Literal[200, 201, 204, 404, 409, 412, 422, 428] = Field(
        description="As the single route would have answered."
    )
    task: TaskPublic | SkipJsonSchema[None] = Field(
        default=None, description="The task after a successful create, update or complete."
    )
    etag: str | SkipJsonSchema[None] = Field(
        default=None, description="The task's ETag after a successful create/update/complete."
    )
    error: ErrorBody | SkipJsonSchema[None] = Field(
        default=None, description="Why the operation failed."
    )


class BatchResults(BaseModel):
    results: list[OperationResult] = Field(description="One per operation, in order.")


class BatchConflict(ErrorBody):
    """409: `batch_failed` (an atomic batch in which an operation failed: nothing was applied;
    `results` says which failed and why) or `idempotency_in_progress` (no `results`)."""

    results: list[OperationResult] | SkipJsonSchema[None] = Field(
        default=None,
        description="With `batch_failed`: every operation's outcome as it ran. Failed ones "
        "carry their status and error; the others the status they would have had, without "
        "task, etag or a created id, since nothing was applied.",
    )
