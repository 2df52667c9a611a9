import pytest

from app.core.etags import Condition, EntityTag, MalformedCondition, parse_condition
from app.tasks.etags import acceptable_versions, if_match_versions


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("*", Condition(any=True)),
        (" * ", Condition(any=True)),
        ('"3"', Condition(any=False, tags=(EntityTag("3", weak=False),))),
        (
            '"1", W/"2"',
            Condition(any=False, tags=(EntityTag("1", weak=False), EntityTag("2", weak=True))),
        ),
        # Empty list elements are tolerated (RFC 9110 §5.6.1).
        (
            ', "1",,\t"3" ,',
            Condition(any=False, tags=(EntityTag("1", weak=False), EntityTag("3", weak=False))),
        ),
        ('""', Condition(any=False, tags=(EntityTag("", weak=False),))),
        ('"a,b"', Condition(any=False, tags=(EntityTag("a,b", weak=False),))),
    ],
)
def test_well_formed_conditions(value: str, expected: Condition) -> None:
    assert parse_condition(value) == expected


@pytest.mark.parametrize(
    "value", ["", " ", ",", "3", '"3', "W/3", 'w/"3"', '"a"b"', "**", '*, "1"', '"1" "2"', '"é"']
)
def test_malformed_conditions(value: str) -> None:
    with pytest.raises(MalformedCondition):
        parse_condition(value)


@pytest.mark.parametrize(
    ("value", "versions"),
    [
        ("*", None),
        ('"3"', [3]),
        ('"1", "7"', [1, 7]),
        ('W/"3"', []),  # If-Match compares strongly: a weak tag never matches
        ('"03"', []),  # not a tag this API issues
        ('"0"', []),
        ('"x"', []),
        ('"2147483648"', []),  # beyond the version column
        ('"' + "9" * 5000 + '"', []),
        ('"2147483647", W/"5", "5"', [2147483647, 5]),
    ],
)
def test_acceptable_versions(value: str, versions: list[int] | None) -> None:
    assert acceptable_versions(parse_condition(value)) == versions


def test_no_condition_accepts_any_version() -> None:
    assert acceptable_versions(None) is None
    assert if_match_versions(None) is None


@pytest.mark.parametrize("value", ["3", "", '"3', "null"])
def test_a_malformed_if_match_accepts_no_version(value: str) -> None:
    assert if_match_versions(value) == []


def test_if_none_match_compares_weakly() -> None:
    assert parse_condition('W/"3"').matches_weakly("3")
    assert parse_condition('"2", "3"').matches_weakly("3")
    assert not parse_condition('"4"').matches_weakly("3")
    assert parse_condition("*").matches_weakly("3")
