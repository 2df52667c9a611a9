"""Entity tags and the conditional request headers that carry them (RFC 9110 §8.8.3, §13.1).

`If-Match` and `If-None-Match` hold `*` or a comma-separated list of entity tags such as
`"3"` or `W/"3"`. If-Match compares strongly (a weak tag never matches), If-None-Match
weakly (the `W/` is ignored).
"""

import re
from dataclasses import dataclass

# etagc = %x21 / %x23-7E. RFC 9110 also allows obs-text (bytes 0x80-0xFF), which no tag of
# this API contains.
_ENTITY_TAG = r'(?:W/)?"[!#-~]*"'
_OWS = r"[ \t]*"
# `*`, or at least one entity tag; empty list elements (`"1", , "2"`) are tolerated, as
# RFC 9110 §5.6.1 asks of recipients.
_WELL_FORMED = re.compile(
    rf"^{_OWS}(?:\*|(?:,{_OWS})*{_ENTITY_TAG}(?:{_OWS},(?:{_OWS}{_ENTITY_TAG})?)*){_OWS}$"
)
_TAGS = re.compile(r'(W/)?"([!#-~]*)"')


class MalformedCondition(ValueError):
    def __init__(self) -> None:
        super().__init__('must be * or a comma-separated list of quoted entity tags, such as "3"')


@dataclass(frozen=True, slots=True)
class EntityTag:
    opaque: str  # between the quotes
    weak: bool


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed If-Match / If-None-Match value: `*` (any) or a list of tags."""

    any: bool
    tags: tuple[EntityTag, ...] = ()

    def strong_tags(self) -> list[str]:
        """The opaque parts of the tags that can match strongly (the weak ones never do)."""
        return [tag.opaque for tag in self.tags if not tag.weak]

    def matches_weakly(self, opaque: str) -> bool:
        return self.any or any(tag.opaque == opaque for tag in self.tags)


def parse_condition(value: str) -> Condition:
    """Parse one header value (several field lines joined by commas); MalformedCondition
    when it is neither `*` nor a list of entity tags."""
    if not _WELL_FORMED.match(value):
        raise MalformedCondition()
    if value.strip(" \t") == "*":
        return Condition(any=True)
    tags = tuple(EntityTag(opaque, bool(weak)) for weak, opaque in _TAGS.findall(value))
    return Condition(any=False, tags=tags)


def strong_etag(opaque: str) -> str:
    return f'"{opaque}"'
