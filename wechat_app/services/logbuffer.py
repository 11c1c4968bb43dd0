"""The buffered message log: rows travel through a Redis list and reach the database in bulk.

With ``WECHAT_APP["LOG_BUFFER"] = True`` and django-redis as the cache, the callback does not
INSERT its log row: it appends the row to a Redis list in the pipeline that stores its answer
(no extra round trip), and ``drain()``, run every second by the ``wechat_app.drain_message_log``
beat task, moves the rows into the database with one bulk INSERT per batch. That removes the
dearest part of answering a message (one INSERT and its commit) from the callback.

Nothing is dropped on the way: a batch leaves the list only after it was committed, and the
INSERT skips rows already present (unique account + dedupe key), so a drain that dies half-way
is simply repeated. Rows show in the admin about a second late; the retries WeChat makes are
counted on the row when the drain reaches them. Rows of deleted accounts are discarded (as the
database would cascade), and a deleted rule leaves its rows with ``rule`` empty.
"""
from __future__ import annotations

import functools
import logging
from collections import Counter

from django.core.cache import caches
from django.db import transaction
from django.db.models import F

from ..conf import app_settings
from ..models import Account, MessageLog, Rule
from .cachebatch import CacheBatch, django_redis_client

logger = logging.getLogger("wechat_app.inbound")


def _cache():
    return caches[app_settings.CACHE_ALIAS]


def enabled() -> bool:
    """Whether log rows go through the buffer (the setting is on and the cache is django-redis)."""
    return bool(app_settings.LOG_BUFFER) and django_redis_client(_cache()) is not None


def queue_key() -> str:
    return f"{app_settings.CACHE_PREFIX}:log-queue"


@functools.cache
def _fields():
    meta = MessageLog._meta
    return [f for f in meta.concrete_fields if f is not meta.pk]


def row_of(log: MessageLog) -> dict:
    """An unsaved row as its column values (``write_rows`` writes them)."""
    return {field.attname: field.pre_save(log, True) for field in _fields()}


def enqueue_values(batch, account_id: int, values: dict) -> None:
    """Queue a row given as column values (attname -> value, as ``row_of`` gives them; those
    left out get their defaults, ``created_at`` the time now) on ``batch``: it is written by
    the next ``drain``. No model instance is needed (the callback queues ``_log_values``)."""
    row = {field.attname: values[field.attname] if field.attname in values else field.get_default()
           for field in _fields()}
    row["account_id"] = account_id
    batch.rpush(queue_key(), {"row": row})


def enqueue_retry(account_id: int, dedupe_key: str) -> bool:
    """Count one more retry of a delivery whose row may still be in the buffer (False: the cache failed)."""
    batch = CacheBatch(_cache())
    batch.rpush(queue_key(), {"retry": [account_id, dedupe_key]})
    batch.execute()
    return not batch.failed


def pending() -> int:
    """How many entries wait in the buffer."""
    client = django_redis_client(_cache())
    return 0 if client is None else client.get_client(write=False).llen(client.make_key(queue_key()))


def drain(limit: int = 2000) -> int:
    """Write up to ``limit`` buffered entries to the database; return how many were handled.

    One drain runs at a time (a lock in the cache); entries are removed only after commit.
    """
    from .tokens import single_flight

    client = django_redis_client(_cache())
    if client is None:
        return 0
    redis = client.get_client(write=True)
    key = client.make_key(queue_key())
    with single_flight("message-log-drain", timeout=60, wait=0) as acquired:
        if not acquired:
            return 0
        raw = redis.lrange(key, 0, limit - 1)
        if not raw:
            return 0
        entries = [client.decode(item) for item in raw]
        rows = [entry["row"] for entry in entries if "row" in entry]
        retries = Counter(tuple(entry["retry"]) for entry in entries if "retry" in entry)
        write_rows(rows, retries)
        redis.ltrim(key, len(raw), -1)
        return len(raw)


def write_rows(rows: list[dict], retries: Counter | None = None) -> int:
    """INSERT log rows (``row_of`` dicts) in bulk, in one transaction; return how many were written.

    Rows already in the database (same account and dedupe key) are skipped, so writing the same
    rows again is harmless: that is what makes the buffer's and the spool's replays safe. Rows
    of deleted accounts are dropped (as the database would cascade); a deleted rule leaves its
    rows with ``rule`` empty. ``retries`` counts further deliveries per (account id, dedupe key).
    """
    accounts = set(Account.objects.filter(pk__in={r["account_id"] for r in rows}).values_list("pk", flat=True))
    rules = set(Rule.objects.filter(pk__in={r["rule_id"] for r in rows if r["rule_id"]})
                .values_list("pk", flat=True))
    logs = []
    for row in rows:
        if row["account_id"] not in accounts:
            continue
        if row["rule_id"] is not None and row["rule_id"] not in rules:
            row = dict(row, rule_id=None)
        logs.append(row)
    with transaction.atomic():
        MessageLog.objects.insert_rows(logs)  # on PostgreSQL: a COPY and one INSERT for the batch
        for (account_id, dedupe_key), count in (retries or {}).items():
            MessageLog.objects.filter(account_id=account_id, dedupe_key=dedupe_key).update(
                retry_count=F("retry_count") + count)
    if len(logs) < len(rows):
        logger.info("Dropped %d log rows of deleted accounts", len(rows) - len(logs))
    return len(logs)


def drain_all(limit: int = 2000) -> int:
    """Drain until the buffer is empty (tests, shutdown, the management command)."""
    total = 0
    while True:
        handled = drain(limit)
        total += handled
        if handled < limit:
            return total
