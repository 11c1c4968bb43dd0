"""Looking up accounts on the callback's hot path without a database query per message.

Each process keeps the enabled accounts it has served, tagged with an *accounts version*: a
random stamp in the Django cache replaced whenever any account is saved or deleted (receivers).
A lookup costs one cache read while nothing changed; a change reaches every process on its next
message. ``QuerySet.update()`` sends no signal: call ``bump_accounts_version()`` after one.
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


def _version_key() -> str:
    return f"{app_settings.CACHE_PREFIX}:accounts-version"


def bump_accounts_version() -> None:
    """Make every process reload accounts on its next lookup."""
    _cache().set(_version_key(), uuid.uuid4().hex, None)


def _current_stamp() -> str:
    cache = _cache()
    stamp = cache.get(_version_key())
    if stamp is None:  # first use, or the cache was flushed: agree on one stamp across processes
        candidate = uuid.uuid4().hex
        stamp = candidate if cache.add(_version_key(), candidate, None) else (cache.get(_version_key()) or candidate)
    return stamp


def get_enabled_account(name: str) -> Account:
    """The enabled account called ``name``, or ``AccountNotFound``.

    Unknown names are not remembered, so that requests for random names cannot grow the cache;
    they cost one indexed query each.
    """
    if not name or len(name) > 64:
        raise AccountNotFound(name)
    stamp = _current_stamp()
    entry = _accounts.get(name)
    if entry is not None and entry[0] == stamp:
        return entry[1]
    account = Account.objects.filter(name=name, enabled=True).first()
    if account is None:
        _accounts.pop(name, None)
        raise AccountNotFound(name)
    with _lock:
        _accounts[name] = (stamp, account)
    return account


def clear_local_accounts() -> None:
    """Forget this process's accounts (tests; the version stamp handles normal use)."""
    _accounts.clear()
