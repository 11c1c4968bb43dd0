"""Rule specifications: the plain-data form of a rule that the engine compiles, and its validation.

Pure Python (no Django): the models, the rule-file dialect, the admin and the API all validate
through ``validate_match`` and ``validate_replies`` so that a rule is judged the same everywhere.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field, fields, is_dataclass
from urllib.parse import urlsplit
from typing import Any, Callable

from ..protocol.replies import Reply, ReplyError, is_article_list, reply_from_dict
from .regex import RegexRefused, StoredRegex, compile_stored

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


def compile_regex(pattern: str, flags: str = "") -> StoredRegex:
    """Compile a regex rule as the engine runs it (``engine.regex``); ``RuleSpecError`` says why not."""
    try:
        return compile_stored(pattern, regex_flags(flags))
    except re.error as err:
        raise RuleSpecError(f"invalid regular expression {pattern!r}: {err}", field="match_value") from err
    except RegexRefused as err:
        raise RuleSpecError(f"regular expression {pattern!r} is refused: {err}. Regex rules run on a "
                            "linear-time engine so that no pattern can stall the callback",
                            field="match_value") from err


def validate_match(kind: str, value: str, key: str = "", flags: str = "") -> None:
    """Raise ``RuleSpecError`` unless the match condition is usable."""
    try:
        kind = MatchKind(kind)
    except ValueError:
        raise RuleSpecError(f"unknown match kind {kind!r}", field="match_kind") from None
    if kind in (MatchKind.EXACT, MatchKind.CONTAINS, MatchKind.REGEX, MatchKind.EVENT, MatchKind.TYPE):
        if not value or not value.strip():
            raise RuleSpecError(f"a {kind.value} rule needs a match value", field="match_value")
    for what, text in (("match_value", value), ("match_key", key), ("match_flags", flags)):
        if "\x00" in (text or ""):  # no message carries one, and PostgreSQL cannot store it
            raise RuleSpecError("the match condition contains a NUL character", field=what)
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
    if not isinstance(replies, list) or is_article_list(replies):
        replies = [replies]  # one reply (a list of articles is one multi-article news reply)
    if no_reply:
        if replies:
            raise RuleSpecError("a no-reply rule cannot also have replies", field="replies")
        return []
    if not replies:
        raise RuleSpecError("a rule needs at least one reply (or no_reply)", field="replies")
    built = []
    for number, item in enumerate(replies, 1):
        try:
            reply = reply_from_dict(item)
            _check_stored_values(reply, f"{reply.type} reply")
        except ReplyError as err:
            prefix = f"reply {number}: " if len(replies) > 1 else ""
            raise RuleSpecError(prefix + str(err), field="replies") from err
        built.append(reply)
    return built


# Characters XML cannot carry (NUL included, which PostgreSQL cannot store either): a stored
# reply is refused when written, rather than silently losing them when it is sent.
_INVALID_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Reply fields holding links the user's WeChat (and the admin) opens.
URL_FIELDS = frozenset({"url", "pic_url", "music_url", "hq_music_url"})


def _check_stored_values(reply, what: str) -> None:
    """Refuse unsendable characters and non-http(s) links (``javascript:``...) in a stored reply."""
    for f in fields(reply):
        value = getattr(reply, f.name)
        if isinstance(value, list):
            for number, item in enumerate(value, 1):
                if is_dataclass(item):
                    _check_stored_values(item, f"{what} {f.name[:-1] if f.name.endswith('s') else f.name} {number}")
            continue
        if not isinstance(value, str):
            continue
        bad = _INVALID_TEXT.search(value)
        if bad:
            raise ReplyError(f"{what}: {f.name} contains the character U+{ord(bad.group()):04X}, which a reply "
                             "cannot carry")
        if f.name in URL_FIELDS and value and not _is_web_url(value):
            raise ReplyError(f"{what}: {f.name} must be an http:// or https:// address")


def _is_web_url(value: str) -> bool:
    # Browsers ignore tabs and newlines inside a scheme ("java\tscript:"): refuse any such character.
    if not value.isprintable() or any(char.isspace() for char in value):
        return False
    parts = urlsplit(value)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


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
