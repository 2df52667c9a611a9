"""Text a client sends that PostgreSQL must be able to store."""


def storable_text(value: str) -> str:
    """`value`, or the ValueError a pydantic validator reports: PostgreSQL text cannot hold
    NUL, and an unpaired surrogate (which a JSON escape such as "\\ud800" produces) has no
    UTF-8 form; either would otherwise fail in the database instead."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no unpaired surrogates)") from None
    return value
