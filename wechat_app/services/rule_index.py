"""Each process's compiled rule indexes: built off the request path and swapped in when ready.

One ``_IndexEntry`` per account holds the account's compiled ``RuleIndex`` and what it was built
from. A message never waits for a large build:

* **Small accounts** (fewer stored rules than ``INDEX_BACKGROUND_RULES``) are built or refreshed
  inline, by the message that finds the index stale: it takes milliseconds, and the process
  sees its own change at once (the admin's rule tester, the tests).
* **Large accounts** are refreshed by a background thread while the old index keeps answering;
  the new one replaces it in one assignment (atomic for the readers) once it is complete. At most
  one build per account runs at a time, so at most two indexes of an account are alive: the one
  serving and the one being built (a request still holding an older one drops it when it ends).
* **Refreshes are incremental**: the stored rules are read as plain tuples (``values_list``, the
  replies as JSON text, not decoded) and compared, by a hash per row, with the rows the index
  was built from; the changed top-level
  rules (a follow-up's change changes its top-level rule) are replaced in the live index with
  ``RuleIndex.patched`` (milliseconds, whatever the number of rules). A full rebuild is the
  fallback: the first build, a code rule or hook registered (``registry.version``), an account
  renamed, or more than ``PATCH_LIMIT`` changed rules since the last full build.
* **The first build of a large account** (a worker that starts with no index): the message waits
  for it at most ``INDEX_FIRST_BUILD_WAIT`` seconds; past that it is answered by the account's
  code rules alone, which means, for a user message no code rule takes, the account's
  "no rule matched" reply (``no_match_reply``) or nothing. It is logged. ``warm()`` avoids it:
  the wsgi entry (``project/wsgi.py``), a gunicorn ``post_fork`` hook or, when
  ``INDEX_WARM_UP`` is on, the first request of a process builds every enabled account's index
  in the background.
* **A failed build** (the database down, an error) keeps the old index, logs, and is retried no
  sooner than a second later.

Stored rules get a ``position`` of their own (the row's ``position`` column, then its id), not
their rank among the others, so that an index patched with one changed rule orders its rules
exactly like a full build of the same rows.
"""
from __future__ import annotations

import gc
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from django.db import connections, router
from django.db.models import Q
from django.db.models import TextField
from django.db.models.functions import Cast

from ..conf import app_settings
from ..engine import RuleIndex, registry
from ..engine.dialect import RuleDef
from ..engine.spec import MatchKind, RuleSpec, RuleSpecError
from ..models import Account, Rule
from ..protocol.replies import ReplyError, TextReply, reply_from_dict
from . import stampcheck
from .cachebatch import UNAVAILABLE
from .spool import DATABASE_DOWN

logger = logging.getLogger("wechat_app.services.rules")

PATCH_LIMIT = 1000
"""Changed top-level rules beyond which a refresh rebuilds the index instead of patching it."""

FREEZE_ROWS = 10_000
"""Stored rules from which a full build calls ``gc.freeze()`` (see ``_build``)."""

RETRY_INTERVAL = 1.0
"""Seconds before a failed build is tried again (not one failing query per message)."""

_FIELDS = ("id", "parent_id", "name", "match_kind", "match_value", "match_key", "match_flags", "replies",
           "no_reply", "priority", "enabled", "follow_up_timeout", "follow_up_retries", "position")
_NULL_POSITION = 1 << 62  # rows without a position come last (PostgreSQL's order of NULLs)


@dataclass
class _IndexEntry:
    stamp: str | None  # the cache stamp it was built under (None: the cache was unavailable)
    revision: int  # Account.rules_revision read just before the rules
    registry_version: int
    account_name: str
    index: RuleIndex
    rebuild_after: float = 0.0  # time.monotonic() before which a failed rebuild is not retried
    stale: bool = False  # this process changed the account's rules (``mark_stale``)
    rows: dict = field(default_factory=dict, repr=False)  # row id -> (parent id, digest of the row)
    buckets: dict | None = field(default=None, repr=False)  # PostgreSQL: bucket -> hash of its rows
    patched: int = 0  # top-level rules replaced since the last full build

    def fits(self, account: Account, stamp) -> bool:
        return (not self.stale and self.registry_version == registry.version
                and self.account_name == account.name and self.revision >= (account.rules_revision or 0)
                and (stamp is UNAVAILABLE or stamp == self.stamp))


class _Slot:
    """An account's build state: whether a background build runs, and its completion."""

    def __init__(self):
        self.building = False
        self.done = threading.Event()
        self.retry_after = 0.0
        self.lock = threading.Lock()  # inline builds of this account (not queued behind others')


_indexes: dict[Any, _IndexEntry] = {}
_slots: dict[Any, _Slot] = {}
_slots_lock = threading.Lock()
_build_lock = threading.Lock()  # one background build per process at a time (CPU, memory)


def _after_fork_in_child() -> None:
    # A worker forked (gunicorn --preload) while a thread of the parent was building: that thread
    # does not exist here, so neither do its locks' owner nor its "building" flags. The indexes
    # the parent completed are inherited and kept.
    global _slots_lock, _build_lock
    _slots_lock, _build_lock = threading.Lock(), threading.Lock()
    _slots.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _slot(account_id) -> _Slot:
    slot = _slots.get(account_id)
    if slot is None:
        with _slots_lock:
            slot = _slots.setdefault(account_id, _Slot())
    return slot


# --- loading the stored rules ---------------------------------------------------------------------

BUCKET = 1024
"""Rows per bucket (by id) whose hash PostgreSQL computes: a refresh reads only the changed buckets."""

_COLUMNS = (*_FIELDS[:7], "replies_json", *_FIELDS[8:])


def _rows_query(account_id):
    return Rule.objects.filter(account_id=account_id).annotate(replies_json=Cast("replies", TextField()))


def _load_rows(account_id, buckets=None) -> dict:
    """Stored rules of the account as tuples of ``_FIELDS`` by id (one query, no model instances):
    all of them, or those of the given id ``buckets``.

    The replies come as their JSON text (decoded only for the rules that get compiled): a
    refresh compares rows to find the changed ones, and decoding 100,000 JSON values would be
    most of its time.
    """
    rows = _rows_query(account_id)
    if buckets is not None:
        ranges = Q()
        for bucket in buckets:
            ranges |= Q(id__gte=bucket * BUCKET, id__lt=(bucket + 1) * BUCKET)
        rows = rows.filter(ranges)
    return {row[0]: row for row in rows.values_list(*_COLUMNS)}


def _bucket_hashes(account_id) -> dict | None:
    """PostgreSQL: a hash of each bucket of the account's rows (the columns the index is built
    from), by bucket number; None on other databases (a refresh then reads every row).

    The sum of a 64-bit hash per row, itself the XOR of a hash per column with a seed of its own:
    no text conversion of the replies (``jsonb_hash_extended``), a few hundred milliseconds at
    100,000 rows on a busy machine, against seconds for an md5 of each row's text.
    """
    connection = connections[router.db_for_read(Rule)]
    if connection.vendor != "postgresql":
        return None
    table = connection.ops.quote_name(Rule._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT r.id / %s, sum(hashtextextended(concat_ws(',', r.id, coalesce(r.parent_id, -1), r.priority, "
            f"coalesce(r.position, -1), r.enabled, r.no_reply, coalesce(r.follow_up_timeout, -1), "
            f"coalesce(r.follow_up_retries, -1)), 0) # hashtextextended(r.name, 1) "
            f"# hashtextextended(r.match_kind, 2) # hashtextextended(r.match_value, 3) "
            f"# hashtextextended(r.match_key, 4) # hashtextextended(r.match_flags, 5) "
            f"# jsonb_hash_extended(r.replies, 6)) FROM {table} r WHERE r.account_id = %s GROUP BY 1",
            [BUCKET, account_id])
        return dict(cursor.fetchall())


def _digest(row) -> int:
    # Python's 64-bit hash of the row's plain values (texts, numbers): a change goes unnoticed
    # only if the changed row hashes like the old one (a chance of 2**-64, with a key random per
    # process); then the next full build (a code change, PATCH_LIMIT changes) corrects it.
    return hash(row)


def _children(rows: dict) -> dict:
    children: dict = {}
    for row in rows.values():
        if row[1] is not None:
            children.setdefault(row[1], []).append(row)
    for siblings in children.values():
        siblings.sort(key=_order)
    return children


def _order(row):
    return (row[13] is None, row[13] or 0, row[0])


def _definition(row) -> RuleDef:
    (pk, _parent, name, kind, value, key, flags, replies, no_reply, priority, enabled, timeout,
     retries, _position) = row
    replies = json.loads(replies) if isinstance(replies, str) else replies
    return RuleDef(name=name, kind=MatchKind(kind), value=value, key=key, flags=flags, replies=list(replies or []),
                   no_reply=no_reply, priority=priority, enabled=enabled, description="",
                   follow_up_timeout=timeout, follow_up_retries=retries, id=pk)


def _reply(item):
    """``reply_from_dict(item)``, with a shortcut for the commonest reply: a plain text."""
    if type(item) is str:
        content = item
    elif type(item) is dict and len(item) == 2 and item.get("type") == "text" and type(item.get("content")) is str:
        content = item["content"]
    else:
        return reply_from_dict(item)
    reply = TextReply(content=content)
    reply.validate()
    return reply


def _spec(row, children: dict, account_id):
    """The engine spec of the enabled top-level rule ``row`` with its enabled follow-ups, like
    ``rules.rule_specs`` (``RULE_MAX_DEPTH`` levels at most), or None if it is invalid."""
    position = (_NULL_POSITION if row[13] is None else row[13]) * (1 << 64) + row[0]
    if not any(child[10] for child in children.get(row[0], ())):
        # The common case, without the RuleDef step (the same spec as ``RuleDef.to_spec``).
        (pk, _parent, name, kind, value, key, flags, replies, no_reply, priority, *_rest) = row
        try:
            replies = json.loads(replies) if isinstance(replies, str) else replies
            return RuleSpec(name=name, kind=MatchKind(kind), value=value, key=key, flags=flags,
                            replies=tuple(_reply(item) for item in replies or ()), no_reply=no_reply,
                            priority=priority, position=position, id=pk)
        except (ReplyError, RuleSpecError, ValueError) as err:
            logger.warning("Skipping invalid rule %r of account %s: %s", name, account_id, err)
            return None
    root = _definition(row)
    level, depth = [(row, root)], 1
    while level:
        below = [(child, _definition(child)) for parent, _ in level for child in children.get(parent[0], ())
                 if child[10]]
        if below and depth >= app_settings.RULE_MAX_DEPTH:
            logger.warning("Ignoring follow-up rules of account %s nested deeper than RULE_MAX_DEPTH (%d)",
                           account_id, app_settings.RULE_MAX_DEPTH)
            break
        by_parent = {}
        for child, definition in below:
            by_parent.setdefault(child[1], []).append(definition)
        for parent, definition in level:
            definition.follow_ups.extend(by_parent.get(parent[0], ()))
        level, depth = below, depth + 1
    try:
        return root.to_spec(position)
    except (ReplyError, RuleSpecError, ValueError) as err:
        logger.warning("Skipping invalid rule %r of account %s: %s", root.name, account_id, err)
        return None


def _top_specs(rows: dict, children: dict, ids, account_id) -> list:
    specs = []
    for pk in ids:
        row = rows.get(pk)
        if row is not None and row[1] is None and row[10]:
            spec = _spec(row, children, account_id)
            if spec is not None:
                specs.append(spec)
    return specs


# --- building -------------------------------------------------------------------------------------

def _build(account_id, account_name: str, stamp, previous: _IndexEntry | None) -> _IndexEntry:
    """A new entry for the account: ``previous`` patched when it can be, else a full build."""
    revision = Account.objects.filter(pk=account_id).values_list("rules_revision", flat=True).first()
    # The revision first, then the rules: a change committed in between costs one more refresh
    # later, never a newer revision on older rules.
    version = registry.version
    stamp = None if stamp is UNAVAILABLE else stamp
    if previous is not None and previous.rows and previous.registry_version == version \
            and previous.account_name == account_name:
        patched = _patch(account_id, previous)
        if patched is not None:
            index, structure, buckets, count = patched
            return _IndexEntry(stamp, revision or 0, version, account_name, index, rows=structure,
                               buckets=buckets, patched=previous.patched + count)
    buckets = _bucket_hashes(account_id)
    rows = _load_rows(account_id)
    structure = {pk: (row[1], _digest(row)) for pk, row in rows.items()}
    children = _children(rows)
    top = sorted((row for row in rows.values() if row[1] is None), key=_order)
    specs = _top_specs(rows, children, [row[0] for row in top], account_id)
    index = RuleIndex([*specs, *registry.rules_for(account_name)])
    index._rank_of_id()  # what a later patch needs, computed here rather than in the refresh
    if len(rows) >= FREEZE_ROWS:
        # A large index is millions of long-lived objects: out of the cyclic garbage collector's
        # full passes, which would otherwise walk them all (a pause of every thread, requests
        # included) whenever a refresh allocates. They are still freed by reference counting.
        gc.freeze()
    return _IndexEntry(stamp, revision or 0, version, account_name, index, rows=structure, buckets=buckets)


def _patch(account_id, previous: _IndexEntry):
    """``(index, structure, buckets, changed roots)`` of ``previous`` refreshed by patching in the
    changed top-level rules; None when a full build is due (too many changes)."""
    old = previous.rows
    buckets = _bucket_hashes(account_id)
    if buckets is not None and previous.buckets is not None:
        # PostgreSQL: only the rows of the buckets whose hash changed are read.
        stale = {b for b in buckets.keys() | previous.buckets.keys() if buckets.get(b) != previous.buckets.get(b)}
        rows = _load_rows(account_id, stale) if stale else {}
        structure = {pk: value for pk, value in old.items() if pk // BUCKET not in stale}
        structure.update((pk, (row[1], _digest(row))) for pk, row in rows.items())
        candidates = {pk for pk in old if pk // BUCKET in stale} | rows.keys()
    else:
        buckets = None
        rows = _load_rows(account_id)
        structure = {pk: (row[1], _digest(row)) for pk, row in rows.items()}
        candidates = structure.keys() | old.keys()
    changed = {pk for pk in candidates if old.get(pk) != structure.get(pk)}
    if len(changed) > PATCH_LIMIT:
        return None
    roots = {root for pk in changed for root in (_root(pk, structure), _root(pk, old)) if root is not None}
    if previous.patched + len(roots) > PATCH_LIMIT:
        return None
    if not roots:
        return previous.index, structure, buckets, 0
    # The changed rules' whole trees (their follow-ups may lie in buckets that did not change).
    below: dict = {}
    for pk, (parent, _hash) in structure.items():
        if parent is not None:
            below.setdefault(parent, []).append(pk)
    tree, level = set(), [root for root in roots if root in structure]
    for _depth in range(app_settings.RULE_MAX_DEPTH):
        tree.update(level)
        level = [child for pk in level for child in below.get(pk, ()) if child not in tree]
        if not level:
            break
    missing = tree - rows.keys()
    if missing:
        rows = {**rows, **{row[0]: row for row in _rows_query(account_id).filter(id__in=missing)
                           .values_list(*_COLUMNS)}}
    rows = {pk: rows[pk] for pk in tree if pk in rows}
    specs = _top_specs(rows, _children(rows), sorted(roots), account_id)
    return previous.index.patched(roots, specs), structure, buckets, len(roots)


def _root(pk, structure: dict):
    """The top-level rule above row ``pk`` (None: a row in a parent cycle, or gone)."""
    seen = set()
    while pk in structure and pk not in seen:
        seen.add(pk)
        parent = structure[pk][0]
        if parent is None:
            return pk
        pk = parent
    return None


def _background(account_id, account_name: str, stamp) -> None:
    slot = _slot(account_id)
    try:
        with _build_lock:
            entry = _build(account_id, account_name, stamp, _indexes.get(account_id))
        _indexes[account_id] = entry  # the swap: readers see the old entry or the new one
    except Exception:  # noqa: BLE001 - a failed build keeps the old index, and says why
        slot.retry_after = time.monotonic() + RETRY_INTERVAL
        logger.exception("Building the rule index of account %s failed: the previous index keeps answering",
                         account_id)
    finally:
        slot.building = False
        slot.done.set()
        connections.close_all()  # this thread's own connections


def _start_background(account_id, account_name: str, stamp) -> _Slot:
    slot = _slot(account_id)
    with _slots_lock:
        if slot.building:
            return slot
        slot.building = True
        slot.done = threading.Event()
    thread = threading.Thread(target=_background, args=(account_id, account_name, stamp),
                              name=f"wechat-rule-index-{account_id}", daemon=True)
    thread.start()
    return slot


def _in_background(account: Account, entry: _IndexEntry | None) -> bool:
    threshold = app_settings.INDEX_BACKGROUND_RULES
    if threshold is None:
        return False
    size = len(entry.rows) if entry is not None else Rule.objects.filter(account_id=account.pk).count()
    return size >= threshold


def known_stamp(account: Account, *, without_follow_ups: bool = False) -> str | None:
    """The cache stamp under which this process's index of ``account`` is current, or None when it
    has no such index (none built, stale, built while the cache was unavailable) or, with
    ``without_follow_ups``, when a rule of it has follow-ups (a user may then be in a follow-up
    conversation). The callback's one-trip path assumes this stamp and lets its cache script
    check it (``callbackscript``); its row-claim path checks it at intervals (``stampcheck``)."""
    entry = _indexes.get(account.pk)
    if entry is None or not isinstance(entry.stamp, str) or not entry.fits(account, entry.stamp):
        return None
    if without_follow_ups and entry.index.has_follow_ups:
        return None
    return entry.stamp


def get_index(account: Account, stamp) -> RuleIndex:
    """The account's compiled index (see the module doc for when it is built and by whom).

    ``stamp`` is the account's cache stamp (``UNAVAILABLE``: the cache is down, so only the
    database revision on ``account`` can tell the index is stale). With the database down, a
    stale index is used rather than none.
    """
    entry = _indexes.get(account.pk)
    if entry is not None and (entry.fits(account, stamp) or time.monotonic() < entry.rebuild_after):
        return entry.index
    slot = _slot(account.pk)
    if entry is not None and (slot.building or time.monotonic() < slot.retry_after):
        return entry.index  # the old index answers until the new one is ready
    try:
        background = slot.building or time.monotonic() < slot.retry_after or _in_background(account, entry)
    except DATABASE_DOWN:
        if entry is None:
            raise
        return _database_down(account, entry)
    if background:
        if time.monotonic() >= slot.retry_after:  # else the first build failed a moment ago
            slot = _start_background(account.pk, account.name, stamp)
        if entry is not None:
            return entry.index
        # (Not building: the first build failed a moment ago, it is not waited for.)
        if slot.building:
            slot.done.wait(app_settings.INDEX_FIRST_BUILD_WAIT)
        entry = _indexes.get(account.pk)
        if entry is not None:
            return entry.index
        logger.warning("The rule index of account %s is still being built (or its first build failed): the "
                       "message is answered by its code rules only (else the no-match reply)", account.pk)
        return RuleIndex(registry.rules_for(account.name))
    with slot.lock:  # a small account's inline build does not wait for a large one's in the background
        entry = _indexes.get(account.pk)
        if entry is not None and entry.fits(account, stamp):
            return entry.index
        try:
            entry = _indexes[account.pk] = _build(account.pk, account.name, stamp, entry)
        except DATABASE_DOWN:
            if entry is None:
                raise
            return _database_down(account, entry)
        return entry.index


def _database_down(account: Account, entry: _IndexEntry) -> RuleIndex:
    logger.warning("The database is unreachable: account %s answers with the rules it had", account.pk)
    entry.rebuild_after = time.monotonic() + RETRY_INTERVAL
    return entry.index


def mark_stale(account_id) -> None:
    """This process changed the account's rules: its next message refreshes the index (the entry
    is replaced by a stale copy, so that whoever still holds the old entry keeps it as it was)."""
    stampcheck.forget(account_id)
    entry = _indexes.get(account_id)
    if entry is not None:
        _indexes[account_id] = replace(entry, stale=True)


def clear_local_indexes() -> None:
    """Drop this process's compiled indexes (tests; the version stamp handles normal use)."""
    _indexes.clear()
    with _slots_lock:
        _slots.clear()


def warm(accounts=None, *, wait: bool = False) -> threading.Thread | None:
    """Build the rule indexes of ``accounts`` (default: every enabled account) ahead of messages.

    In a background thread (returned) unless ``wait``; call it when a worker starts: from the
    project's wsgi.py after ``get_wsgi_application()``, or from gunicorn's ``post_fork`` hook.
    """
    def run():
        try:
            targets = accounts if accounts is not None else list(Account.objects.filter(enabled=True))
            for account in targets:
                from .rules import _current_stamp  # the stamp the next message will compare

                stamp = _current_stamp(account.pk)
                with _build_lock:
                    entry = _indexes.get(account.pk)
                    if entry is not None and entry.fits(account, stamp):
                        continue
                    _indexes[account.pk] = _build(account.pk, account.name, stamp, entry)
        except Exception:  # noqa: BLE001 - the first messages will build what is missing
            logger.exception("Warming the rule indexes up failed")
        finally:
            if not wait:
                connections.close_all()

    if wait:
        run()
        return None
    thread = threading.Thread(target=run, name="wechat-rule-index-warm-up", daemon=True)
    thread.start()
    return thread


def warm_before_fork(accounts=None) -> None:
    """``warm(wait=True)`` for a process about to fork its workers (``gunicorn --preload``): the
    indexes are built once, here, and every worker starts with them (copy-on-write). No thread
    is left running across the fork, and the database and Redis connections used are closed so
    that no worker shares a socket with another (each opens its own on first use)."""
    warm(accounts, wait=True)
    connections.close_all()
    from django.core.cache import caches

    from .cachebatch import django_redis_client

    for cache in caches.all(initialized_only=True):
        client = django_redis_client(cache)
        if client is not None:
            for redis in client._clients:
                if redis is not None:
                    redis.connection_pool.disconnect()


_warmed = False


def warm_on_first_request(**kwargs) -> None:
    """``request_started`` receiver (``INDEX_WARM_UP``): the first request of a process starts ``warm()``."""
    global _warmed
    if _warmed:
        return
    _warmed = True
    if app_settings.INDEX_WARM_UP:
        warm()
