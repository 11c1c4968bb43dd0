"""Rules in the database wired to the reply engine: compiled-index cache, respond, import/export.

Shared by the callback, the admin (rule tester), the REST API and ``manage.py wechat_rules``.

Index cache (``rule_index``: built off the request path, refreshed incrementally): each process
keeps one compiled ``RuleIndex`` per account, tagged with the
account's *rules version*. The version lives in the database: ``Account.rules_revision``, bumped
(F() + 1) in the same transaction as the change, so a rolled-back change (an import preview)
bumps nothing. A random stamp in the Django cache, replaced when the change commits, is the fast
path that tells every process at once: answering a message costs one cache round trip (the stamp
and the user's follow-up state are read together) and no database query while nothing changed.
A missed stamp (the cache was down when the change was saved) heals through the database: the
callback re-reads its account every ``RECHECK_INTERVAL`` seconds, and an index older than the
account's ``rules_revision`` is rebuilt. Saving or deleting a rule or an account calls
``bump_rules_version`` (``receivers``); so must code that changes rules with ``QuerySet.update()``.

Follow-up state lives in the same cache, per account, user and *namespace* (the admin simulator
uses its own, so testing never disturbs live conversations), with the follow-up timeout as TTL.
So does each user's session dict (``context.session``), with ``SESSION_TIMEOUT`` as TTL, written
only when a handler changed it.
"""
from __future__ import annotations

import hashlib
import logging
import random
import re
import uuid
from typing import Any

from django.core.cache import caches
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from .. import signals
from ..conf import app_settings
from ..engine import Engine, EngineContext, EngineResult, RuleIndex, registry
from ..engine.dialect import FileLimits, RuleDef, dump_rules, parse_rules, rule_warnings
from ..engine.spec import MatchKind, RuleSpecError
from ..models import Account, Rule
from ..protocol.replies import ReplyError, reply_from_dict
from . import rule_index
from .cachebatch import UNAVAILABLE, FailSafeCache

logger = logging.getLogger(__name__)

_SAFE_KEY_PART = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_rng = random.Random()

# The compiled indexes: built and refreshed by ``rule_index`` (off the request path when large).
_indexes = rule_index._indexes
clear_local_indexes = rule_index.clear_local_indexes


def _cache():
    return caches[app_settings.CACHE_ALIAS]


def version_key(account_id) -> str:
    return f"{app_settings.CACHE_PREFIX}:rules-version:{account_id}"


def _user_part(uid: str) -> str:
    # User ids that are not key-safe are hashed.
    return uid if _SAFE_KEY_PART.match(uid or "") else hashlib.sha256((uid or "").encode()).hexdigest()


def state_key(account_id, uid: str, namespace: str = "live") -> str:
    """The cache key of one user's follow-up state."""
    return f"{app_settings.CACHE_PREFIX}:follow-up:{namespace}:{account_id}:{_user_part(uid)}"


def session_key(account_id, uid: str, namespace: str = "live") -> str:
    """The cache key of one user's session dict (``context.session``)."""
    return f"{app_settings.CACHE_PREFIX}:session:{namespace}:{account_id}:{_user_part(uid)}"


def get_session(account: Account, uid: str, namespace: str = "live") -> dict[str, Any]:
    """A user's session dict as handlers see it ({} when none or the cache is unavailable)."""
    value = FailSafeCache(_cache()).get(session_key(account.pk, uid, namespace))
    return dict(value) if isinstance(value, dict) else {}


def reset_conversation(account: Account, uid: str, namespace: str = "live") -> None:
    """Forget a user's pending follow-up conversation and session."""
    cache = FailSafeCache(_cache())
    cache.delete(state_key(account.pk, uid, namespace))
    cache.delete(session_key(account.pk, uid, namespace))


# --- versions --------------------------------------------------------------------------------

def bump_rules_version(account_id) -> None:
    """Mark ``account_id``'s compiled rules stale in every process, and send ``rules_changed``.

    Part of the caller's transaction: the database revision is bumped in it (a rollback undoes
    it), the cache stamp and the signal follow only once it commits (at once in autocommit).
    This process marks its own index stale at once, so that it sees its own change (at once for
    a small account, once the background refresh completes for a large one).
    """
    Account.objects.filter(pk=account_id).update(rules_revision=F("rules_revision") + 1)
    rule_index.mark_stale(account_id)

    def announce():
        rule_index.mark_stale(account_id)  # also after the commit: a refresh may have read before it
        FailSafeCache(_cache()).set(version_key(account_id), uuid.uuid4().hex, None)
        signals.rules_changed.send(sender=Rule, account_id=account_id)

    transaction.on_commit(announce)


def _current_stamp(account_id):
    """The account's cache stamp (made up when missing), or ``UNAVAILABLE`` if the cache fails."""
    cache = FailSafeCache(_cache())
    stamp = cache.get(version_key(account_id))
    if stamp is None:
        # First use, or the cache was flushed: agree on one stamp across processes.
        candidate = uuid.uuid4().hex
        added = cache.add(version_key(account_id), candidate, None)
        if added is UNAVAILABLE or added:
            return candidate if added else UNAVAILABLE
        stamp = cache.get(version_key(account_id))
        if stamp is None:
            stamp = candidate
    return stamp


# --- rows <-> definitions ----------------------------------------------------------------------

def _def_from_row(row: Rule) -> RuleDef:
    return RuleDef(
        name=row.name, kind=MatchKind(row.match_kind), value=row.match_value, key=row.match_key,
        flags=row.match_flags, replies=list(row.replies or []), no_reply=row.no_reply,
        priority=row.priority, enabled=row.enabled, description=row.description,
        follow_up_timeout=row.follow_up_timeout, follow_up_retries=row.follow_up_retries, id=row.pk,
    )


def rule_defs(account: Account, *, enabled_only: bool = False) -> list[RuleDef]:
    """The account's rules in definition order, follow-ups nested under their parent.

    The tree is built level by level from the top-level rules, at most ``RULE_MAX_DEPTH`` levels
    deep: rows in a parent cycle or deeper than that (saved before those were refused) are left
    out with a warning, so exports and index builds never recurse without bound.
    """
    rows = Rule.objects.filter(account=account)
    if enabled_only:
        rows = rows.filter(enabled=True)
    defs: dict[Any, RuleDef] = {}
    children: dict[Any, list[Any]] = {}
    top_ids = []
    for row in rows.order_by("position", "id"):
        defs[row.pk] = _def_from_row(row)
        if row.parent_id is None:
            top_ids.append(row.pk)
        else:
            children.setdefault(row.parent_id, []).append(row.pk)
    level, depth, placed = top_ids, 1, len(top_ids)
    while level:
        # A disabled parent (not in ``defs``) hides its follow-ups.
        below = [child for pk in level for child in children.get(pk, ())]
        if below and depth >= app_settings.RULE_MAX_DEPTH:
            logger.warning("Ignoring follow-up rules of account %s nested deeper than RULE_MAX_DEPTH (%d)",
                           account.pk, app_settings.RULE_MAX_DEPTH)
            break
        for pk in level:
            defs[pk].follow_ups.extend(defs[child] for child in children.get(pk, ()))
        placed += len(below)
        level, depth = below, depth + 1
    else:
        if not enabled_only and placed < len(defs):
            logger.warning("Ignoring %d rule(s) of account %s that are in a parent cycle",
                           len(defs) - placed, account.pk)
    return [defs[pk] for pk in top_ids]


def rule_specs(account: Account) -> list:
    """The enabled stored rules as engine ``RuleSpec``s (invalid rows are logged and skipped)."""
    specs = []
    for position, definition in enumerate(rule_defs(account, enabled_only=True), 1):
        try:
            specs.append(definition.to_spec(position))
        except (ReplyError, RuleSpecError, ValueError) as err:
            logger.warning("Skipping invalid rule %r of account %s: %s", definition.name, account.pk, err)
    return specs


# --- the compiled index -------------------------------------------------------------------------

def get_index(account: Account, stamp=None) -> RuleIndex:
    """The compiled index of the account's rules and code rules (``rule_index.get_index``).

    ``stamp`` is the account's cache stamp when the caller read it already (``UNAVAILABLE``: the
    cache is down, so only the database revision on ``account`` can tell the index is stale).
    """
    if stamp is None:
        stamp = _current_stamp(account.pk)
    return rule_index.get_index(account, stamp)


class CacheStateStore:
    """The engine's ``StateStore`` on the Django cache.

    A prefetched value saves the read's round trip; with a ``CacheBatch`` the writes are queued
    there and go out with the caller's next round trip.
    """

    def __init__(self, cache, prefetched: dict[str, Any] | None = None, batch=None):
        self.cache = cache
        self.prefetched = dict(prefetched or {})
        self.batch = batch

    def get(self, key):
        if key in self.prefetched:
            value = self.prefetched.pop(key)  # UNAVAILABLE (the cache failed) reads as no state
        else:
            value = self.cache.get(key)
        return dict(value) if isinstance(value, dict) else None

    def set(self, key, value, ttl):
        self.prefetched.pop(key, None)
        (self.cache if self.batch is None else self.batch).set(key, dict(value), ttl)

    def delete(self, key):
        self.prefetched.pop(key, None)
        (self.cache if self.batch is None else self.batch).delete(key)


class ReadOnlyStateStore(CacheStateStore):
    """A ``CacheStateStore`` that reads the stored state and keeps its writes to itself: a dry
    run (the REST API's rule test) answers as the callback would, and changes no conversation."""

    def __init__(self, cache, prefetched=None):
        super().__init__(cache, prefetched)
        self.overlay: dict[str, Any] = {}

    def get(self, key):
        if key in self.overlay:
            value = self.overlay[key]
            return dict(value) if value is not None else None
        return super().get(key)

    def set(self, key, value, ttl):
        self.overlay[key] = dict(value)

    def delete(self, key):
        self.overlay[key] = None


def respond(account: Account, message, *, state_namespace: str = "live", prefetched: dict | None = None,
            batch=None, read_only: bool = False) -> EngineResult:
    """Run the reply engine for ``message`` on ``account``'s rules.

    Returns the ``EngineResult`` (``reply`` None: answer nothing). Exceptions raised by code
    rules and hooks propagate; the caller logs them. ``state_namespace`` keeps follow-up
    conversations apart (the admin simulator uses its own).

    The callback saves round trips with the last two arguments: ``prefetched`` holds the values
    of ``version_key(account.pk)``, ``state_key(...)`` and ``session_key(...)`` that it already
    read (None: absent; keys it lacks are read here), and with a ``CacheBatch`` as ``batch`` the
    follow-up state and session writes are queued there for the caller to execute.

    A session read while the cache is unavailable is an empty dict that is not written back, so
    that it cannot overwrite the stored one. With ``read_only`` the user's follow-up state and
    session are read but never written (``ReadOnlyStateStore``).
    """
    cache = FailSafeCache(_cache())  # a failing cache costs the follow-up state, never the reply
    keys = vkey, skey, sess_key = (version_key(account.pk), state_key(account.pk, message.uid, state_namespace),
                                   session_key(account.pk, message.uid, state_namespace))
    values = dict(prefetched or {})
    missing = [key for key in keys if key not in values]
    if missing:
        fetched = cache.get_many(missing)
        values.update({key: UNAVAILABLE for key in missing} if fetched is UNAVAILABLE else
                      {key: fetched.get(key) for key in missing})
    index = get_index(account, values.get(vkey))
    state_values = {skey: values.get(skey), sess_key: values.get(sess_key)}
    engine = Engine(
        index,
        store=(ReadOnlyStateStore(cache, prefetched=state_values) if read_only
               else CacheStateStore(cache, prefetched=state_values, batch=batch)),
        before=registry.before_hooks(account.name),
        after=registry.after_hooks(account.name),
        default_timeout=app_settings.FOLLOW_UP_TIMEOUT,
        rng=_rng,
        wait_rules=registry.wait_rules_for(account.name),
        session_timeout=app_settings.SESSION_TIMEOUT,
    )
    context = EngineContext(account=account, account_name=account.name, state_namespace=state_namespace)
    return engine.respond(message, state_key=skey, context=context,
                          session_key=None if values.get(sess_key) is UNAVAILABLE else sess_key)


def error_reply(account: Account, message, *, failed: bool):
    """The account's configured answer (webot ``codeReplies``) to a user message that no rule
    matched (``failed`` False) or whose rules raised (``failed`` True); None: answer nothing.

    Events never get one (an unsubscribe or a menu link cannot be answered with "Sorry?").
    """
    text = account.error_reply if failed else account.no_match_reply
    if not text or message.type == "event":
        return None
    return reply_from_dict(text)


def outcome(account: Account, message, result: EngineResult | None, *, failed: bool = False):
    """``(reply, status)`` of a message once the engine answered (``result``) or raised
    (``failed``): what the callback logs and answers (the account's error replies included).
    ``status`` is a ``MessageLog.Status`` value; ``reply`` None: answer nothing."""
    from ..models import MessageLog

    if failed or result is None:
        return error_reply(account, message, failed=True), MessageLog.Status.ERROR
    if result.reply is not None:
        return result.reply, MessageLog.Status.REPLIED
    if result.matched:
        return None, MessageLog.Status.NO_REPLY
    return error_reply(account, message, failed=False), MessageLog.Status.UNMATCHED


def try_message(account: Account, message) -> dict[str, Any]:
    """Answer ``message`` as the callback would, as a dry run: nothing is sent or logged and the
    user's follow-up state and session are read but not changed (the REST API's rule test).

    Returns ``matched``, ``rule`` ({id, name} or None), ``status`` (what the log would record),
    ``reply`` (typed dict or None), ``xml`` (the plaintext reply XML, "" for none),
    ``follow_up_pending``, ``error`` and ``message`` (normalized).
    """
    from ..protocol import render_reply

    result, error = None, ""
    try:
        result = respond(account, message, read_only=True)
        reply, status = outcome(account, message, result)
    except Exception as err:  # a code rule's bug: report it, as the log would
        error = f"{type(err).__name__}: {err}"[:1000]
        reply, status = outcome(account, message, None, failed=True)
    rule = getattr(result, "rule", None)
    rule_id = getattr(rule, "id", None)
    return {
        "matched": bool(result and result.matched),
        "rule": {"id": rule_id if isinstance(rule_id, int) else None, "name": rule.name} if rule else None,
        "status": str(status),
        "reply": reply.to_dict() if reply is not None else None,
        "xml": render_reply(reply, to_user=message.uid, from_user=message.sp) if reply is not None else "",
        "follow_up_pending": bool(result and result.follow_up_pending),
        "error": error,
        "message": message.to_dict(),
    }


# --- import / export ---------------------------------------------------------------------------

def _row_fields(definition: RuleDef) -> dict[str, Any]:
    return {
        "name": definition.name, "description": definition.description, "priority": definition.priority,
        "enabled": definition.enabled, "match_kind": str(definition.kind), "match_value": definition.value,
        "match_key": definition.key, "match_flags": definition.flags, "replies": definition.replies,
        "no_reply": definition.no_reply, "follow_up_timeout": definition.follow_up_timeout,
        "follow_up_retries": definition.follow_up_retries,
    }


def _names(defs):
    for definition in defs:
        yield definition
        yield from _names(definition.follow_ups)


def file_limits() -> FileLimits:
    """The bounds on reading a rule file, from the ``RULE_FILE_*`` and ``RULE_MAX_DEPTH`` settings."""
    return FileLimits(max_size=app_settings.RULE_FILE_MAX_SIZE, max_nesting=app_settings.RULE_FILE_MAX_NESTING,
                      max_rules=app_settings.RULE_FILE_MAX_RULES, max_depth=app_settings.RULE_MAX_DEPTH)


def import_rules(account: Account, data_or_text: Any, *, replace: bool = False) -> dict[str, Any]:
    """Import a rule file (text or loaded data) into ``account``, all or nothing.

    Rules are matched by name: an existing top-level rule of the same name is updated (its
    follow-ups replaced), others are created after the existing ones; with ``replace`` every
    existing rule of the account is deleted first. Raises ``RuleSpecError`` naming the rule for
    an invalid file, before anything is written. Returns counts: created, updated, deleted
    (top-level rules) and follow_ups (follow-up rules written), and ``warnings`` (what WeChat
    expects and a reply lacks, see ``rule_warnings``: imported all the same).
    """
    defs = parse_rules(data_or_text, file_limits())
    summary: dict[str, Any] = {"created": 0, "updated": 0, "deleted": 0, "follow_ups": 0,
                               "warnings": rule_warnings(defs)}
    with transaction.atomic():
        rows = Rule.objects.select_for_update().filter(account=account)
        if replace:
            summary["deleted"] = rows.filter(parent__isnull=True).count()
            rows.delete()
            existing: dict[str, Rule] = {}
            taken: set[str] = set()
        else:
            all_rows = list(rows)
            by_id = {row.pk: row for row in all_rows}
            existing = {row.name: row for row in all_rows if row.parent_id is None}
            replaced_ids = {existing[d.name].pk for d in defs if d.name in existing}

            def root(row):
                # Bounded: rows saved in a parent cycle (before cycles were refused) end the walk.
                seen = set()
                while row.parent_id is not None and row.parent_id in by_id and row.pk not in seen:
                    seen.add(row.pk)
                    row = by_id[row.parent_id]
                return row.pk

            # Names kept by the rules this import leaves alone (and by their follow-ups).
            taken = {row.name for row in all_rows if root(row) not in replaced_ids}
        for definition in _names(defs):
            if definition.name in taken:
                raise RuleSpecError(f"rule {definition.name!r}: the name is already used by another rule of "
                                    f"account {account.name!r} that this import does not replace",
                                    rule=definition.name)

        next_position = (Rule.objects.filter(account=account).aggregate(m=Max("position"))["m"] or 0) + 1
        now = timezone.now()
        to_create, to_update, level = [], [], []
        for definition in defs:
            row = existing.get(definition.name)
            if row is None:
                row = Rule(account=account, position=next_position, **_row_fields(definition))
                next_position += 1
                to_create.append(row)
                summary["created"] += 1
            else:
                for name, value in _row_fields(definition).items():
                    setattr(row, name, value)
                row.updated_at = now
                to_update.append(row)
                summary["updated"] += 1
            level.append((row, definition))
        if to_update:
            Rule.objects.filter(parent__in=[row.pk for row in to_update]).delete()
            Rule.objects.bulk_update(to_update, [*_row_fields(defs[0]), "updated_at"])
        Rule.objects.bulk_create(to_create)
        while level:  # follow-ups, one nesting level per query
            children = []
            for parent, definition in level:
                for child in definition.follow_ups:
                    children.append((Rule(account=account, parent=parent, position=next_position,
                                          **_row_fields(child)), child))
                    next_position += 1
            Rule.objects.bulk_create([row for row, _ in children])
            summary["follow_ups"] += len(children)
            level = children
        bump_rules_version(account.pk)
    return summary


def export_rules(account: Account) -> list[dict[str, Any]]:
    """The account's rules in the list form of the rule-file dialect (``import_rules`` reads it)."""
    return dump_rules(rule_defs(account))
