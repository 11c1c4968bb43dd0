"""Looking up accounts on the callback's hot path without a database query per message.

Each process keeps the enabled accounts it has served, tagged with an *accounts version*: a
random stamp in the Django cache replaced whenever any account is saved or deleted (receivers).
A lookup costs one cache read while nothing changed (the callback folds it into the round trip
it makes anyway); a change reaches every process on its next message. ``QuerySet.update()`` sends no signal: call ``bump_accounts_version()`` after one.

The cache is only the fast path. Every ``RECHECK_INTERVAL`` seconds a process re-reads each
account it serves from the database (one query), so a change whose stamp was lost (the cache
was down) arrives anyway, with the account's ``rules_revision`` (services/rules.py). While the
database is down, the accounts in memory go on serving; an account never loaded raises
``AccountUnavailable``.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass

from django.core.cache import caches

from ..conf import app_settings
from ..models import Account
from ..models.accounts import name_validator
from . import stampcheck
from .cachebatch import UNAVAILABLE, FailSafeCache, health
from .spool import DATABASE_DOWN

logger = logging.getLogger("wechat_app.inbound")


@dataclass
class _Entry:
    account: Account
    stamp: str | None  # the accounts version it was loaded under (None: the cache was unavailable)
    checked_at: float  # time.monotonic() of the last database read

    def due(self) -> bool:
        """Whether to read the account again: the recheck interval passed, or it was loaded while
        the cache was down and the cache may be back (a change may have been announced meanwhile)."""
        if self.stamp is None and health.available():
            return True
        return time.monotonic() - self.checked_at >= float(app_settings.RECHECK_INTERVAL)


_NAME = name_validator.regex

# account name -> _Entry
_accounts: dict[str, _Entry] = {}
_lock = threading.Lock()


class AccountNotFound(LookupError):
    """No enabled account has this name."""


class AccountUnavailable(LookupError):
    """The database is unreachable and this process has never loaded the account."""


def _cache():
    return caches[app_settings.CACHE_ALIAS]


def version_key() -> str:
    return f"{app_settings.CACHE_PREFIX}:accounts-version"


def bump_accounts_version() -> None:
    """Make every process reload accounts on its next lookup."""
    FailSafeCache(_cache()).set(version_key(), uuid.uuid4().hex, None)
    stampcheck.forget()  # this process's row-claim path reads the new stamp before trusting its own


def _current_stamp() -> str | None:
    """The accounts version (made up when missing), or None if the cache is unavailable."""
    cache = FailSafeCache(_cache())
    stamp = cache.get(version_key())
    if stamp is None:  # first use, or the cache was flushed: agree on one stamp across processes
        candidate = uuid.uuid4().hex
        added = cache.add(version_key(), candidate, None)
        if added is UNAVAILABLE:
            return None
        stamp = candidate if added else cache.get(version_key()) or candidate
    return None if stamp is UNAVAILABLE else stamp


def check_name(name: str) -> None:
    """Raise ``AccountNotFound`` unless ``name`` could be an account's name (no query)."""
    if not name or len(name) > 64 or not _NAME.match(name):
        raise AccountNotFound(name)


def lookup_account(name: str, *, refresh: bool = False) -> tuple[Account, str | None]:
    """The enabled account called ``name`` and the accounts version it was loaded under.

    Without ``refresh`` a process that has served ``name`` before answers from memory with no
    I/O at all: the caller checks the returned stamp against ``version_key()`` in the round
    trip it makes anyway (the callback reads it with its dedupe claim), and calls again with
    ``refresh=True`` when it changed. A None stamp means the cache was unavailable: nothing to
    check. Raises ``AccountNotFound``, or ``AccountUnavailable`` when the database is down and
    the account is not in memory.
    """
    check_name(name)
    entry = _accounts.get(name)
    if entry is not None and not refresh and not entry.due():
        return entry.account, entry.stamp
    stamp = _current_stamp()
    try:
        # With its agent settings (services/agent.py): whether to hand a message over costs no query.
        account = Account.objects.filter(name=name, enabled=True).select_related("agent_settings").first()
    except DATABASE_DOWN as err:
        if entry is None:
            raise AccountUnavailable(name) from err
        # Serve the account we have; look again after the recheck interval.
        logger.warning("The database is unreachable: account %r is served from memory", name)
        entry.checked_at = time.monotonic()
        return entry.account, entry.stamp
    if account is None:
        # Unknown names are not remembered, so requests for random names cannot grow memory.
        with _lock:
            _accounts.pop(name, None)
        raise AccountNotFound(name)
    with _lock:
        _accounts[name] = _Entry(account, stamp, time.monotonic())
    return account, stamp


def stamp_is_current(stamp: str | None) -> bool:
    """Whether no account changed since ``stamp`` was read (one cache read; True if it cannot tell)."""
    if stamp is None:
        return True
    current = FailSafeCache(_cache()).get(version_key())
    return current is UNAVAILABLE or current == stamp


def get_enabled_account(name: str) -> Account:
    """The enabled account called ``name``, checked against the current accounts version."""
    account, stamp = lookup_account(name)
    if not stamp_is_current(stamp):
        account, _ = lookup_account(name, refresh=True)
    return account
