"""Several cache operations in one round trip.

The callback needs a handful of cache operations per message (claim the delivery, read the
version stamps and the user's follow-up state, then store the answer). On django-redis they go
out as one pipeline each, which halves the CPU and the latency they cost; on any other backend
(local memory, database, memcached) they run one by one through the normal cache API, with
the same results.

Usage::

    batch = CacheBatch(cache)
    claimed = batch.add("k", {"state": "processing"}, 6)
    stamp = batch.get("v")
    batch.execute()
    claimed.value, stamp.value

A cache that is down or frozen must not take the callback with it: the rules live in memory and
the log's unique key dedupes without the cache. So the hot path reaches the cache only through
this module, which never raises: a batch that fails sets ``failed`` and gives every result the
value ``UNAVAILABLE`` (``FailSafeCache`` does the same for single operations). After a failure
the cache is skipped for ``CACHE_RETRY_INTERVAL`` seconds, so that a frozen Redis costs one
socket timeout per process per interval rather than one per operation; the failure is logged
(at most once a minute), and so is the recovery.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT

from ..conf import app_settings

logger = logging.getLogger("wechat_app.cache")

WARNING_INTERVAL = 60.0  # seconds between two warnings about a failing cache


class _Unavailable:
    """The value of a cache operation that could not run (the cache failed or is being skipped)."""

    def __bool__(self):
        return False

    def __repr__(self):
        return "UNAVAILABLE"


UNAVAILABLE = _Unavailable()


class _Health:
    """Whether the cache failed lately (per process), and the rate-limited warnings about it."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.skip_until = 0.0  # time.monotonic() before which the cache is not tried
        self.failing = False
        self.warned_at = None
        self.suppressed = 0

    def available(self) -> bool:
        return time.monotonic() >= self.skip_until

    def failed(self, err: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            self.skip_until = now + float(app_settings.CACHE_RETRY_INTERVAL)
            self.failing = True
            if self.warned_at is not None and now - self.warned_at < WARNING_INTERVAL:
                self.suppressed += 1
                return
            suppressed, self.suppressed, self.warned_at = self.suppressed, 0, now
        logger.warning("The cache failed (%s: %s); answering from memory and deduplicating through the "
                       "database until it is back%s", type(err).__name__, err,
                       f" ({suppressed} more failures since the last warning)" if suppressed else "")

    def succeeded(self) -> None:
        if self.failing:
            with self._lock:
                if not self.failing:
                    return
                self.failing, self.warned_at, self.suppressed = False, None, 0
            logger.warning("The cache is back")


health = _Health()


class FailSafeCache:
    """Single operations on a Django cache that never raise: ``UNAVAILABLE`` when the cache fails."""

    def __init__(self, cache):
        self.cache = cache

    def _run(self, method, *args):
        if not health.available():
            return UNAVAILABLE
        try:
            value = getattr(self.cache, method)(*args)
        except Exception as err:  # whatever the backend raises (connection refused, timeout...)
            health.failed(err)
            return UNAVAILABLE
        health.succeeded()
        return value

    def get(self, key: str) -> Any:
        return self._run("get", key)

    def get_many(self, keys) -> Any:
        return self._run("get_many", keys)

    def add(self, key: str, value: Any, timeout: int | None) -> Any:
        return self._run("add", key, value, timeout)

    def set(self, key: str, value: Any, timeout: int | None) -> Any:
        return self._run("set", key, value, timeout)

    def delete(self, key: str) -> Any:
        return self._run("delete", key)

@dataclass
class Result:
    """The outcome of one queued operation, filled in by ``CacheBatch.execute``."""

    value: Any = None


class _Skipped(Exception):
    """The cache failed a moment ago: not tried again before CACHE_RETRY_INTERVAL has passed."""


def django_redis_client(cache):
    """The django-redis ``DefaultClient`` behind ``cache``, or None for any other backend."""
    try:
        from django_redis.client import DefaultClient
    except ImportError:  # django-redis is optional
        return None
    client = getattr(cache, "client", None)
    return client if type(client) is DefaultClient else None


class CacheBatch:
    """Queue ``add``/``get``/``set``/``delete`` operations and run them together.

    ``execute`` never raises: when the cache fails, ``failed`` is set, every result is
    ``UNAVAILABLE`` and the callbacks given to ``on_failure`` run (for example, to write
    directly what was to go out through the cache).
    """

    def __init__(self, cache):
        self.cache = cache
        self.failed = False
        self._ops: list[tuple[str, str, Any, Any, Result]] = []
        self._fallbacks: list = []

    def on_failure(self, callback) -> None:
        """Call ``callback()`` if this batch's next ``execute`` fails."""
        self._fallbacks.append(callback)

    def _queue(self, op, key, value=None, timeout=None) -> Result:
        result = Result()
        self._ops.append((op, key, value, timeout, result))
        return result

    def add(self, key: str, value: Any, timeout: int | None) -> Result:
        """Set ``key`` only if it is absent; the result is True when this call set it."""
        return self._queue("add", key, value, timeout)

    def get(self, key: str) -> Result:
        """Read ``key``; the result is None when it is absent."""
        return self._queue("get", key)

    def set(self, key: str, value: Any, timeout: int | None) -> Result:
        return self._queue("set", key, value, timeout)

    def delete(self, key: str) -> Result:
        return self._queue("delete", key)

    def rpush(self, key: str, value: Any) -> Result:
        """Append to the Redis list ``key`` (django-redis only: other caches have no lists)."""
        return self._queue("rpush", key, value)

    def __len__(self):
        return len(self._ops)

    def take(self) -> tuple[list, list]:
        """Remove and return the queued operations and the failure callbacks, for a caller that
        runs them another way (``callbackscript``): ``(op, key, value, timeout, result)`` tuples."""
        ops, self._ops = self._ops, []
        fallbacks, self._fallbacks = self._fallbacks, []
        return ops, fallbacks

    def execute(self) -> None:
        ops, self._ops = self._ops, []
        fallbacks, self._fallbacks = self._fallbacks, []
        if not ops:
            return
        try:
            if not health.available():
                raise _Skipped
            client = django_redis_client(self.cache)
            if client is None:
                self._execute_each(ops)
            else:
                self._execute_pipeline(client, ops)
        except Exception as err:  # whatever the backend raises (connection refused, timeout...)
            if not isinstance(err, _Skipped):
                health.failed(err)
            self.failed = True
            for *_, result in ops:
                result.value = UNAVAILABLE
            for callback in fallbacks:
                callback()
            return
        health.succeeded()

    def _execute_each(self, ops):
        cache = self.cache
        if any(op == "rpush" for op, *_ in ops):
            raise NotImplementedError("rpush needs django-redis as the cache")
        for op, key, value, timeout, result in ops:
            if op == "add":
                result.value = cache.add(key, value, timeout)
            elif op == "get":
                result.value = cache.get(key)
            elif op == "set":
                cache.set(key, value, timeout)
            else:
                cache.delete(key)

    def _execute_pipeline(self, client, ops):
        # The same key making, serialization and timeout rules as django-redis's own methods.
        # Consecutive reads go out as one MGET (the callback's claim is one SET NX and one MGET
        # of the version stamps and the user's state): fewer commands for Redis to run and for
        # redis-py to pack and parse.
        pipe = client.get_client(write=True).pipeline(transaction=False)
        commands = []  # (op, positions in ops whose results the command carries)
        refused = set()  # positions of adds that cannot succeed
        gets = []  # (position, redis key) of the reads being grouped

        def flush_gets():
            if len(gets) == 1:
                pipe.get(gets[0][1])
            elif gets:
                pipe.mget([key for _, key in gets])
            if gets:
                commands.append(("get", [position for position, _ in gets]))
                gets.clear()

        for position, (op, key, value, timeout, _) in enumerate(ops):
            redis_key = client.make_key(key)
            if op == "get":
                gets.append((position, redis_key))
                continue
            flush_gets()
            commands.append((op, [position]))
            if op == "delete":
                pipe.delete(redis_key)
            elif op == "rpush":
                pipe.rpush(redis_key, client.encode(value))
            else:
                if timeout is DEFAULT_TIMEOUT:
                    timeout = self.cache.default_timeout
                if timeout is not None and int(timeout) <= 0:
                    # As django-redis does: a non-positive timeout stores nothing (a set removes
                    # the old value), and such an add never succeeds.
                    pipe.delete(redis_key) if op == "set" else pipe.echo(b"")
                    refused.add(position)
                else:
                    pipe.set(redis_key, client.encode(value), ex=None if timeout is None else int(timeout),
                             nx=op == "add")
        flush_gets()
        replies = pipe.execute()
        for (op, positions), reply in zip(commands, replies):
            if op == "get":
                values = [reply] if len(positions) == 1 else reply
                for position, raw in zip(positions, values):
                    ops[position][4].value = None if raw is None else client.decode(raw)
            elif op == "add":
                ops[positions[0]][4].value = positions[0] not in refused and bool(reply)
