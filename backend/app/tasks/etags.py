"""A task's ETag, and the responses that carry one task.

The ETag is the task's version in quotes (`"3"`): a strong validator, since the version
changes with every change to the task. It does not name the task: an ETag only ever
validates the resource it was served for (RFC 9110 §8.8.3), a task's versions never repeat
(+1 on every change, never reset) and task ids are never reused, so `"3"` of one task cannot
be mistaken for a state of the same task it was not.
"""

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from app.core.etags import Condition, MalformedCondition, parse_condition, strong_etag
from app.core.json_response import JSONBytesResponse
from app.tasks.service import TaskRow

# The version column is an integer: a larger number can never be a version.
_MAX_VERSION = 2**31 - 1

ETAG_HEADER: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": 'The task\'s current version as a strong entity tag, e.g. `"3"`.',
        "required": True,
        "schema": {"type": "string"},
    }
}


def task_etag(task: TaskRow) -> str:
    return strong_etag(str(task["version"]))


def task_response(
    task: TaskRow, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """One task as JSON, with its ETag: every route that answers with one task uses this."""
    return JSONBytesResponse(
        task, status_code, headers={"ETag": task_etag(task), **(headers or {})}
    )


def acceptable_versions(condition: Condition | None) -> list[int] | None:
    """The versions an If-Match condition accepts, for the service's `if_versions`: None when
    any existing task will do (no If-Match, or `*`). Strong comparison: a weak tag, or one
    that is not a version this API could have issued, matches nothing."""
    if condition is None or condition.any:
        return None
    return [
        int(opaque)
        for opaque in condition.strong_tags()
        if opaque.isascii()
        and opaque.isdigit()
        and len(opaque) <= len(str(_MAX_VERSION))
        and not opaque.startswith("0")
        and int(opaque) <= _MAX_VERSION
    ]


def if_match_versions(value: str | None) -> list[int] | None:
    """The versions an If-Match value (header or batch `if_match`) accepts; None: no value.

    A value that is neither `*` nor a list of quoted entity tags matches no version (412,
    or 404 when the task does not exist), as an unmatched condition does (RFC 9110 §13.1.1:
    the condition is true only for `*` or a strong match). It is not refused as invalid
    input: the answer to a condition that cannot hold is 412, whatever the reason.
    """
    if value is None:
        return None
    try:
        return acceptable_versions(parse_condition(value))
    except MalformedCondition:
        return []
