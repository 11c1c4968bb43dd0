"""When this process last saw, in the cache, the version stamps it answers an account with.

The callback's row-claim path (``services.inbound``, docs/callback-performance.md) answers a
message without asking the cache: the log row's unique key is its dedupe claim. What it gives up
is the per-message check that the account and its rules are the ones this process loaded, which
the cache round trip of the other paths makes in passing. So it re-reads the two stamps itself
when it last saw them more than ``STAMP_RECHECK`` seconds ago (one MGET per account and
interval): a change saved by another process applies here within that time (a change of rules
takes up to that plus the index refresh). A change saved by this process applies at once:
``forget`` is called when it announces one.
"""
from __future__ import annotations

import time

from ..conf import app_settings

# account id -> (time.monotonic() when seen, accounts stamp, rules stamp)
_seen: dict[int, tuple[float, str, str]] = {}


def fresh(account_id: int, accounts_stamp: str, rules_stamp: str) -> bool:
    """Whether the cache showed these stamps for the account within ``STAMP_RECHECK`` seconds."""
    entry = _seen.get(account_id)
    return (entry is not None and entry[1] == accounts_stamp and entry[2] == rules_stamp
            and time.monotonic() - entry[0] < app_settings.STAMP_RECHECK)


def seen(account_id: int, accounts_stamp: str, rules_stamp: str) -> None:
    """The cache has just shown these stamps for the account."""
    if len(_seen) > 10_000:
        _seen.clear()
    _seen[account_id] = (time.monotonic(), accounts_stamp, rules_stamp)


def forget(account_id: int | None = None) -> None:
    """This process changed an account (None: any account): read the stamps again before trusting them."""
    if account_id is None:
        _seen.clear()
    else:
        _seen.pop(account_id, None)
