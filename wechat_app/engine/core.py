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

Dynamic conversations (webot ``info.wait`` / ``rewait`` / ``resolve`` / ``skipReplies``): a handler
or hook calls ``context.wait(name_or_follow_ups)`` to send the user's next message to a wait rule
(``@wait_rule``) or to follow-ups given inline, ``context.rewait(reply)`` inside a pending
conversation to ask again (``context.rewait_count`` counts them), ``context.resolve()`` to end it,
and sets ``context.skip_replies`` to answer without starting the rule's own follow-ups. These take
effect once the message is answered; the state is the same follow-up state (one per user).

``context.session`` is the user's session dict (webot ``info.session``), loaded from the store
under ``session_key`` and written back (with ``session_ttl``) only when a handler changed it.

Exceptions raised by code rules and hooks propagate (and the session is not saved): the caller
logs them.
"""
from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping

from ..protocol.replies import Reply, is_article_list, reply_from_dict
from .index import Candidate, RuleIndex
from .registry import NO_REPLY
from .spec import FollowUp, RuleSpec, RuleSpecError
from .state import StateStore
from .text import fill_reply

DEFAULT_FOLLOW_UP_TIMEOUT = 300
DEFAULT_SESSION_TIMEOUT = 24 * 3600
INLINE_WAIT = "wait"  # the name of the rule holding follow-ups given inline to ``context.wait``


@dataclass
class EngineContext:
    """What handlers and hooks get besides the message; ``data`` is theirs to share per message.

    ``captures[0]`` is the whole regex match, ``captures[1]`` the first group… ``retries_left``
    and ``rewait_count`` (re-asks so far) are set while a follow-up conversation is pending.
    ``session`` is the user's session dict (empty without a session store).
    """

    account: Any = None
    account_name: str | None = None
    state_namespace: str = "live"
    rule: RuleSpec | None = None
    captures: tuple[str, ...] = ()
    retries_left: int | None = None
    rewait_count: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    session: dict[str, Any] = field(default_factory=dict)
    skip_replies: bool = False
    # webot ``info.ended``: set by a handler that returns nothing, no further rule is tried and the
    # message counts as unmatched (the account's "no rule matched" reply, if any, answers it).
    ended: bool = False
    # What the handlers asked for the conversation: ("wait", root, retries) | ("rewait", reply) |
    # ("resolve",); the last call wins. Set by ``Engine.respond``: the wait rules it knows.
    conversation_request: tuple | None = field(default=None, repr=False)
    wait_rules: Mapping[str, RuleSpec] = field(default_factory=dict, repr=False)

    def wait(self, target, *, timeout: int | None = None, retries: int = 0) -> None:
        """Send the user's next message to ``target`` (webot ``info.wait``).

        ``target`` is the name of a wait rule (``@wait_rule``) or the decorated function itself,
        or follow-ups given inline in the rule-file form (``{"/^y/i": "OK", ...}`` or a list of
        rules): plain data, since the state is kept in the cache for whichever process gets the
        next message. ``timeout`` (seconds) and ``retries`` work as for a rule's follow-ups.
        """
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError("retries must be a whole number >= 0")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0):
            raise ValueError("timeout must be a whole number of seconds > 0")
        name = getattr(target, "wait_rule_name", target)
        if isinstance(name, str):
            if name not in self.wait_rules:
                raise LookupError(f"no wait rule named {name!r} for this account; register it with @wait_rule")
            root = {"wait": name}
        elif callable(target):
            raise TypeError("context.wait() takes a wait rule's name: register the function with "
                            "@wait_rule(name) so that every process knows it")
        else:
            try:
                json.dumps(target)
            except (TypeError, ValueError):
                raise TypeError("follow-ups given inline to context.wait() must be plain data (texts, typed "
                                "replies); use a @wait_rule for a handler") from None
            _inline_follow_up(target)  # RuleSpecError now, not on the user's next message
            root = {"inline": target}
        if timeout:
            root["timeout"] = timeout
        self.conversation_request = ("wait", root, retries)

    def rewait(self, reply: Any = None) -> Any:
        """Inside a pending conversation: keep waiting and count one re-ask (webot ``info.rewait``).

        ``reply`` (optional) answers this message when the handler returns nothing, and becomes the
        question asked again on a later unmatched message. Returns ``reply``, so that
        ``return context.rewait("Too big, again?")`` reads naturally. Outside a conversation: no effect.
        """
        self.conversation_request = ("rewait", reply)
        return reply

    def resolve(self) -> None:
        """End the pending conversation (webot ``info.resolve``); a handler that then returns None
        lets the message go on to the ordinary rules."""
        self.conversation_request = ("resolve",)


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
                 rng: random.Random | None = None, wait_rules: Mapping[str, RuleSpec] | None = None,
                 session_timeout: int = DEFAULT_SESSION_TIMEOUT):
        self.index = index
        self.store = store
        self.before = tuple(before)
        self.after = tuple(after)
        self.default_timeout = default_timeout
        self.rng = rng or random.Random()
        self.wait_rules = dict(wait_rules or {})
        self.session_timeout = session_timeout

    def respond(self, message, *, state_key: str | None, context: EngineContext | None = None,
                session_key: str | None = None) -> EngineResult:
        """Answer ``message``; ``state_key`` identifies the user's follow-up state, ``session_key``
        the user's session (None: none, ``context.session`` is then a throw-away dict)."""
        context = context or EngineContext()
        context.wait_rules = self.wait_rules
        loaded = self.store.get(session_key) if session_key else None
        context.session = copy.deepcopy(loaded) if loaded else {}
        state = None
        result = self._before(message, context)
        if result is None:
            state = self.store.get(state_key) if state_key else None
            pending = False
            if state is not None:
                asked_before = context.conversation_request  # by a before hook
                result, pending = self._follow_up(message, context, state_key, state)
                if result is None:  # what the follow-up handlers asked does not carry over
                    context.conversation_request = asked_before
            if result is None:
                result = self._rules(message, context, state_key, pending=pending)
        result = self._after(message, context, result)
        self._start_requested_wait(context, result, state_key)
        if session_key and context.session != (loaded or {}):
            if context.session:
                self.store.set(session_key, context.session, self.session_timeout)
            else:
                self.store.delete(session_key)
        return result

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
        root = state.get("root")
        parent, follow_ups = self._root_index(root).resolve(path)
        if parent is None:  # the rule changed or went away meanwhile
            self.store.delete(state_key)
            return None, False
        retries = int(state.get("retries", 0))
        context.retries_left = retries
        context.rewait_count = int(state.get("rewaits", 0))
        result = self._answer(follow_ups.candidates(message), message, context)
        request = context.conversation_request or ("",)
        if request[0] == "resolve":
            self.store.delete(state_key)
            return result, False
        if request[0] == "rewait" and (result is not None or message.type != "event"):
            question = result.reply if result is not None else None
            state = dict(state, rewaits=context.rewait_count + 1,
                         question=question.to_dict() if question is not None else state.get("question"))
            self.store.set(state_key, state, self._timeout(parent))
            if result is None:  # re-asked without an answer of its own: ask the question again
                result = EngineResult(rule=parent, reply=reply_from_dict(state["question"])
                                      if state.get("question") else None, matched=True)
            result.follow_up_pending = True
            return result, True
        if result is not None:
            result.follow_up_pending = self._wait(result, state_key, path, root)
            if not result.follow_up_pending:
                self.store.delete(state_key)
            return result, result.follow_up_pending
        if message.type == "event":
            # An event (a menu click, a location report…) is not the answer: keep waiting.
            return None, True
        if retries > 0:
            state = dict(state, retries=retries - 1, rewaits=context.rewait_count + 1)
            self.store.set(state_key, state, self._timeout(parent))
            question = state.get("question")
            result = EngineResult(rule=parent, reply=reply_from_dict(question) if question else None,
                                  matched=True, follow_up_pending=True)
            return result, True
        self.store.delete(state_key)
        return None, False

    def _rules(self, message, context, state_key, pending):
        context.retries_left = None
        context.rewait_count = 0
        result = self._answer(self.index.candidates(message), message, context)
        if result is None:
            return EngineResult(follow_up_pending=pending)
        if not context.skip_replies:
            result.follow_up_pending = self._wait(result, state_key, []) or pending
        else:
            result.follow_up_pending = pending
        return result

    def _answer(self, candidates: Iterable[Candidate], message, context) -> EngineResult | None:
        for candidate in candidates:
            spec = candidate.spec
            context.rule, context.captures = spec, candidate.captures
            if spec.handler is not None:
                reply = to_reply(spec.handler(message, context), self.rng)
                request = context.conversation_request
                if reply is None and request and request[0] == "rewait" and request[1] is not None:
                    reply = to_reply(request[1], self.rng)  # context.rewait(text) without a return
                if reply is None:
                    if context.ended:
                        return EngineResult(rule=spec, matched=False, captures=candidate.captures)
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

    def _wait(self, result: EngineResult, state_key, parent_path, root=None) -> bool:
        """After a rule answered: start waiting on its follow-ups, if it has any and replied."""
        spec = result.rule
        if not state_key or spec is None or spec.follow_up is None or result.reply is None:
            return False
        state = {"path": [*parent_path, spec.name], "retries": spec.follow_up.retries,
                 "question": result.reply.to_dict()}
        if root is not None:
            state["root"] = root
        self.store.set(state_key, state, self._timeout(spec))
        return True

    def _start_requested_wait(self, context, result: EngineResult, state_key) -> None:
        """Apply ``context.wait(...)`` once the message is answered (it replaces any other wait)."""
        request = context.conversation_request
        if not state_key or not request or request[0] != "wait":
            return
        _, root, retries = request
        parent, _follow_ups = self._root_index(root).resolve([_root_name(root)])
        state = {"root": root, "path": [_root_name(root)], "retries": retries,
                 "question": result.reply.to_dict() if result.reply is not None else None}
        self.store.set(state_key, state, self._timeout(parent) if parent else self.default_timeout)
        result.follow_up_pending = True

    def _root_index(self, root) -> RuleIndex:
        """Where a conversation's path starts: the account's rules, or a wait rule / inline
        follow-ups held by a rule of their own (so that nesting, retries and timeouts work alike)."""
        if not root:
            return self.index
        timeout = root.get("timeout")
        if "wait" in root:
            spec = self.wait_rules.get(root["wait"])
            if spec is None:  # the wait rule is gone (code changed): no conversation
                return RuleIndex(())
            follow_up = FollowUp(rules=(spec,), timeout=timeout)
        else:
            try:
                follow_up = replace(_inline_follow_up(root.get("inline")), timeout=timeout)
            except RuleSpecError:
                return RuleIndex(())
        return RuleIndex([RuleSpec(name=_root_name(root), kind=None, follow_up=follow_up)])

    def _timeout(self, spec: RuleSpec) -> int:
        timeout = spec.follow_up.timeout if spec.follow_up else None
        return timeout if timeout else self.default_timeout


def _root_name(root) -> str:
    return root["wait"] if "wait" in root else INLINE_WAIT


def _inline_follow_up(data) -> FollowUp:
    from .dialect import parse_follow_ups  # the rule-file dialect

    return parse_follow_ups(data, parent=INLINE_WAIT)
