"""The pure part of token verification: turning a verified payload into the caller's claims."""

from typing import Any

import pytest

from app.auth.tokens import Claims, InvalidToken, claims_from_payload


def test_sub_and_email_are_taken_from_the_payload() -> None:
    payload = {"sub": "Xk3b9Qz", "email": "a@example.com", "iat": 1, "exp": 2, "extra": [1]}
    assert claims_from_payload(payload) == Claims(sub="Xk3b9Qz", email="a@example.com")


def test_email_is_optional() -> None:
    assert claims_from_payload({"sub": "alice"}) == Claims(sub="alice", email=None)


def test_a_sub_of_255_characters_is_usable() -> None:
    assert claims_from_payload({"sub": "é" * 255}).sub == "é" * 255


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"sub": None},
        {"sub": ""},
        {"sub": 7},
        {"sub": ["a"]},
        {"sub": {"id": "a"}},
        {"sub": "a" * 256},
        {"sub": "a\u0000b"},
    ],
    ids=["missing", "null", "empty", "int", "list", "object", "too-long", "nul"],
)
def test_an_unusable_sub_is_an_invalid_token(payload: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken):
        claims_from_payload(payload)


@pytest.mark.parametrize(
    "email",
    [None, 5, ["a@example.com"], "a" * 321, "a\u0000@example.com"],
    ids=["null", "int", "list", "too-long", "nul"],
)
def test_an_unusable_email_is_ignored(email: object) -> None:
    assert claims_from_payload({"sub": "alice", "email": email}) == Claims("alice", None)


def test_an_email_of_320_characters_is_kept() -> None:
    email = "a" * 308 + "@example.com"
    assert len(email) == 320
    assert claims_from_payload({"sub": "alice", "email": email}).email == email
