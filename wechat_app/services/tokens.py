"""Access tokens and JS-SDK tickets in the Django cache, refreshed single-flight.

Whatever the number of concurrent callers (threads or processes) on a cold or expired token,
exactly one request goes to WeChat: callers take a lock (a Redis lock with django-redis, an
atomic ``cache.add`` lock for other shared caches, a process lock for the local-memory cache,
which is per process anyway), re-read the cache, and only the first one fetches.

The entry is ``{"value": ..., "expires_at": epoch}``, stored with WeChat's ``expires_in`` as
its cache timeout. ``refresh_if_due`` (the beat task) refreshes ahead of expiry by
``TOKEN_REFRESH_MARGIN`` so callers do not wait in steady state; with stable_token WeChat
hands out a new token during the last 5 minutes while the old one keeps working.
https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/getStableAccessToken.html
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

from ..client import DisallowedBaseURL, WeChatClient, WeComClient
from ..conf import SETTINGS_NAME, app_settings
from ..models.accounts import api_base_url_allowed

logger = logging.getLogger("wechat_app.tokens")

# Seconds before expiry at which a cached value is no longer handed out: the request using it
# must still reach WeChat in time.
USE_SAFETY = 10
LOCK_TIMEOUT = 15  # a holder that dies releases the lock after this (seconds)
LOCK_WAIT = 20  # how long a caller waits for another's fetch before fetching itself

_local_locks: dict[str, threading.Lock] = {}
_local_locks_guard = threading.Lock()


def get_cache():
    return caches[app_settings.CACHE_ALIAS]


def _local_lock(name: str) -> threading.Lock:
    with _local_locks_guard:
        return _local_locks.setdefault(name, threading.Lock())


@contextlib.contextmanager
def single_flight(name: str, timeout: float = LOCK_TIMEOUT, wait: float = LOCK_WAIT):
    """Hold the lock ``name`` across threads and processes; yields whether it was acquired.

    Threads of one process queue on a local lock first, so at most one per process polls the
    shared lock. When the shared lock cannot be had within ``wait`` seconds the block runs
    anyway (yielding False): a duplicate fetch is better than a failed call.
    """
    cache = get_cache()
    key = f"{app_settings.CACHE_PREFIX}:lock:{name}"
    local = _local_lock(key)
    if not local.acquire(timeout=wait):
        yield False
        return
    try:
        if isinstance(cache, LocMemCache):  # per-process cache: the process lock is enough
            yield True
        elif hasattr(cache, "lock"):  # django-redis
            lock = cache.lock(key, timeout=timeout, sleep=0.01, blocking_timeout=wait)
            acquired = lock.acquire()
            try:
                yield acquired
            finally:
                if acquired:
                    with contextlib.suppress(Exception):  # expired meanwhile: nothing to release
                        lock.release()
        else:  # any shared cache with an atomic add (memcached, database, ...)
            owner = uuid.uuid4().hex
            deadline = time.monotonic() + wait
            acquired = cache.add(key, owner, timeout)
            while not acquired and time.monotonic() < deadline:
                time.sleep(0.02)
                acquired = cache.add(key, owner, timeout)
            try:
                yield acquired
            finally:
                if acquired and cache.get(key) == owner:
                    cache.delete(key)
    finally:
        local.release()


@dataclass
class CachedCredential:
    """One cached credential (an access token or a ticket) of one app.

    ``fetch(force)`` returns ``(value, expires_in)``; ``force`` asks WeChat for a new value
    even if it would hand out the current one (stable_token's force_refresh).
    """

    name: str
    fetch: Callable[[bool], tuple[str, int]] | None

    @property
    def key(self) -> str:
        return f"{app_settings.CACHE_PREFIX}:cred:{self.name}"

    def peek(self) -> dict | None:
        """The cached entry (``value``, ``expires_at``) or None; never fetches."""
        entry = get_cache().get(self.key)
        return entry if isinstance(entry, dict) else None

    def get(self) -> str:
        entry = self.peek()
        if entry and entry["expires_at"] - time.time() > USE_SAFETY:
            return entry["value"]
        with single_flight(self.name):
            entry = self.peek()  # another caller may have fetched while we waited
            if entry and entry["expires_at"] - time.time() > USE_SAFETY:
                return entry["value"]
            return self._fetch_and_store()

    def refresh(self, force: bool = False) -> str:
        """Fetch now (single-flight), replacing the cached value."""
        with single_flight(self.name):
            return self._fetch_and_store(force)

    def refresh_if_due(self, margin: float) -> bool:
        """Refresh when less than ``margin`` seconds are left (or nothing is cached)."""
        entry = self.peek()
        if entry and entry["expires_at"] - time.time() > margin:
            return False
        with single_flight(self.name):
            entry = self.peek()
            if entry and entry["expires_at"] - time.time() > margin:
                return False  # a concurrent refresher was first
            self._fetch_and_store()
            return True

    def invalidate(self, value: str) -> None:
        """Forget ``value`` if it is still the cached one (WeChat refused it)."""
        cache = get_cache()
        with single_flight(self.name):
            entry = self.peek()
            if entry and entry["value"] == value:
                cache.delete(self.key)
            # Remembered so that a fetch answering the same refused value forces a new one.
            cache.set(self.key + ":refused", value, 120)

    def _fetch_and_store(self, force: bool = False) -> str:
        cache = get_cache()
        value, expires_in = self.fetch(force)
        if not force and value == cache.get(self.key + ":refused"):
            logger.info("WeChat handed out the refused %s again; forcing a refresh", self.name)
            value, expires_in = self.fetch(True)
        cache.set(self.key, {"value": value, "expires_at": time.time() + expires_in}, max(1, int(expires_in)))
        logger.info("fetched %s (expires in %ss)", self.name, expires_in)
        return value


def _scope(account, fingerprint: str | None = None) -> str:
    # A token belongs to the account and to the credentials that obtained it (app id, secret,
    # API base URL, as a keyed digest): another account with the same app id, or this account
    # after its credentials changed, never gets it.
    return f"{account.pk or 'unsaved'}:{fingerprint or account.credentials_fingerprint()}"


def _credential_names(account, fingerprint: str | None = None) -> list[str]:
    scope = _scope(account, fingerprint)
    return [f"token:{scope}", f"jsapi:{scope}"]


def access_token_credential(account, client: WeChatClient | None = None) -> CachedCredential:
    def fetch(force):
        return (client or get_client(account)).token.fetch(force_refresh=force)

    return CachedCredential(_credential_names(account)[0], fetch)


def jsapi_ticket_credential(account, client: WeChatClient | None = None) -> CachedCredential:
    def fetch(force):
        return (client or get_client(account)).jssdk.fetch_ticket("jsapi")

    return CachedCredential(_credential_names(account)[1], fetch)


def forget_credentials(account, fingerprint: str | None = None) -> None:
    """Drop the account's cached access token and JS-SDK tickets (of the credentials with
    ``fingerprint``; default: its current ones). Called when its credentials change or it is
    deleted (``receivers``), so admin, REST API and commands all get it."""
    cache = get_cache()
    keys = []
    for name in _credential_names(account, fingerprint):
        key = CachedCredential(name, fetch=None).key
        keys += [key, key + ":refused"]
    cache.delete_many(keys)
    logger.info("dropped the cached token and tickets of account %s", account.pk)


class AccountTokenProvider:
    """The token provider of an account's client: the cache, single-flight."""

    def __init__(self, account):
        self.account = account

    def credential(self, client) -> CachedCredential:
        return access_token_credential(self.account, client)

    def get_token(self, client):
        return self.credential(client).get()

    def invalidate(self, client, token):
        self.credential(client).invalidate(token)


class ExternalTokenProvider:
    """Tokens from ``TOKEN_PROVIDER`` (a callable ``(account) -> str``), for installations that
    share one token with another system. If the callable has an ``invalidate(account, token)``
    attribute, it is told about refused tokens."""

    def __init__(self, account, func):
        self.account = account
        self.func = func

    def get_token(self, client):
        token = self.func(self.account)
        if not token or not isinstance(token, str):
            from ..client import WeChatAPIError

            raise WeChatAPIError(None, "TOKEN_PROVIDER returned no token", "token provider")
        return token

    def invalidate(self, client, token):
        hook = getattr(self.func, "invalidate", None)
        if hook:
            hook(self.account, token)


def get_client(account) -> WeChatClient | WeComClient:
    """The API client of an account, with its token provider and the configured timeouts: a
    ``WeComClient`` for WeCom apps (corp id, app secret, agent id), else a ``WeChatClient``.
    Both kinds share the cached, single-flight token store (keyed by the credentials).

    Raises ``DisallowedBaseURL`` when the account's API base URL is not allowed by the settings
    (a row written around validation, or settings narrowed since): nothing is sent there.
    """
    if not api_base_url_allowed(account.effective_api_base_url):
        raise DisallowedBaseURL(f"the API base URL of account {account.name!r} is not in "
                                f"{SETTINGS_NAME}['ALLOWED_API_BASE_URLS']", "client")
    provider_func = app_settings.TOKEN_PROVIDER
    if account.channel == "wecom":
        client = WeComClient(account.app_id, account.app_secret, account.effective_api_base_url,
                             agent_id=account.agent_id, timeout=app_settings.API_TIMEOUT)
    else:
        client = WeChatClient(account.app_id, account.app_secret, account.effective_api_base_url,
                              timeout=app_settings.API_TIMEOUT, use_stable_token=app_settings.USE_STABLE_TOKEN)
    client.token_provider = (ExternalTokenProvider(account, provider_func) if provider_func
                             else AccountTokenProvider(account))
    return client


def get_access_token(account) -> str:
    client = get_client(account)
    return client.token_provider.get_token(client)


def refresh_access_token(account, force: bool = False) -> str:
    """Fetch a new token now (``force``: stable_token's force_refresh, which revokes the old)."""
    client = get_client(account)
    return access_token_credential(account, client).refresh(force)


def token_status(account) -> dict | None:
    """The cached token entry (value and expiry) of an account, without fetching."""
    return access_token_credential(account).peek()


def get_jsapi_ticket(account) -> str:
    client = get_client(account)
    return jsapi_ticket_credential(account, client).get()


def refresh_due_credentials(account, margin: float | None = None) -> dict[str, bool]:
    """Refresh the account's token and (if one was ever fetched) its JS-SDK ticket when due."""
    margin = app_settings.TOKEN_REFRESH_MARGIN if margin is None else margin
    client = get_client(account)
    done = {}
    if not app_settings.TOKEN_PROVIDER:
        done["access_token"] = access_token_credential(account, client).refresh_if_due(margin)
    ticket = jsapi_ticket_credential(account, client)
    if ticket.peek() is not None:
        done["jsapi_ticket"] = ticket.refresh_if_due(margin)
    return done


def jssdk_config(account, url: str, debug: bool = False) -> dict:
    """The ``wx.config`` parameters for a page ``url`` (fragment removed)."""
    from ..client import jssdk_signature

    signed = jssdk_signature(get_jsapi_ticket(account), url)
    return {"debug": debug, "appId": account.app_id, "timestamp": signed["timestamp"],
            "nonceStr": signed["nonceStr"], "signature": signed["signature"]}
