import re

from app.idempotency.dependencies import KEY_PATTERN
from app.idempotency.service import fingerprint


def test_bodies_equal_as_json_have_one_fingerprint() -> None:
    route = "POST /api/v1/{user_id}/tasks"
    first = fingerprint(route, {"title": "a", "tags": ["x"], "n": 1})
    assert fingerprint(route, {"n": 1.0, "tags": ["x"], "title": "a"}) == first
    assert fingerprint(route, {"title": "a", "tags": ["x"], "n": 2}) != first
    assert fingerprint(route, {"title": "a ", "tags": ["x"], "n": 1}) != first
    assert fingerprint(route, {"title": "a", "tags": ["x", "x"], "n": 1}) != first


def test_the_route_is_part_of_the_fingerprint() -> None:
    body: dict[str, list[str]] = {"operations": []}
    assert fingerprint("POST /a", body) != fingerprint("POST /b", body)


def test_any_parsed_json_has_a_fingerprint() -> None:
    # Python's JSON parser (FastAPI's) accepts NaN and unpaired surrogates.
    assert fingerprint("r", {"x": float("nan"), "y": "\ud800"})


def test_the_key_pattern() -> None:
    key = re.compile(KEY_PATTERN)
    for good in ["a", "0", "a b", "~" * 255, "550e8400-e29b-41d4-a716-446655440000"]:
        assert key.match(good), good
    for bad in ["", " a", "a ", "a" * 256, "é", "a\tb", "a\x7f"]:
        assert not key.match(bad), bad
