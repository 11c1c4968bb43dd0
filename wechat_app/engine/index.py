"""The compiled rule index of one account: finds the rules a message matches without scanning them.

Pure Python. Built once from ``RuleSpec``s (when an account's rules change) and then shared,
read-only, by every message:

* exact keywords: a dict from the folded text (``text.strip().casefold()``);
* contains keywords: all of them in one Aho-Corasick automaton (pyahocorasick) run over the folded
  text, so the cost depends on the text, not on the number of keywords;
* regexes: each regex's mandatory literal(s) go into a second automaton; a regex is only run when
  one of its literals occurs in the text; regexes without a literal are tried in groups, one RE2
  search of their alternation per group, and run one by one only when the group matches. The
  text is encoded to UTF-8 once per message for all of them;
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

from .regex import GATE_SIZE, MAX_REGEX_TEXT, RegexGate, RegexRefused, compile_stored, engine_name
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

    def compiled(self):
        if self._compiled is None and not self.broken:
            try:
                self._compiled = compile_stored(self.source, self.flags)
            except (re.error, RegexRefused) as err:  # validated on save; guard rows written around it
                logger.warning("Skipping rule with invalid or refused regex %r: %s", self.source, err)
                self.broken = True
        return self._compiled

    def search(self, text: str, encoded: bytes | None = None):
        compiled = self._compiled or self.compiled()
        return None if compiled is None else compiled.search(text, encoded)

    def captures(self, text: str, encoded: bytes | None = None) -> tuple[str, ...] | None:
        compiled = self._compiled or self.compiled()
        return None if compiled is None else compiled.captures(text, encoded)


def _regex_input(text: str) -> tuple[bool, bytes | None]:
    """Whether regexes can match ``text`` at all, and ``text`` in UTF-8 (encoded once per message)."""
    if len(text) > MAX_REGEX_TEXT:
        return False, None
    if engine_name() != "re2":
        return True, None
    try:
        return True, text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate cannot reach RE2 (UTF-8); it matches nothing
        return False, None


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
        self._always_gates: list[tuple[RegexGate | None, tuple[int, ...]]] = []
        self._regexes: dict[int, _Regex] = {}
        self._events: dict[tuple[str, str | None], list[int]] = {}
        self._types: dict[str, list[int]] = {}
        self._always: list[int] = []
        self._defaults: list[int] = []
        self._follow_up_indexes: dict[int, RuleIndex] = {}
        self._ranks_by_id: dict | None = None
        for rank, spec in enumerate(self.specs):
            self.by_name.setdefault(spec.name, spec)
            self._add(rank, spec)
        self._contains.build()
        self._regex_literals.build()
        self._gate_always()
        # Without follow-ups no stored rule can start a conversation: no user state to read.
        self.has_follow_ups = any(spec.follow_up is not None for spec in self.specs)

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

    def _gate_always(self) -> None:
        """Regexes without a literal run for every text: group them behind one RE2 search each
        ``GATE_SIZE`` (compiled now, with the index, not on the first message)."""
        if len(self._regex_always) < 2:
            self._always_gates = [(None, tuple(self._regex_always))] if self._regex_always else []
            return
        for start in range(0, len(self._regex_always), GATE_SIZE):
            ranks = tuple(self._regex_always[start:start + GATE_SIZE])
            compiled = [self._regexes[rank].compiled() for rank in ranks]
            gate = RegexGate.make(compiled) if None not in compiled else None
            self._always_gates.append((gate, ranks))

    # --- matching ------------------------------------------------------------------------------

    def _ranks(self, message, encoded: bytes | None, regex_ok: bool) -> set[int]:
        ranks: set[int] = set()
        text = message.text
        if text is not None:
            folded = fold(text)
            ranks.update(self._exact.get(folded, ()))
            self._contains.collect(folded, ranks)
            if self._regexes and regex_ok:
                self._regex_literals.collect(regex_fold(text), ranks)
                for gate, gated in self._always_gates:
                    if gate is None or encoded is None or gate.may_match(encoded):
                        ranks.update(gated)
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

    def _check(self, rank: int, message, encoded: bytes | None) -> Candidate | None:
        """The candidate of rule ``rank`` if its regex and predicate accept ``message``."""
        spec = self.specs[rank]
        captures: tuple[str, ...] = ()
        regex = self._regexes.get(rank)
        if regex is not None:
            captures = regex.captures(message.text, encoded)
            if captures is None:
                return None
        if spec.predicate is not None and not spec.predicate(message):
            return None
        return Candidate(spec, captures)

    def _defaults_for(self, message) -> Iterator[Candidate]:
        if message.type != "event":
            for rank in self._defaults:
                spec = self.specs[rank]
                if spec.predicate is None or spec.predicate(message):
                    yield Candidate(spec)

    def candidates(self, message) -> Iterator[Candidate]:
        """The rules ``message`` matches, best first (lazy: stop iterating once answered)."""
        regex_ok, encoded = _regex_input(message.text) if message.text is not None else (False, None)
        for rank in sorted(self._ranks(message, encoded, regex_ok)):
            candidate = self._check(rank, message, encoded)
            if candidate is not None:
                yield candidate
        yield from self._defaults_for(message)

    def named(self, name: str) -> RuleSpec | None:
        """The first rule (in precedence order) called ``name``."""
        return self.by_name.get(name)

    # --- incremental updates -------------------------------------------------------------------

    def patched(self, removed_ids, added_specs) -> RuleIndex:
        """A new index: this one without the rules whose ``id`` is in ``removed_ids``, plus
        ``added_specs`` (stored rules, each with an ``id``; a changed rule is removed and added).

        Built in the time the added rules take, whatever the size of this index, which is shared,
        not copied: the result matches exactly like ``RuleIndex`` of the same rules (candidates
        in the same order) provided every rule's ``position`` is its own (independent of the
        other rules'), as in the rules the Django layer loads.
        """
        return PatchedIndex(self, removed_ids, added_specs)

    def _rank_of_id(self) -> dict:
        if self._ranks_by_id is None:
            ranks: dict = {}
            for rank, spec in enumerate(self.specs):
                if spec.id is not None:
                    ranks.setdefault(spec.id, []).append(rank)
            self._ranks_by_id = ranks
        return self._ranks_by_id

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
            spec = index.named(name)
            if spec is None or (depth < len(path) - 1 and spec.follow_up is None):
                return None, None
        if spec is None or spec.follow_up is None:
            return None, None
        return spec, index.follow_up_index(spec)


class PatchedIndex(RuleIndex):
    """A ``RuleIndex`` with a few rules removed and a few added, sharing the large index it patches.

    ``base`` (a plain ``RuleIndex``, possibly of 100,000 rules) is not copied: the removed rules'
    ranks are skipped when ``base`` finds them, and the added rules form a small index of their
    own, ``overlay``; a message's candidates of both are merged in precedence order. Patching a
    patched index patches its base again (the overlay does not grow a chain).
    """

    def __init__(self, base: RuleIndex, removed_ids, added_specs):  # noqa: D107 - see the class
        added = list(added_specs)
        removed = set(removed_ids) | {spec.id for spec in added}
        if isinstance(base, PatchedIndex):
            removed_before = base.removed_ids
            added = [spec for spec in base.overlay.specs if spec.id not in removed] + added
            removed |= removed_before
            base = base.base
        self.base = base
        self.removed_ids = frozenset(removed)
        self.overlay = RuleIndex(added)
        by_id = base._rank_of_id()
        self._removed_ranks = frozenset(rank for spec_id in self.removed_ids for rank in by_id.get(spec_id, ()))
        self._follow_up_indexes = {}
        # Conservative: a removed rule of the base may have had the follow-ups.
        self.has_follow_ups = base.has_follow_ups or self.overlay.has_follow_ups
        defaults = [(_sort_key(base.specs[rank]), 0, rank) for rank in base._defaults
                    if rank not in self._removed_ranks]
        defaults += [(_sort_key(self.overlay.specs[rank]), 1, rank) for rank in self.overlay._defaults]
        self._merged_defaults = [(which, rank) for _key, which, rank in sorted(defaults)]

    def __len__(self):
        return len(self.base) - len(self._removed_ranks) + len(self.overlay)

    @property
    def specs(self) -> tuple[RuleSpec, ...]:  # every rule in precedence order (computed: rarely used)
        kept = [spec for rank, spec in enumerate(self.base.specs) if rank not in self._removed_ranks]
        return tuple(sorted([*kept, *self.overlay.specs], key=_sort_key))

    @property
    def by_name(self) -> dict[str, RuleSpec]:  # computed: rarely used, see ``named``
        return {spec.name: spec for spec in reversed(self.specs)}

    def named(self, name: str) -> RuleSpec | None:
        found = [spec for spec in (self.base.by_name.get(name), self.overlay.by_name.get(name))
                 if spec is not None]
        if found and found[0] is self.base.by_name.get(name) and found[0].id in self.removed_ids:
            # The base's first rule of that name is gone: another of the base may hold the name.
            found = [spec for rank, spec in enumerate(self.base.specs)
                     if spec.name == name and rank not in self._removed_ranks] + found[1:]
        return min(found, key=_sort_key) if found else None

    def candidates(self, message) -> Iterator[Candidate]:
        regex_ok, encoded = _regex_input(message.text) if message.text is not None else (False, None)
        base_ranks = self.base._ranks(message, encoded, regex_ok) - self._removed_ranks
        overlay_ranks = self.overlay._ranks(message, encoded, regex_ok)
        if overlay_ranks:
            base_specs, overlay_specs = self.base.specs, self.overlay.specs
            merged = sorted([(_sort_key(base_specs[rank]), 0, rank) for rank in base_ranks]
                            + [(_sort_key(overlay_specs[rank]), 1, rank) for rank in overlay_ranks])
            order = [(which, rank) for _key, which, rank in merged]
        else:
            order = [(0, rank) for rank in sorted(base_ranks)]
        indexes = (self.base, self.overlay)
        for which, rank in order:
            candidate = indexes[which]._check(rank, message, encoded)
            if candidate is not None:
                yield candidate
        if message.type != "event":
            for which, rank in self._merged_defaults:
                spec = indexes[which].specs[rank]
                if spec.predicate is None or spec.predicate(message):
                    yield Candidate(spec)
