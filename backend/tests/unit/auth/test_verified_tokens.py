"""The per-process memory of verified tokens: used only within `exp` and the key generation."""

import time

from app.auth.tokens import Claims
from app.auth.verified_tokens import VerifiedTokens

ALICE = Claims(sub="alice", email=None)


def test_a_remembered_token_is_returned_until_it_expires() -> None:
    tokens = VerifiedTokens(10)
    tokens.put("t1", ALICE, time.time() + 60)
    assert tokens.get("t1") is ALICE
    assert tokens.get("t2") is None

    tokens.put("t3", ALICE, time.time() - 1)
    assert tokens.get("t3") is None


def test_a_token_verified_with_an_older_key_set_is_not_used() -> None:
    tokens = VerifiedTokens(10)
    tokens.put("t1", ALICE, time.time() + 60, generation=1)
    assert tokens.get("t1", generation=2) is None
    # Dropped, not merely skipped: the older generation never comes back.
    assert tokens.get("t1", generation=1) is None


def test_the_memory_is_bounded_and_can_be_turned_off() -> None:
    tokens = VerifiedTokens(2)
    for name in ("a", "b", "c"):
        tokens.put(name, ALICE, time.time() + 60)
    assert tokens.get("a") is None
    assert tokens.get("c") is ALICE

    off = VerifiedTokens(0)
    off.put("a", ALICE, time.time() + 60)
    assert off.get("a") is None
