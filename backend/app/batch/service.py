"""Batches of task operations, applied in order in one transaction, through the task
service's own functions (so every rule of the single routes holds per operation, including
the owner scoping: another user's task is 404 in its result).

The transaction starts by locking the owner's row, which every task write takes anyway
(the change counter): batches of one user therefore run one after another and cannot
deadlock each other by touching the same tasks in different orders. Non-atomic: whatever
succeeded is committed, failures are reported. Atomic: any failure rolls everything back.
"""

import uuid
from dataclasses import dataclass, field
from typing import Any, TypeVar

from asyncpg.pool import PoolConnectionProxy
from pydantic import BaseModel, ValidationError

from app.batch.schemas import (
    REF_PREFIX,
    BatchRequest,
    CompleteOperation,
    CreateOperation,
    DeleteOperation,
    UpdateOperation,
)
from app.core.database import Database
from app.core.errors import ApiError, validation_detail
from app.tasks import service as tasks
from app.tasks.dependencies import PreconditionRequired
from app.tasks.etags import if_match_versions, task_etag
from app.tasks.schemas import TaskCreate, TaskUpdate

Result = dict[str, Any]

_LOCK_OWNER = "SELECT 1 FROM users WHERE id = $1 FOR UPDATE"


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    results: list[Result]
    applied: bool  # False: atomic, an operation failed, nothing was applied


Model = TypeVar("Model", bound=BaseModel)


class _InvalidData(Exception):
    def __init__(self, exc: ValidationError) -> None:
        self.detail = validation_detail(exc.errors())


class _RollBack(Exception):
    pass


@dataclass
class _Run:
    conn: PoolConnectionProxy
    owner_id: str
    require_if_match: bool
    # ref name -> the created task's id, or None when its create failed.
    refs: dict[str, uuid.UUID | None] = field(default_factory=dict)


async def run_batch(
    source: Database | PoolConnectionProxy,
    owner_id: str,
    batch: BatchRequest,
    *,
    require_if_match: bool,
) -> BatchOutcome:
    if isinstance(source, Database):
        # One transaction: if a pooler loses a prepared statement in it, it is rolled back
        # and `run` runs it again.
        return await source.run(
            lambda pooled: run_batch(pooled.raw, owner_id, batch, require_if_match=require_if_match)
        )
    conn = source
    results: list[Result] = []
    run = _Run(conn, owner_id, require_if_match)
    try:
        # Within a caller's transaction (an Idempotency-Key) this is a savepoint.
        async with conn.transaction():
            await conn.execute(_LOCK_OWNER, owner_id)
            for operation in batch.operations:
                results.append(await _apply(run, operation))
            if batch.atomic and any(_failed(result) for result in results):
                raise _RollBack()
    except _RollBack:
        return BatchOutcome([_not_applied(result) for result in results], applied=False)
    return BatchOutcome(results, applied=True)


def _failed(result: Result) -> bool:
    return "error" in result


def _not_applied(result: Result) -> Result:
    if _failed(result):
        return result
    kept = {key: value for key, value in result.items() if key not in ("task", "etag")}
    if result["status"] == 201:
        kept.pop("id", None)
    return kept


async def _apply(
    run: _Run, operation: CreateOperation | UpdateOperation | CompleteOperation | DeleteOperation
) -> Result:
    result: Result = {}
    try:
        if isinstance(operation, CreateOperation):
            return await _create(run, operation, result)
        result.update(_named(operation.id))
        task_id = _resolve(run, operation.id)
        result["id"] = task_id
        if_versions = _if_versions(run, operation.if_match)
        if isinstance(operation, UpdateOperation):
            changes = _valid(TaskUpdate, operation.data).changes()
            task = await tasks.update_task(
                run.conn, run.owner_id, task_id, changes, if_versions=if_versions
            )
        elif isinstance(operation, CompleteOperation):
            task = await tasks.set_completed(
                run.conn, run.owner_id, task_id, operation.completed, if_versions=if_versions
            )
        else:
            await tasks.delete_task(run.conn, run.owner_id, task_id, if_versions=if_versions)
            return {**result, "status": 204}
        return {**result, "status": 200, "task": task, "etag": task_etag(task)}
    except ApiError as exc:
        return {**result, "status": exc.status_code, "error": _error(exc.detail, exc.code)}
    except _InvalidData as exc:
        return {**result, "status": 422, "error": _error(exc.detail, "validation_error")}


async def _create(run: _Run, operation: CreateOperation, result: Result) -> Result:
    ref = operation.ref
    if ref is not None:
        result["ref"] = ref
        if ref in run.refs:
            raise ApiError(
                422,
                "duplicate_ref",
                f"An earlier operation of this batch already uses ref {ref!r}.",
            )
        # Until the create succeeds, later references find no task (404).
        run.refs[ref] = None
    values = _valid(TaskCreate, operation.data).model_dump()
    task = await tasks.create_task(run.conn, run.owner_id, values)
    if ref is not None:
        run.refs[ref] = task["id"]
    return {**result, "id": task["id"], "status": 201, "task": task, "etag": task_etag(task)}


def _error(detail: str | list[dict[str, Any]], code: str) -> Result:
    return {"detail": detail, "code": code}


def _named(target: str) -> Result:
    return {"ref": target.removeprefix(REF_PREFIX)} if target.startswith(REF_PREFIX) else {}


def _resolve(run: _Run, target: str) -> uuid.UUID:
    if not target.startswith(REF_PREFIX):
        return uuid.UUID(target)
    name = target.removeprefix(REF_PREFIX)
    if name not in run.refs:
        raise ApiError(
            422,
            "unknown_ref",
            f"No earlier create operation of this batch has ref {name!r}.",
        )
    task_id = run.refs[name]
    if task_id is None:
        raise tasks.TaskNotFound()  # its create failed
    return task_id


def _if_versions(run: _Run, if_match: str | None) -> list[int] | None:
    if if_match is None and run.require_if_match:
        raise PreconditionRequired()
    return if_match_versions(if_match)


def _valid(model: type[Model], data: dict[str, Any]) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _InvalidData(exc) from None
