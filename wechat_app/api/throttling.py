"""Request rates per API token, per signed-in user and per client address (``API_THROTTLE_RATES``).

A fixed-window counter in the app's cache: one atomic ``incr`` per request, so every process that
shares the cache (Redis) shares the count, unlike a read-modify-write of a request history. A window
lets at most twice the rate through across its edge; the answer past the limit is 429 with
Retry-After (the seconds until the window ends). When the cache fails, requests are let through:
the limit protects the service, it must not take it down.
"""
from __future__ import annotations

import logging
import re
import time

from django.core.cache import caches
from rest_framework.throttling import BaseThrottle

from ..conf import app_settings
from ..services.access import request_token

logger = logging.getLogger("wechat_app.api")

PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600,
           "d": 86400, "day": 86400}
RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+)\s*$")
SCOPES = ("token", "user", "anon")


def parse_rate(rate) -> tuple[int, int] | None:
    """``"600/minute"`` -> ``(600, 60)``; None for no limit; ``ValueError`` if it is not a rate."""
    if rate is None:
        return None
    match = RATE_RE.match(rate) if isinstance(rate, str) else None
    if not match or match.group(2) not in PERIODS or int(match.group(1)) < 1:
        raise ValueError(f"{rate!r} is not a rate: use 'N/second', 'N/minute', 'N/hour' or 'N/day' "
                         "(N >= 1), or None for no limit")
    return int(match.group(1)), PERIODS[match.group(2)]


class ApiRateThrottle(BaseThrottle):
    """The scope of a request: its API token, else its user, else its client address."""

    def scope_and_ident(self, request):
        user = getattr(request, "user", None)
        token = request_token(user) if user is not None else None
        if token is not None:
            return "token", str(token.pk)
        if user is not None and user.is_authenticated:
            return "user", str(user.pk)
        return "anon", self.get_ident(request)

    def allow_request(self, request, view):
        self.wait_seconds = None
        scope, ident = self.scope_and_ident(request)
        rates = app_settings.API_THROTTLE_RATES or {}
        try:
            rate = parse_rate(rates.get(scope))
        except ValueError:
            return True  # reported by manage.py check (wechat_app.E040)
        if rate is None:
            return True
        limit, period = rate
        now = time.time()
        window = int(now // period)
        key = f"{app_settings.CACHE_PREFIX}:throttle:{scope}:{ident}:{period}:{window}"
        try:
            cache = caches[app_settings.CACHE_ALIAS]
            if cache.add(key, 1, timeout=period + 1):
                count = 1
            else:
                try:
                    count = cache.incr(key)
                except ValueError:  # expired between add and incr
                    cache.add(key, 1, timeout=period + 1)
                    count = 1
        except Exception:  # noqa: BLE001 - the cache is down: let the request through
            logger.warning("API throttling skipped: the cache failed", exc_info=True)
            return True
        if count <= limit:
            return True
        self.wait_seconds = max(1, int((window + 1) * period - now + 0.999))
        return False

    def wait(self):
        return self.wait_seconds
