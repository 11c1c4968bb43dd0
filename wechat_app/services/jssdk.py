"""JS-SDK pages: which page URLs may get a ``wx.config`` signature, and how often.

WeChat signs any URL it is asked about; the account's console lists the JS safe domains
(JS接口安全域名) where ``wx.config`` works. The app refuses other URLs up front (a signature for
someone else's page is of no use to the account, and every request may cost a ticket fetch),
and limits requests per client address (``JSSDK_RATE_LIMIT`` a minute).
"""
from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from django.core.cache import caches

from ..conf import app_settings
from ..models.accounts import parse_js_domains

logger = logging.getLogger("wechat_app.jssdk")
MAX_URL = 2048


class PageNotAllowed(ValueError):
    """The URL cannot get a JS-SDK configuration (the message says why)."""


def check_page_url(account, url: str) -> str:
    """``url`` if it is an http(s) page on one of the account's JS safe domains; else PageNotAllowed."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > MAX_URL \
            or any(ord(c) < 33 for c in url):
        raise PageNotAllowed(f"Give the page address as ?url=http(s)://... (at most {MAX_URL} characters).")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        port = parts.port
    except ValueError:
        raise PageNotAllowed("The page address is not a valid URL.") from None
    if parts.username or parts.password:
        raise PageNotAllowed("The page address has no user name or password.")
    allowed = parse_js_domains(account.js_domains)
    # A domain without a port allows the scheme's default port only; "host:port" that port.
    if port in (None, {"http": 80, "https": 443}[parts.scheme]):
        port = None
    netloc = f"{host}:{port}" if port else host
    if host and netloc in allowed:
        return url
    if not allowed:
        raise PageNotAllowed(f"The account {account.name!r} has no JS safe domains: add the page's host to them.")
    raise PageNotAllowed(f"{netloc or 'This host'} is not one of the account's JS safe domains.")


def rate_limited(client_key: str) -> bool:
    """Count one request of ``client_key`` (an address); True when over the minute's limit.
    A cache that fails lets the request through (the limit protects WeChat's quota, not security)."""
    limit = app_settings.JSSDK_RATE_LIMIT
    if not limit:
        return False
    key = f"{app_settings.CACHE_PREFIX}:jssdk_rate:{client_key}:{int(time.time() // 60)}"
    cache = caches[app_settings.CACHE_ALIAS]
    try:
        cache.add(key, 0, timeout=90)
        count = cache.incr(key)
    except Exception as err:  # noqa: BLE001 - the cache is down: do not block pages
        logger.warning("JS-SDK rate limit skipped: cache error %s", type(err).__name__)
        return False
    return count > limit
