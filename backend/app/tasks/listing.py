"""The list statement: GET /tasks's filters and sort as one owner-scoped query.

Only the fixed SQL fragments written in this module are ever put into the statement; every
value the caller gave is a bind parameter. Each combination of filters is its own statement,
so each is planned for the indexes it can use (a catch-all `($n IS NULL OR ...)` statement
would be planned once for all of them, and could use none of the filter indexes).
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from app.tasks.fields import LIVE_ROWS, PRIORITIES, SEARCH_CONFIG

# Every value `sort` takes: a field, or a field with `-` for descending.
Sort = Literal[
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    "due_at",
    "-due_at",
    "priority",
    "-priority",
    "title",
    "-title",
]
SORTS: tuple[str, ...] = get_args(Sort)
DEFAULT_SORT: Sort = "-created_at"

_SORT_KEYS: dict[str, str] = {
    "created_at": "created_at",
    "updated_at": "updated_at",
    "due_at": "due_at",
    "priority": "priority",
    # Case-insensitive, and the expression ix_tasks_owner_title holds.
    "title": "lower(title)",
}

# `q` and `tag` look up keys of the stored `search_keys` (migration 0004's task_search_keys):
# "<length of owner>:<owner> w <word>" for each word of title and description, and
# "<length of owner>:<owner> t <tag>" for each tag. Each key is quoted as a tsquery operand
# (quotes doubled, backslashes escaped), so no character the caller sent is ever tsquery
# syntax, and every value reaches the statement as a bind parameter.
#
# The words of `q` are found by PostgreSQL itself (the same parser and configuration as the
# stored keys, so a word is split and normalised the same way on both sides). Every word must
# match; the words of the last whitespace-separated term match as prefixes. No word at all
# gives NULL, and `@@ NULL` matches nothing.
_WORDS_TSQUERY = rf"""(
    SELECT string_agg(
        '''' || replace(replace(key, '\', '\\'), '''', '''''') || ''''
            || CASE WHEN prefix THEN ':*' ELSE '' END,
        ' & ')::tsquery
    FROM (
        SELECT length({{owner}}::text) || ':' || {{owner}}::text || ' w ' || lexeme AS key,
               false AS prefix
        FROM unnest(to_tsvector('{SEARCH_CONFIG}', {{exact}}::text))
        UNION ALL
        SELECT length({{owner}}::text) || ':' || {{owner}}::text || ' w ' || lexeme, true
        FROM unnest(to_tsvector('{SEARCH_CONFIG}', {{prefix}}::text))
    ) AS words
)"""
# Every tag named must be there.
_TAGS_TSQUERY = r"""(
    SELECT string_agg(
        '''' || replace(replace(key, '\', '\\'), '''', '''''') || '''', ' & ')::tsquery
    FROM (
        SELECT length({owner}::text) || ':' || {owner}::text || ' t ' || tag AS key
        FROM unnest({tags}::text[]) AS tag
    ) AS tags
)"""


@dataclass(frozen=True, slots=True)
class SearchTerms:
    """`q` split for the tsquery: the last term is matched as a prefix (people are still
    typing it), the ones before it as whole words."""

    exact: str
    prefix: str


def search_terms(text: str) -> SearchTerms:
    terms = text.split()
    if not terms:
        return SearchTerms("", "")
    return SearchTerms(" ".join(terms[:-1]), terms[-1])


@dataclass(frozen=True, slots=True)
class ListQuery:
    """What a list request asks for; every filter given must hold."""

    completed: bool | None = None
    priorities: tuple[str, ...] = ()  # any of these
    tags: tuple[str, ...] = ()  # all of these (normalised: trimmed, lowercase)
    due_before: datetime | None = None
    due_after: datetime | None = None
    overdue: bool | None = None
    search: str | None = None
    sort: Sort = DEFAULT_SORT
    recurring: bool | None = None  # has a recurrence
    series_id: uuid.UUID | None = None


def order_by(sort: Sort) -> str:
    """The ORDER BY of a `sort` value: ties by id in the same direction; tasks without a
    due date last whichever the direction."""
    descending = sort.startswith("-")
    field = sort.removeprefix("-")
    key = _SORT_KEYS[field]  # a KeyError here is a bug: `sort` is validated before
    direction = "DESC" if descending else "ASC"
    nulls = " NULLS LAST" if field == "due_at" else ""
    return f"{key} {direction}{nulls}, id {direction}"


class _Parameters:
    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def list_statement(
    owner_id: str, query: ListQuery, *, columns: str, limit: int, offset: int
) -> tuple[str, list[Any]]:
    """One round trip: the count of every match and one page of them, in order.

    Rows: the first column `total`, then the page's tasks; a single row with NULL task
    columns when the page is empty.
    """
    params = _Parameters()
    owner = params.add(owner_id)
    conditions = [f"owner_id = {owner}", LIVE_ROWS]
    if query.completed is not None:
        conditions.append(f"completed = {params.add(query.completed)}")
    if query.priorities:
        levels = sorted({PRIORITIES.index(name) for name in query.priorities})
        conditions.append(f"priority = ANY({params.add(levels)}::smallint[])")
    if query.tags:
        tags = params.add(list(dict.fromkeys(query.tags)))
        # The index finds the tasks by their keys; the array test keeps the answer exact
        # whatever the keys hold.
        tsquery = _TAGS_TSQUERY.format(owner=owner, tags=tags)
        conditions.append(f"search_keys @@ {tsquery} AND tags @> {tags}::text[]")
    if query.due_before is not None:
        conditions.append(f"due_at < {params.add(query.due_before)}")
    if query.due_after is not None:
        conditions.append(f"due_at >= {params.add(query.due_after)}")
    if query.overdue is True:
        conditions.append("due_at < now() AND NOT completed")
    elif query.overdue is False:
        conditions.append("(due_at IS NULL OR due_at >= now() OR completed)")
    if query.search is not None:
        terms = search_terms(query.search)
        tsquery = _WORDS_TSQUERY.format(
            owner=owner, exact=params.add(terms.exact), prefix=params.add(terms.prefix)
        )
        conditions.append(f"search_keys @@ {tsquery}")
    if query.recurring is not None:
        conditions.append(f"recurrence IS {'NOT ' if query.recurring else ''}NULL")
    if query.series_id is not None:
        conditions.append(f"series_id = {params.add(query.series_id)}")
    where = " AND ".join(conditions)
    sql = f"""
SELECT c.total, t.*
FROM (SELECT count(*) AS total FROM tasks WHERE {where}) AS c
LEFT JOIN LATERAL (
    SELECT {columns} FROM tasks
    WHERE {where}
    ORDER BY {order_by(query.sort)}
    LIMIT {params.add(limit)} OFFSET {params.add(offset)}
) AS t ON true
"""
    return sql, params.values
