"""Looking up accounts on the callback's hot path without a database query per message.

Each process keeps the enabled accounts it has served, tagged with an *accounts version*: a
random stamp in the Django cache replaced whenever any account is saved or deleted (receivers).
A lookup costs one cache read while nothing changed (the callback folds it into the round trip
it makes anyway); a change reaches every process on its next message. ``QuerySet.update()`` sends no signal: call ``bump_accounts_version()`` after one.
"""
from __future__ import annotations

import threading
import uuid

from django.core.cache import caches

from ..conf import app_settings
from ..models import Account

# account name -> (accounts version stamp, Account)
_accounts: dict[str, tuple[str, Account]] = {}
_lock = threading.Lock()


class AccountNotFound(LookupError):
    """No enabled account has this name."""


def _cache():
    return caches[app_settings.CACHE_ALIAS]


def version_key() -> str:
    return f"{app_settings.CACHE_PREFIX}:accounts-version"


def bump_accounts_version() -> None:
    """Make every process reload accounts on its next lookup."""
    _cache().set(version_key(), uuid.uuid4().hex, None)


def _current_stamp() -> str:
    cache = _cache()
    stamp = cache.get(version_key())
    if stamp is None:  # first use, or the cache was flushed: agree on one stamp across processes
        candidate = uuid.uuid4().hex
        stamp = candidate if cache.add(version_key(), candidate, None) else (cache.get(version_key()) or candidate)
    return stamp


def lookup_account(name: str, *, refresh: bool = False) -> tuple[Account, str]:
    """The enabled account called ``name`` and the accounts version it was loaded under.

    Without ``refresh`` a process that has served ``name`` before answers from memory with no
    I/O at all: the caller checks the returned stamp against ``version_key()`` in the round
    trip it makes anyway (the callback reads it with its dedupe claim), and calls again with
    ``refresh=True`` when it changed. Raises ``AccountNotFound``.
    """
    if not name or len(name) > 64:
        raise AccountNotFound(name)
    entry = None if refresh else _accounts.get(name)
    if entry is not None:
        return entry[1], entry[0]
    stamp = _current_stamp()
    account = Account.objects.filter(name=name, enabled=True).first()
    if account is None:
        # Unknown names are not remembered, so requests for random names cannot grow memory.
        _accounts.pop(name, None)
        raise AccountNotFound(name)
    with _lock:
        _accounts[name] = (stamp, account)
    return account, stamp


def stamp_is_current(stamp: str) -> bool:
    """Whether no account changed since ``stamp`` was read (one cache read)."""
    return _cache().get(version_key()) == stamp


def get_enabled_account(name: str) -> Account:
    """The enabled account called ``name``, checked against the current accounts version."""
    account, stamp = lookup_account(name)
    if not stamp_is_current(stamp):
        account, stamp = lookup_account(name, refresh=True)
    return account
