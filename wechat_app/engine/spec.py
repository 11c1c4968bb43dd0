"""Rule specifications: the plain-data form of a rule that the engine compiles, and its validation.

Pure Python (no Django): the models, the rule-file dialect, the admin and the API all validate
through ``validate_match`` and ``validate_replies`` so that a rule is judged the same everywhere.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ..protocol.replies import Reply, ReplyError, reply_from_dict

# Message types a ``type`` rule may name (events have their own kind).
MESSAGE_TYPES = ("text", "image", "voice", "video", "shortvideo", "location", "link", "file")
REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


class MatchKind(enum.StrEnum):
    EXACT = "exact"
    CONTAINS = "contains"
    REGEX = "regex"
    EVENT = "event"
    TYPE = "type"
    DEFAULT = "default"

    @property
    def label(self) -> str:
        return {
            "exact": "Exact text", "contains": "Contains keyword", "regex": "Regular expression",
            "event": "Event", "type": "Message type", "default": "Default (nothing else matched)",
        }[self.value]

    @classmethod
    def choices(cls):
        return [(kind.value, kind.label) for kind in cls]


class RuleSpecError(ValueError):
    """An invalid rule; ``field`` names the offending part when known, ``rule`` the rule."""

    def __init__(self, message, field=None, rule=None):
        super().__init__(message)
        self.field = field
        self.rule = rule


def regex_flags(flags: str) -> int:
    value = 0
    for char in flags or "":
        if char not in REGEX_FLAGS:
            raise RuleSpecError(f"unknown regex flag {char!r} (use i, m, s, x)", field="match_flags")
        value |= REGEX_FLAGS[char]
    return value


def compile_regex(pattern: str, flags: str = "") -> re.Pattern:
    try:
        return re.compile(pattern, regex_flags(flags))
    except re.error as err:
        raise RuleSpecError(f"invalid regular expression {pattern!r}: {err}", field="match_value") from err


def validate_match(kind: str, value: str, key: str = "", flags: str = "") -> None:
    """Raise ``RuleSpecError`` unless the match condition is usable."""
    try:
        kind = MatchKind(kind)
    except ValueError:
        raise RuleSpecError(f"unknown match kind {kind!r}", field="match_kind") from None
    if kind in (MatchKind.EXACT, MatchKind.CONTAINS, MatchKind.REGEX, MatchKind.EVENT, MatchKind.TYPE):
        if not value or not value.strip():
            raise RuleSpecError(f"a {kind.value} rule needs a match value", field="match_value")
    if kind == MatchKind.REGEX:
        compile_regex(value, flags)
    elif flags:
        raise RuleSpecError("regex flags only apply to regex rules", field="match_flags")
    if kind == MatchKind.TYPE and value.strip().lower() not in MESSAGE_TYPES:
        raise RuleSpecError(f"unknown message type {value!r}; known: {', '.join(MESSAGE_TYPES)}",
                            field="match_value")
    if key and kind != MatchKind.EVENT:
        raise RuleSpecError("an event key only applies to event rules", field="match_key")


def validate_replies(replies: Any, no_reply: bool = False) -> list[Reply]:
    """Validate a rule's reply list; return the built replies.

    A rule replies with one item (picked at random when there are several), or, with
    ``no_reply``, with nothing at all.
    """
    if replies in (None, ""):
        replies = []
    if not isinstance(replies, list):
        replies = [replies]
    if no_reply:
        if replies:
            raise RuleSpecError("a no-reply rule cannot also have replies", field="replies")
        return []
    if not replies:
        raise RuleSpecError("a rule needs at least one reply (or no_reply)", field="replies")
    built = []
    for number, item in enumerate(replies, 1):
        try:
            built.append(reply_from_dict(item))
        except ReplyError as err:
            prefix = f"reply {number}: " if len(replies) > 1 else ""
            raise RuleSpecError(prefix + str(err), field="replies") from err
    return built


@dataclass(frozen=True)
class FollowUp:
    """Rules that apply only to the user's next message after the owning rule replied."""

    rules: tuple[RuleSpec, ...]
    timeout: int | None = None  # None: the FOLLOW_UP_TIMEOUT setting
    retries: int = 0


@dataclass(frozen=True)
class RuleSpec:
    """One rule in the plain form the engine compiles.

    ``replies`` are validated ``Reply`` objects (one is picked at random); ``handler`` is set for
    rules written in Python (``(message, context) -> reply | None``; ``None`` passes on to the
    next rule, as in webot). ``predicate`` (``message -> bool``) is an extra condition of code
    rules; a code rule with ``kind=None`` has no indexed condition and is tried for every message
    (its predicate decides). ``id`` is the database id, when the rule comes from the database.
    """

    name: str
    kind: MatchKind | None
    value: str = ""
    key: str = ""
    flags: str = ""
    replies: tuple[Reply, ...] = ()
    no_reply: bool = False
    priority: int = 0
    position: int = 0
    follow_up: FollowUp | None = None
    handler: Callable | None = field(default=None, compare=False)
    predicate: Callable | None = field(default=None, compare=False)
    id: Any = None
