"""The callback's cache work as one server-side script on Redis (django-redis only).

A message needs, from the cache: its dedupe claim, the accounts and rules version stamps, the
user's follow-up state and session, for a plaintext delivery the check that its signed query is
not reused, and at the end the stored answer (for retries), the follow-up state the rules wrote
and, with ``LOG_BUFFER``, the log entry. Through ``CacheBatch`` that is two round trips (two
pipelines). This script does it in one call:

- ``claim``: the first round trip of the two (replay check, SET NX of the claim, MGET of the
  stamps and the state): used when the rules must see the real state before they run;
- ``finish``: one round trip for the whole message, run *after* the rules answered on the
  assumption that the stamps are the ones this process knows and that the user has no
  follow-up state or session (what nearly every message meets). The script checks the
  assumption atomically: when it holds and nobody claimed the delivery, it stores the answer,
  the rules' writes and the log entry at once (``done``); when another delivery holds the key,
  nothing is written (``taken``: wait for its answer); when the assumption fails, it claims the
  delivery and returns the real values (``claimed``): the caller runs the rules again with them
  and stores the answer with a second round trip, as in the two-trip path. The first answer
  is discarded, which is why the caller only assumes for accounts whose rules are stored rules
  (no Python code, no side effects) and when no signal receiver is connected.

The script is registered by its SHA1 (``EVALSHA``); a server that does not know it (restarted,
``SCRIPT FLUSH``) answers NOSCRIPT and the call is repeated once with ``EVAL``, which loads it.

Fail-safe as ``cachebatch``: a call never raises. When Redis fails (or failed a moment ago) the
result is ``UNAVAILABLE``, ``health`` records it and the caller goes on without the cache (the
log's unique key dedupes, the row is written to the database directly).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT

from .cachebatch import UNAVAILABLE, _Skipped, health

LUA = r"""
-- KEYS: 1 dedupe claim, 2 accounts version, 3 rules version, 4 follow-up state, 5 session,
--       6 signed-query key (plaintext deliveries; else a copy of 1), 7.. keys of the writes
-- ARGV: 1 mode (claim|finish), 2 claim value, 3 claim ttl, 4 query fingerprint ('' = none),
--       5 its ttl, 6 check the accounts stamp (1|0), 7 expected accounts stamp, 8 expected rules
--       stamp, 9 the answer, 10 its ttl ('' = none), then per write: op (set|del|rpush), value, ttl
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[6], ARGV[4], 'EX', ARGV[5], 'NX')
  local first = redis.call('GET', KEYS[6])
  if first and first ~= ARGV[4] then
    return {'replayed'}
  end
end
if ARGV[1] == 'finish' then
  local taken = redis.call('EXISTS', KEYS[1]) == 1
  local v = redis.call('MGET', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
  if taken then
    return {'taken', v[1], v[2], v[3], v[4]}
  end
  if v[3] or v[4] or v[2] ~= ARGV[8] or (ARGV[6] == '1' and v[1] ~= ARGV[7]) then
    redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
    return {'claimed', v[1], v[2], v[3], v[4]}
  end
  if ARGV[10] == '' then
    redis.call('SET', KEYS[1], ARGV[9])
  else
    redis.call('SET', KEYS[1], ARGV[9], 'EX', ARGV[10])
  end
  for i = 7, #KEYS do
    local j = 11 + (i - 7) * 3
    local op = ARGV[j]
    if op == 'set' then
      if ARGV[j + 2] == '' then
        redis.call('SET', KEYS[i], ARGV[j + 1])
      else
        redis.call('SET', KEYS[i], ARGV[j + 1], 'EX', ARGV[j + 2])
      end
    elseif op == 'del' then
      redis.call('DEL', KEYS[i])
    elseif op == 'rpush' then
      redis.call('RPUSH', KEYS[i], ARGV[j + 1])
    end
  end
  return {'done'}
end
local claimed = redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3], 'NX')
local v = redis.call('MGET', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
local status = 'taken'
if claimed then
  status = 'claimed'
end
return {status, v[1], v[2], v[3], v[4]}
"""

SHA = hashlib.sha1(LUA.encode("utf-8")).hexdigest()


@dataclass
class Outcome:
    """What the script did: ``status`` is ``claimed``, ``taken``, ``done`` or ``replayed``; the
    values (decoded, None when absent) are the stamps and state it read (not for ``done``)."""

    status: str
    accounts_stamp: Any = None
    rules_stamp: Any = None
    state: Any = None
    session: Any = None


class Call:
    """One script call being prepared: the keys and the expectations, then ``claim`` or ``finish``."""

    def __init__(self, cache, client, *, dedupe_key: str, claim_value, claim_ttl: int, accounts_key: str,
                 rules_key: str, state_key: str, session_key: str, replay_key: str | None = None,
                 fingerprint: str | None = None, replay_ttl: int = 0):
        self.cache, self.client = cache, client
        make = client.make_key
        self.keys = [make(dedupe_key), make(accounts_key), make(rules_key), make(state_key), make(session_key)]
        self.keys.append(make(replay_key) if replay_key else self.keys[0])
        self.args = ["claim", client.encode(claim_value), int(claim_ttl),
                     client.encode(fingerprint) if replay_key else b"", int(replay_ttl)]

    def claim(self):
        """Claim the delivery and read the stamps and state (the two-trip path's first trip)."""
        return self._call(self.keys, self.args + [0, b"", b"", b"", b""])

    def finish(self, *, accounts_stamp, rules_stamp, answer, answer_ttl, ops, fallbacks=()):
        """Store ``answer`` and run ``ops`` (``CacheBatch`` operations: set, delete, rpush) if
        nobody claimed the delivery, the stamps are ``accounts_stamp`` (None: not checked) and
        ``rules_stamp``, and the user has no follow-up state or session. ``fallbacks`` run when
        the cache fails (as ``CacheBatch.on_failure``)."""
        client = self.client
        keys = list(self.keys)
        args = list(self.args)
        args[0] = "finish"
        args += [1 if accounts_stamp is not None else 0,
                 client.encode(accounts_stamp) if accounts_stamp is not None else b"",
                 client.encode(rules_stamp), client.encode(answer), self._ttl(answer_ttl)]
        for op, key, value, timeout, _ in ops:
            keys.append(client.make_key(key))
            if op == "rpush":
                args += ["rpush", client.encode(value), b""]
            elif op == "delete":
                args += ["del", b"", b""]
            elif op == "set":
                ttl = self._ttl(timeout)
                args += ["del", b"", b""] if ttl == -1 else ["set", client.encode(value), ttl]
            else:
                raise ValueError(f"the callback script cannot run {op!r}")
        return self._call(keys, args, fallbacks)

    def _ttl(self, timeout):
        # django-redis's rules: the default timeout, None for no expiry, <= 0 stores nothing (-1).
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.cache.default_timeout
        if timeout is None:
            return b""
        return -1 if int(timeout) <= 0 else int(timeout)

    def _call(self, keys, args, fallbacks=()):
        try:
            if not health.available():
                raise _Skipped
            reply = run(self.client.get_client(write=True), keys, args)
        except Exception as err:  # whatever the backend raises (connection refused, timeout...)
            if not isinstance(err, _Skipped):
                health.failed(err)
            for callback in fallbacks:
                callback()
            return UNAVAILABLE
        health.succeeded()
        status = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
        values = [None if raw is None else self.client.decode(raw) for raw in reply[1:]]
        return Outcome(status, *values)


def run(redis, keys, args):
    """EVALSHA the script; on NOSCRIPT (the server does not know it yet) EVAL it, which loads it."""
    from redis.exceptions import NoScriptError

    try:
        return redis.evalsha(SHA, len(keys), *keys, *args)
    except NoScriptError:
        return redis.eval(LUA, len(keys), *keys, *args)
