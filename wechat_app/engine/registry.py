"""Rules and hooks written in Python: a decorator registry (webot.set, beforeReply, afterReply).

A project that installs the app puts its code rules in a ``wechat_rules`` module of one of its
apps (imported at start-up) or in a module listed in ``WECHAT_APP['RULE_MODULES']``::

    from wechat_app.engine import rule, before_reply, after_reply, NO_REPLY

    @rule("weather", regex=r"^weather (\\w+)$", flags="i", priority=5)
    def weather(message, context):
        city = context.captures[1]
        return f"Sunny in {city}"          # str, dict (typed reply), Reply, list (random) …

    @rule("vip", predicate=lambda message: message.uid in VIPS, accounts=["shop"])
    def vip(message, context):
        return None                        # None passes on to the next rule, as in webot

    @before_reply
    def load_user(message, context):
        context.data["user"] = ...         # returning a reply here short-circuits the rules

    @after_reply
    def sign(message, context, reply):
        return None                        # or a replacement reply

A code rule matches like a stored rule (one of ``exact``, ``contains``, ``regex``, ``event``
(+``key``), ``type``, ``default``, or ``pattern``, a webot pattern string), optionally narrowed
by ``predicate(message) -> bool``. As in webot, a named rule with no condition matches its name
(``@rule("你好")`` answers messages containing 你好); ``always=True`` (or a predicate alone)
tries it for every message and its handler decides. Returning ``NO_REPLY`` stops processing
without answering (webot ``info.noReply``). ``registry.get(name)``, ``registry.delete(name)``
and ``registry.reset()`` are webot's ``get``, ``delete`` and ``reset``.

``@wait_rule("name")`` registers a rule that only runs when a handler sent the user's next
message to it with ``context.wait("name")`` (webot ``waitRule`` / ``info.wait``)::

    @wait_rule("wait_guess")
    def wait_guess(message, context):
        ...                                # context.rewait(text), context.resolve(), context.session
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable

from .spec import FollowUp, MatchKind, RuleSpec, RuleSpecError, validate_match
from .dialect import webot_pattern


class _NoReply:
    def __repr__(self):
        return "NO_REPLY"

    def __bool__(self):
        return True


NO_REPLY = _NoReply()
"""Return this from a handler or a hook to answer nothing and stop (webot noReply)."""


@dataclass(frozen=True)
class _Registered:
    spec: RuleSpec
    accounts: frozenset[str] | None

    def applies_to(self, account_name: str | None) -> bool:
        return self.accounts is None or account_name in self.accounts


def _accounts(accounts: Iterable[str] | None) -> frozenset[str] | None:
    if accounts is None:
        return None
    if isinstance(accounts, str):
        accounts = [accounts]
    return frozenset(accounts)


class RuleRegistry:
    """Code rules and reply hooks; ``version`` changes on every registration (index rebuild)."""

    def __init__(self):
        self._lock = threading.RLock()
        self._rules: list[_Registered] = []
        self._before: list[tuple[Callable, frozenset[str] | None]] = []
        self._after: list[tuple[Callable, frozenset[str] | None]] = []
        self._wait_rules: dict[str, _Registered] = {}
        self._sequence = 0
        self.version = 0

    # --- registration ------------------------------------------------------------------------

    def rule(self, name: str | None = None, *, exact: str | None = None, contains: str | None = None,
             regex: str | None = None, flags: str = "", event: str | None = None, key: str = "",
             type: str | None = None, default: bool = False, pattern: str | None = None,
             always: bool = False, predicate: Callable | None = None, priority: int = 0,
             accounts: Iterable[str] | None = None, follow_ups: Any = None):
        """Decorator registering ``handler(message, context)`` as a rule (see the module doc).

        ``pattern`` is a webot pattern string (``=text``, ``/re/flags``, ``Y``, ``N``, a regex
        when it has regex characters, else a keyword). With no condition at all (no match
        keyword, no ``predicate``, no ``always=True``) a rule given a name matches its name as
        a webot pattern (``webot.set('你好', fn)``); ``always=True`` (webot's null pattern), or
        no name at all, tries the rule for every message.
        """
        conditions = {
            MatchKind.EXACT: exact, MatchKind.CONTAINS: contains, MatchKind.REGEX: regex,
            MatchKind.EVENT: event, MatchKind.TYPE: type, MatchKind.DEFAULT: default or None,
        }
        given = [(kind, value) for kind, value in conditions.items() if value is not None]
        if pattern is not None:
            given.append(("pattern", pattern))
        if always:
            given.append(("always", True))
        if len(given) > 1:
            raise RuleSpecError(f"code rule {name!r}: give at most one of exact, contains, regex, event, "
                                f"type, default, pattern, always", rule=name)
        if not given and (key or flags):
            raise RuleSpecError(f"code rule {name!r}: key and flags need an event or regex condition", rule=name)
        name_is_pattern = not given and name is not None and predicate is None
        if name_is_pattern:
            given = [("pattern", name)]  # webot: the rule's name is its pattern
        kind, value = given[0] if given else (None, "")
        if kind == "always":
            kind, value = None, ""
        elif kind == "pattern":
            if not isinstance(value, str) or not value.strip():
                raise RuleSpecError(f"code rule {name!r}: pattern must be a non-empty string", rule=name)
            if flags:
                raise RuleSpecError(f"code rule {name!r}: give regex flags inside a pattern as /regex/flags",
                                    rule=name)
            kind, value, flags = webot_pattern(value)
            kind = MatchKind(kind)
        if kind == MatchKind.DEFAULT:
            value = ""
        if kind is not None:
            try:
                validate_match(kind, value, key, flags)
            except RuleSpecError as err:
                hint = (" (a rule with no condition matches its name, as in webot: give a condition, "
                        "or always=True to try it for every message)") if name_is_pattern else ""
                raise RuleSpecError(f"code rule {name!r}: {err}{hint}", field=err.field, rule=name) from err
        elif key or flags:
            raise RuleSpecError(f"code rule {name!r}: key and flags need an event or regex condition", rule=name)
        if predicate is not None and not callable(predicate):
            raise RuleSpecError(f"code rule {name!r}: predicate must be callable", rule=name)
        follow_up = _follow_up(name, follow_ups) if name else None

        def register(handler: Callable) -> Callable:
            rule_name = name or handler.__name__
            spec = RuleSpec(
                name=rule_name, kind=kind, value=value, key=key, flags=flags, priority=priority,
                follow_up=follow_up if name else _follow_up(rule_name, follow_ups), handler=handler,
                predicate=predicate,
            )
            self.add(spec, accounts=accounts)
            return handler

        return register

    def add(self, spec: RuleSpec, *, accounts: Iterable[str] | None = None) -> RuleSpec:
        """Register a ready ``RuleSpec`` (a rule of the same name is replaced in place)."""
        with self._lock:
            self._sequence += 1
            for number, existing in enumerate(self._rules):
                if existing.spec.name == spec.name:
                    spec = replace(spec, position=existing.spec.position)
                    self._rules[number] = _Registered(spec, _accounts(accounts))
                    break
            else:
                spec = replace(spec, position=self._sequence)
                self._rules.append(_Registered(spec, _accounts(accounts)))
            self.version += 1
        return spec

    def wait_rule(self, name: str, handler: Callable | None = None, *, accounts: Iterable[str] | None = None):
        """Register ``handler(message, context)`` as the wait rule ``name`` (webot ``waitRule``).

        A wait rule only runs for the user's next message after a handler called
        ``context.wait(name)``; it takes every message (its handler decides), and the wait ends
        once it answers, unless it calls ``context.rewait(...)``. Returning None without
        ``context.resolve()`` counts as no answer (re-ask while retries are left, else the
        ordinary rules answer). Usable as ``@wait_rule("name")`` or ``wait_rule("name", func)``.
        Wait rules are not part of the compiled index: registering one rebuilds nothing.
        """
        if not isinstance(name, str) or not name.strip():
            raise RuleSpecError("a wait rule needs a name", rule=name)

        def register(func: Callable) -> Callable:
            if not callable(func):
                raise RuleSpecError(f"wait rule {name!r}: the handler must be callable", rule=name)
            spec = RuleSpec(name=name, kind=None, handler=func)
            with self._lock:
                self._wait_rules[name] = _Registered(spec, _accounts(accounts))
            try:
                func.wait_rule_name = name  # so that ``context.wait(func)`` works too
            except AttributeError:  # a builtin or a bound method
                pass
            return func

        return register(handler) if handler is not None else register

    def before_reply(self, func: Callable | None = None, *, accounts: Iterable[str] | None = None):
        """Decorator: ``hook(message, context) -> reply | None`` runs before the rules."""
        def register(hook):
            with self._lock:
                self._before.append((hook, _accounts(accounts)))
                self.version += 1
            return hook
        return register(func) if func is not None else register

    def after_reply(self, func: Callable | None = None, *, accounts: Iterable[str] | None = None):
        """Decorator: ``hook(message, context, reply) -> reply | None`` may replace the reply."""
        def register(hook):
            with self._lock:
                self._after.append((hook, _accounts(accounts)))
                self.version += 1
            return hook
        return register(func) if func is not None else register

    def get(self, name: str) -> RuleSpec | None:
        """The code rule registered under ``name`` (webot.get), or None."""
        return next((r.spec for r in self._rules if r.spec.name == name), None)

    def delete(self, name: str) -> bool:
        """Unregister the code rule ``name`` (webot.delete); False if there was none."""
        with self._lock:
            kept = [r for r in self._rules if r.spec.name != name]
            found = len(kept) != len(self._rules)
            self._rules = kept
            self.version += 1
        return found

    remove = delete

    def reset(self) -> None:
        """Unregister every code rule, wait rule and hook (webot.reset), e.g. before loading them again."""
        with self._lock:
            self._rules, self._before, self._after = [], [], []
            self._wait_rules = {}
            self.version += 1

    @contextlib.contextmanager
    def isolated(self):
        """Restore the registrations on exit (tests that register rules on the shared registry)."""
        with self._lock:
            saved = (list(self._rules), list(self._before), list(self._after), self._sequence)
            saved_waits = dict(self._wait_rules)
        try:
            yield self
        finally:
            with self._lock:
                self._rules, self._before, self._after, self._sequence = (list(x) if isinstance(x, list) else x
                                                                          for x in saved)
                self._wait_rules = saved_waits
                self.version += 1

    # --- lookup ------------------------------------------------------------------------------

    def rules_for(self, account_name: str | None = None) -> list[RuleSpec]:
        return [r.spec for r in self._rules if r.applies_to(account_name)]

    def wait_rules_for(self, account_name: str | None = None) -> dict[str, RuleSpec]:
        """The wait rules that apply to the account, by name."""
        return {name: r.spec for name, r in self._wait_rules.items() if r.applies_to(account_name)}

    def before_hooks(self, account_name: str | None = None) -> list[Callable]:
        return [hook for hook, accounts in self._before if accounts is None or account_name in accounts]

    def after_hooks(self, account_name: str | None = None) -> list[Callable]:
        return [hook for hook, accounts in self._after if accounts is None or account_name in accounts]


def _follow_up(name, follow_ups) -> FollowUp | None:
    if follow_ups is None or isinstance(follow_ups, FollowUp):
        return follow_ups
    from .dialect import parse_follow_ups  # the rule-file dialect, also for code rules

    return parse_follow_ups(follow_ups, parent=name)


registry = RuleRegistry()
"""The registry ``@rule``, ``@before_reply`` and ``@after_reply`` register into."""

def warm(accounts=None, *, wait: bool = False):
    """Build the compiled rule indexes of ``accounts`` (default: every enabled account) now, in a
    background thread (returned) unless ``wait``, so that no message waits for a build.

    Call it when a worker starts, e.g. at the end of the project's wsgi.py::

        application = get_wsgi_application()
        from wechat_app.engine.registry import warm
        warm()

    or from gunicorn's ``post_fork(server, worker)`` hook. Needs Django set up (the engine itself
    stays free of Django: the work is ``wechat_app.services.rule_index.warm``).
    """
    from ..services.rule_index import warm as warm_indexes

    return warm_indexes(accounts, wait=wait)


def warm_before_fork(accounts=None) -> None:
    """Build the indexes now, synchronously, in a process that then forks its workers
    (``gunicorn --preload``), and close its connections so that no worker inherits them."""
    from ..services.rule_index import warm_before_fork as warm_indexes

    warm_indexes(accounts)


rule = registry.rule
before_reply = registry.before_reply
wait_rule = registry.wait_rule
after_reply = registry.after_reply
