"""Answering one message: hooks, follow-up conversations, then the rules in precedence order.

Pure Python; the Django layer (``services.rules.respond``) supplies the compiled index, the
state store (the cache) and the hooks. webot semantics
(https://github.com/node-webot/webot#readme):

1. ``before`` hooks run first; one returning a reply short-circuits the rules (beforeReply).
2. A pending follow-up (the user's state says "waiting on rule X") is tried first: X's follow-up
   rules are matched against the message. A match answers (and waits again if that follow-up has
   follow-ups of its own). No match: events leave the state alone and go on normally; a user
   message re-asks X's question while retries are left (one used per re-ask), otherwise the state
   is dropped and the message is processed normally. The state expires after the timeout.
3. Rules in precedence order (``RuleIndex.candidates``). A rule written in Python that returns
   None passes on to the next candidate; ``no_reply`` rules (and ``NO_REPLY``) match and answer
   nothing. A stored rule replies with one of its replies, picked at random, with regex captures
   filled into ``{1}``, ``{2}``… (``\\{1}`` stays ``{1}``).
4. ``after`` hooks may replace the reply (afterReply).

Exceptions raised by code rules and hooks propagate: the caller logs them.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ..protocol.replies import Reply, is_article_list, reply_from_dict
from .index import Candidate, RuleIndex
from .registry import NO_REPLY
from .spec import RuleSpec
from .state import StateStore
from .text import fill_reply

DEFAULT_FOLLOW_UP_TIMEOUT = 300


@dataclass
class EngineContext:
    """What handlers and hooks get besides the message; ``data`` is theirs to share per message.

    ``captures[0]`` is the whole regex match, ``captures[1]`` the first group… ``retries_left``
    is set while a follow-up conversation is pending.
    """

    account: Any = None
    account_name: str | None = None
    state_namespace: str = "live"
    rule: RuleSpec | None = None
    captures: tuple[str, ...] = ()
    retries_left: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class EngineResult:
    """The engine's answer: the rule that answered (None: no rule, or a before-hook), the reply
    (None: answer nothing), whether anything matched, the captures, and whether a follow-up
    conversation is pending for the user after this message."""

    rule: RuleSpec | None = None
    reply: Reply | None = None
    matched: bool = False
    captures: tuple[str, ...] = ()
    follow_up_pending: bool = False


def to_reply(value: Any, rng: random.Random | None = None) -> Reply | object | None:
    """Normalize what a handler or hook returned: None (pass on), ``NO_REPLY`` or a ``Reply``.

    A string is a text reply, a mapping a typed reply (without ``type``: a news article), a list
    of such articles a multi-article news reply, any other list a random pick (webot's array).
    Raises ``ReplyError`` for an invalid reply and ``TypeError`` for anything else.
    """
    if value is None or value is False or value == "" or value == [] or value == ():
        return None
    if value is NO_REPLY or isinstance(value, Reply):
        return value
    if isinstance(value, (str, dict)):
        return reply_from_dict(value)
    if isinstance(value, (list, tuple)):
        if is_article_list(value):
            return reply_from_dict(value)
        return to_reply((rng or random).choice(list(value)), rng)
    raise TypeError(f"a rule handler returned {type(value).__name__}; expected str, dict, Reply, list or None")


class Engine:
    """Answers messages against one compiled ``RuleIndex`` (one account's rules)."""

    def __init__(self, index: RuleIndex, *, store: StateStore, before: Iterable[Callable] = (),
                 after: Iterable[Callable] = (), default_timeout: int = DEFAULT_FOLLOW_UP_TIMEOUT,
                 rng: random.Random | None = None):
        self.index = index
        self.store = store
        self.before = tuple(before)
        self.after = tuple(after)
        self.default_timeout = default_timeout
        self.rng = rng or random.Random()

    def respond(self, message, *, state_key: str | None, context: EngineContext | None = None) -> EngineResult:
        """Answer ``message``; ``state_key`` identifies the user's follow-up state (None: none)."""
        context = context or EngineContext()
        result = self._before(message, context)
        if result is None:
            state = self.store.get(state_key) if state_key else None
            pending = False
            if state is not None:
                result, pending = self._follow_up(message, context, state_key, state)
            if result is None:
                result = self._rules(message, context, state_key, pending=pending)
        return self._after(message, context, result)

    # --- steps -------------------------------------------------------------------------------

    def _before(self, message, context):
        for hook in self.before:
            reply = to_reply(hook(message, context), self.rng)
            if reply is not None:
                return EngineResult(reply=None if reply is NO_REPLY else reply, matched=True)
        return None

    def _after(self, message, context, result):
        for hook in self.after:
            replacement = to_reply(hook(message, context, result.reply), self.rng)
            if replacement is not None:
                result.reply = None if replacement is NO_REPLY else replacement
        return result

    def _follow_up(self, message, context, state_key, state):
        """Try the pending conversation.

        Returns ``(result, still_pending)``; a None result means "process the message normally".
        """
        path = state.get("path") or []
        parent, follow_ups = self.index.resolve(path)
        if parent is None:  # the rule changed or went away meanwhile
            self.store.delete(state_key)
            return None, False
        retries = int(state.get("retries", 0))
        context.retries_left = retries
        result = self._answer(follow_ups.candidates(message), message, context)
        if result is not None:
            result.follow_up_pending = self._wait(result, state_key, path)
            if not result.follow_up_pending:
                self.store.delete(state_key)
            return result, result.follow_up_pending
        if message.type == "event":
            # An event (a menu click, a location report…) is not the answer: keep waiting.
            return None, True
        if retries > 0:
            state = dict(state, retries=retries - 1)
            self.store.set(state_key, state, self._timeout(parent))
            question = state.get("question")
            result = EngineResult(rule=parent, reply=reply_from_dict(question) if question else None,
                                  matched=True, follow_up_pending=True)
            return result, True
        self.store.delete(state_key)
        return None, False

    def _rules(self, message, context, state_key, pending):
        context.retries_left = None
        result = self._answer(self.index.candidates(message), message, context)
        if result is None:
            return EngineResult(follow_up_pending=pending)
        result.follow_up_pending = self._wait(result, state_key, []) or pending
        return result

    def _answer(self, candidates: Iterable[Candidate], message, context) -> EngineResult | None:
        for candidate in candidates:
            spec = candidate.spec
            context.rule, context.captures = spec, candidate.captures
            if spec.handler is not None:
                reply = to_reply(spec.handler(message, context), self.rng)
                if reply is None:
                    continue  # webot: a handler returning nothing passes on
                if reply is NO_REPLY:
                    reply = None
            elif spec.no_reply:
                reply = None
            elif spec.replies:
                reply = fill_reply(self.rng.choice(spec.replies), candidate.captures)
            else:  # an invalid stored rule (no replies): not an answer
                continue
            return EngineResult(rule=spec, reply=reply, matched=True, captures=candidate.captures)
        return None

    def _wait(self, result: EngineResult, state_key, parent_path) -> bool:
        """After a rule answered: start waiting on its follow-ups, if it has any and replied."""
        spec = result.rule
        if not state_key or spec is None or spec.follow_up is None or result.reply is None:
            return False
        state = {"path": [*parent_path, spec.name], "retries": spec.follow_up.retries,
                 "question": result.reply.to_dict()}
        self.store.set(state_key, state, self._timeout(spec))
        return True

    def _timeout(self, spec: RuleSpec) -> int:
        timeout = spec.follow_up.timeout if spec.follow_up else None
        return timeout if timeout else self.default_timeout
