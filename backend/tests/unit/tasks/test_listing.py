"""The list statement builder: fixed fragments only, every value a bind parameter."""

import re
from datetime import UTC, datetime

import pytest

from app.tasks.listing import (
    SORTS,
    ListQuery,
    SearchTerms,
    list_statement,
    order_by,
    search_terms,
)

WHEN = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("buy mi", SearchTerms("buy", "mi")),
        ("milk", SearchTerms("", "milk")),
        ("  buy  oat\tmi ", SearchTerms("buy oat", "mi")),
        ("", SearchTerms("", "")),
        (" \n ", SearchTerms("", "")),
        ("a\u00a0b", SearchTerms("a", "b")),  # any Unicode whitespace separates terms
        ("it's (really)!", SearchTerms("it's", "(really)!")),
    ],
)
def test_search_terms_split_off_the_last_term(text: str, terms: SearchTerms) -> None:
    assert search_terms(text) == terms


@pytest.mark.parametrize(
    ("sort", "clause"),
    [
        ("created_at", "created_at ASC, id ASC"),
        ("-created_at", "created_at DESC, id DESC"),
        ("updated_at", "updated_at ASC, id ASC"),
        ("-updated_at", "updated_at DESC, id DESC"),
        ("due_at", "due_at ASC NULLS LAST, id ASC"),
        ("-due_at", "due_at DESC NULLS LAST, id DESC"),
        ("priority", "priority ASC, id ASC"),
        ("-priority", "priority DESC, id DESC"),
        ("title", "lower(title) ASC, id ASC"),
        ("-title", "lower(title) DESC, id DESC"),
    ],
)
def test_order_by_of_every_sort(sort: str, clause: str) -> None:
    assert sort in SORTS
    assert order_by(sort) == clause  # type: ignore[arg-type]


def test_every_sort_has_an_order() -> None:
    assert len(SORTS) == 10
    for sort in SORTS:
        assert order_by(sort).endswith(("id ASC", "id DESC"))  # type: ignore[arg-type]


HOSTILE = "x'); DROP TABLE tasks; -- $1 :* & | ! <->"


def test_caller_values_are_only_ever_parameters() -> None:
    query = ListQuery(
        completed=True,
        priorities=("high", "low"),
        tags=(HOSTILE, "work"),
        due_before=WHEN,
        due_after=WHEN,
        overdue=True,
        search=f"milk {HOSTILE}",
        sort="-due_at",
    )
    sql, args = list_statement(HOSTILE, query, columns="id", limit=7, offset=9)
    assert "DROP" not in sql
    assert "milk" not in sql
    assert "work" not in sql
    assert HOSTILE in args
    assert [HOSTILE, "work"] in args
    # Every placeholder has its value, numbered from 1 without gaps.
    numbers = {int(n) for n in re.findall(r"\$(\d+)", sql)}
    assert numbers == set(range(1, len(args) + 1))
    assert args[0] == HOSTILE  # the owner comes first
    assert args[-2:] == [7, 9]


def test_no_filter_is_only_the_owner_and_live_tasks() -> None:
    sql, args = list_statement("alice", ListQuery(), columns="id", limit=50, offset=0)
    assert args == ["alice", 50, 0]
    assert sql.count("WHERE owner_id = $1 AND deleted_at IS NULL\n") == 1
    assert sql.count("WHERE owner_id = $1 AND deleted_at IS NULL)") == 1
    assert "ORDER BY created_at DESC, id DESC" in sql


def test_filters_given_are_in_both_the_count_and_the_page() -> None:
    query = ListQuery(priorities=("high", "medium", "high"), tags=("work", "work"))
    sql, args = list_statement("alice", query, columns="id", limit=50, offset=0)
    assert args == ["alice", [2, 3], ["work"], 50, 0]  # ranks, deduplicated
    assert sql.count("priority = ANY($2::smallint[])") == 2
    assert sql.count("tags @> $3::text[]") == 2


@pytest.mark.parametrize(
    ("overdue", "condition"),
    [
        (True, "due_at < now() AND NOT completed"),
        (False, "(due_at IS NULL OR due_at >= now() OR completed)"),
    ],
)
def test_overdue_both_ways(overdue: bool, condition: str) -> None:
    sql, _ = list_statement("a", ListQuery(overdue=overdue), columns="id", limit=1, offset=0)
    assert sql.count(condition) == 2


def test_search_passes_the_exact_words_and_the_prefix_term_separately() -> None:
    sql, args = list_statement("a", ListQuery(search="buy oat mi"), columns="id", limit=1, offset=0)
    assert args == ["a", "buy oat", "mi", 1, 0]
    assert sql.count("search_keys @@") == 2
    assert "to_tsvector('simple', $2::text)" in sql
    assert "to_tsvector('simple', $3::text)" in sql
