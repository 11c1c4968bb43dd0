"""The compiled rule index of one account: finds the rules a message matches without scanning them.

Pure Python. Built once from ``RuleSpec``s (when an account's rules change) and then shared,
read-only, by every message:

* exact keywords: a dict from the folded text (``text.strip().casefold()``);
* contains keywords: all of them in one Aho-Corasick automaton (pyahocorasick) run over the folded
  text, so the cost depends on the text, not on the number of keywords;
* regexes: each regex's mandatory literal(s) go into a second automaton; a regex is only run when
  one of its literals occurs in the text (regexes without a literal are always run, lazily);
* events: a dict from (folded event name, key); a key-less event rule matches any key;
* message types: a dict from the type; default rules: a list tried last, for user messages only.

``candidates(message)`` yields the matching rules in precedence order: higher ``priority`` first,
then ``position`` (definition order); at equal priority stored rules come before rules written
in Python; default rules last. Regexes and predicates are evaluated lazily, in that order, so a
handler that passes (returns None) costs nothing for the rules behind it that are never reached.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Iterator

import ahocorasick

from .regex import RegexRefused, compile_stored
from .spec import MatchKind, RuleSpec, regex_flags
from .text import fold, regex_fold, required_literals

logger = logging.getLogger(__name__)

SUBSCRIBE = "subscribe"
QRSCENE_PREFIX = "qrscene_"
SCAN = "scan"


@dataclass(frozen=True)
class Candidate:
    """A rule that matches a message; ``captures[0]`` is the whole regex match, then the groups."""

    spec: RuleSpec
    captures: tuple[str, ...] = ()


class _Regex:
    """A regex rule's pattern, compiled on first use (most regexes are never reached).

    Compiled by ``engine.regex`` (RE2: linear time; texts over ``MAX_REGEX_TEXT`` are not tried).
    """

    __slots__ = ("source", "flags", "_compiled", "broken")

    def __init__(self, source: str, flags: int):
        self.source = source
        self.flags = flags
        self._compiled = None
        self.broken = False

    def search(self, text: str):
        if self._compiled is None:
            if self.broken:
                return None
            try:
                self._compiled = compile_stored(self.source, self.flags)
            except (re.error, RegexRefused) as err:  # validated on save; guard rows written around it
                logger.warning("Skipping rule with invalid or refused regex %r: %s", self.source, err)
                self.broken = True
                return None
        return self._compiled.search(text)


class _Automaton:
    """Keyword -> ranks, matched over a text with pyahocorasick (empty-safe)."""

    def __init__(self):
        self._words: dict[str, list[int]] = {}
        self._automaton = None

    def add(self, word: str, rank: int) -> None:
        self._words.setdefault(word, []).append(rank)

    def build(self) -> None:
        if not self._words:
            return
        automaton = ahocorasick.Automaton()
        for word, ranks in self._words.items():
            automaton.add_word(word, tuple(ranks))
        automaton.make_automaton()
        self._automaton = automaton
        self._words = {}

    def __bool__(self):
        return self._automaton is not None

    def collect(self, text: str, into: set[int]) -> None:
        if self._automaton is not None:
            for _end, ranks in self._automaton.iter(text):
                into.update(ranks)


def _sort_key(spec: RuleSpec):
    # Stored rules before code rules at equal priority, then definition order.
    return (-spec.priority, spec.handler is not None, spec.position)


class RuleIndex:
    """An immutable, compiled set of rules (one account's, or one rule's follow-ups)."""

    def __init__(self, specs):
        self.specs: tuple[RuleSpec, ...] = tuple(sorted(specs, key=_sort_key))
        self.by_name: dict[str, RuleSpec] = {}
        self._exact: dict[str, list[int]] = {}
        self._contains = _Automaton()
        self._regex_literals = _Automaton()
        self._regex_always: list[int] = []
        self._regexes: dict[int, _Regex] = {}
        self._events: dict[tuple[str, str | None], list[int]] = {}
        self._types: dict[str, list[int]] = {}
        self._always: list[int] = []
        self._defaults: list[int] = []
        self._follow_up_indexes: dict[int, RuleIndex] = {}
        for rank, spec in enumerate(self.specs):
            self.by_name.setdefault(spec.name, spec)
            self._add(rank, spec)
        self._contains.build()
        self._regex_literals.build()

    def __len__(self):
        return len(self.specs)

    def _add(self, rank: int, spec: RuleSpec) -> None:
        kind = spec.kind
        if kind is None:
            self._always.append(rank)
        elif kind == MatchKind.EXACT:
            self._exact.setdefault(fold(spec.value), []).append(rank)
        elif kind == MatchKind.CONTAINS:
            self._contains.add(fold(spec.value), rank)
        elif kind == MatchKind.REGEX:
            flags = regex_flags(spec.flags)
            try:
                literals = required_literals(spec.value, flags)
            except re.error as err:
                logger.warning("Skipping rule %r with invalid regex: %s", spec.name, err)
                return
            self._regexes[rank] = _Regex(spec.value, flags)
            if literals is None:
                self._regex_always.append(rank)
            else:
                for literal in literals:
                    self._regex_literals.add(literal, rank)
        elif kind == MatchKind.EVENT:
            key = spec.key.strip() or None
            self._events.setdefault((spec.value.strip().casefold(), key), []).append(rank)
        elif kind == MatchKind.TYPE:
            self._types.setdefault(spec.value.strip().lower(), []).append(rank)
        elif kind == MatchKind.DEFAULT:
            self._defaults.append(rank)
        else:  # pragma: no cover - MatchKind is closed
            raise ValueError(f"unknown match kind {kind!r}")

    # --- matching ------------------------------------------------------------------------------

    def _ranks(self, message) -> set[int]:
        ranks: set[int] = set()
        text = message.text
        if text is not None:
            folded = fold(text)
            ranks.update(self._exact.get(folded, ()))
            self._contains.collect(folded, ranks)
            if self._regexes:
                self._regex_literals.collect(regex_fold(text), ranks)
                ranks.update(self._regex_always)
        if message.type == "event":
            event = (message.event or "").strip().casefold()
            key = (message.event_key or "").strip()
            ranks.update(self._events.get((event, None), ()))
            if key:
                ranks.update(self._events.get((event, key), ()))
            if event == SUBSCRIBE:
                # A subscribe through a QR code carries "qrscene_<scene>": a rule keyed on the
                # bare scene matches too.
                scene = message.param.get("scene") or (
                    key[len(QRSCENE_PREFIX):] if key.startswith(QRSCENE_PREFIX) else "")
                if scene and scene != key:
                    ranks.update(self._events.get((event, scene), ()))
                # ... and so does a rule for SCAN with that scene (a QR code's linked rule answers
                # both the follower who scans it and the new one who subscribes through it).
                if scene:
                    ranks.update(self._events.get((SCAN, scene), ()))
        else:
            ranks.update(self._types.get(message.type, ()))
        ranks.update(self._always)
        return ranks

    def candidates(self, message) -> Iterator[Candidate]:
        """The rules ``message`` matches, best first (lazy: stop iterating once answered)."""
        for rank in sorted(self._ranks(message)):
            spec = self.specs[rank]
            captures: tuple[str, ...] = ()
            regex = self._regexes.get(rank)
            if regex is not None:
                match = regex.search(message.text)
                if match is None:
                    continue
                captures = (match.group(0), *(group or "" for group in match.groups()))
            if spec.predicate is not None and not spec.predicate(message):
                continue
            yield Candidate(spec, captures)
        if message.type != "event":
            for rank in self._defaults:
                spec = self.specs[rank]
                if spec.predicate is None or spec.predicate(message):
                    yield Candidate(spec)

    # --- follow-ups ----------------------------------------------------------------------------

    def follow_up_index(self, spec: RuleSpec) -> RuleIndex:
        """The compiled follow-up rules of ``spec`` (built on first use, then kept)."""
        index = self._follow_up_indexes.get(id(spec))
        if index is None:
            rules = spec.follow_up.rules if spec.follow_up else ()
            index = self._follow_up_indexes[id(spec)] = RuleIndex(rules)
        return index

    def resolve(self, path) -> tuple[RuleSpec | None, RuleIndex | None]:
        """The rule at ``path`` (a top-level name, then follow-up names) and its follow-up index.

        ``(None, None)`` when the rule is gone or no longer has follow-ups (rules changed while a
        conversation was pending).
        """
        index, spec = self, None
        for depth, name in enumerate(path or ()):
            if depth:
                index = index.follow_up_index(spec)
            spec = index.by_name.get(name)
            if spec is None or (depth < len(path) - 1 and spec.follow_up is None):
                return None, None
        if spec is None or spec.follow_up is None:
            return None, None
        return spec, index.follow_up_index(spec)
