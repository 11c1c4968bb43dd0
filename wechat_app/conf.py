"""The app's settings: one namespaced dict, ``settings.WECHAT_APP``, with documented defaults.

Modelled on Django REST framework's ``settings.py``: unknown names are rejected (a typo must not
silently fall back to a default), dotted paths are imported on access, and the cached values are
dropped when a test changes the setting (``setting_changed``).

Usage::

    from wechat_app.conf import app_settings
    app_settings.TIMESTAMP_WINDOW

Never read a setting in a default argument or at import time: it would freeze there.
"""
from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from .client.hosts import WECHAT_API_BASE_URLS, WECOM_API_BASE_URLS

SETTINGS_NAME = "WECHAT_APP"

DEFAULTS = {
    # --- inbound callback ---------------------------------------------------------------------
    # Seconds a callback's timestamp may differ from the server clock before it is refused (403).
    # Guards against replay of captured requests. 0 disables the check.
    "TIMESTAMP_WINDOW": 300,
    # Largest request body the callback reads, in bytes; larger bodies get 413 unread.
    "MAX_BODY_SIZE": 1024 * 1024,
    # Let ``wechat_app.wsgi.callback_fast_path`` (when wsgi.py wraps the application with it)
    # serve the callback's POSTs without Django's request handling and middleware
    # (docs/callback-performance.md, "The fast path"). False: it hands every request to Django.
    "CALLBACK_FAST_PATH": True,
    # Seconds a processed message is remembered so that WeChat's retries (same MsgId, or for
    # events FromUserName + CreateTime + Event + EventKey) get the same reply and run no rule.
    "DEDUPE_TTL": 600,
    # How long a retry that arrives while the first delivery is still being processed waits for
    # that first answer, in seconds. WeChat gives up on an answer after 5 s.
    "DEDUPE_WAIT": 4.0,
    # Store the decrypted raw XML of every inbound message in the message log.
    "LOG_RAW_XML": True,
    # Buffer message-log rows in Redis and write them in bulk (the wechat_app.drain_message_log
    # beat task, every second) instead of one INSERT per message: for high message rates. Needs
    # django-redis as the cache (otherwise rows are inserted directly) and a Celery worker with
    # beat. Rows reach the database about a second late; none is lost (services/logbuffer.py).
    "LOG_BUFFER": False,
    # --- when Redis or the database fails (services/cachebatch.py, services/spool.py) ----------
    # After a cache error the callback skips the cache for this many seconds (it answers from
    # the rules in memory and deduplicates through the message log's unique key), then tries
    # again: a frozen Redis costs one socket timeout per process per interval, not one per call.
    "CACHE_RETRY_INTERVAL": 1.0,
    # Seconds after which a process re-reads an account it serves (and its rules revision) from
    # the database even though the cache announced no change: a change whose announcement was
    # lost (the cache was down when it was saved) reaches every process within this time.
    "RECHECK_INTERVAL": 30,
    # With a row per message (no LOG_BUFFER), a message of stored rules is answered without a
    # cache round trip: its log row's unique key is the dedupe claim (docs/callback-performance.md).
    # The account's and its rules' version stamps are then re-read from the cache at most this
    # many seconds apart, so a change saved by another process applies within this time (a
    # change saved by this process: at once). 0: every message asks the cache (no row claim).
    "STAMP_RECHECK": 0.5,
    # Accounts with at least this many stored rules have their compiled index built and refreshed
    # in a background thread while the previous index answers (docs/rule-index.md); smaller ones
    # inline, by the message that finds it stale (milliseconds). None: always inline.
    "INDEX_BACKGROUND_RULES": 2000,
    # Seconds a message waits for the very first build of a large account's index (no previous
    # one to answer with) before it is answered by the account's code rules alone (else the
    # account's no-match reply). Keep it well within WeChat's 5 seconds.
    "INDEX_FIRST_BUILD_WAIT": 2.0,
    # The first request a process serves starts building every enabled account's index in the
    # background (``wechat_app.engine.registry.warm()`` does it on demand, e.g. from wsgi.py).
    "INDEX_WARM_UP": True,
    # Directory of the spool: log rows the callback could not write because the database was
    # down, one fsynced line each, written to the database when it is back (by the next callback
    # of the process, the wechat_app.drain_spool beat task or ``manage.py wechat_spool``). Use a
    # persistent local directory. None: BASE_DIR/var/wechat_spool when settings.BASE_DIR
    # exists, else a wechat_app_spool directory in the system's temporary directory.
    "SPOOL_DIR": None,
    # Deliveries that could not be verified (the database was down and the process had never
    # loaded the account) are spooled only while the spool holds less than this many bytes:
    # anyone can post to the callback, and the disk must not fill up.
    "SPOOL_MAX_UNVERIFIED_BYTES": 64 * 1024 * 1024,
    # --- reply engine -------------------------------------------------------------------------
    # Cache alias used for rule-version stamps, follow-up state, dedupe and tokens.
    "CACHE_ALIAS": "default",
    # Prefix of every cache key the app writes.
    "CACHE_PREFIX": "wechat_app",
    # Default seconds a follow-up conversation waits for the user's next message.
    "FOLLOW_UP_TIMEOUT": 300,
    # Seconds a user's session dict (``context.session``, webot's ``info.session``) is kept after
    # a handler last changed it.
    "SESSION_TIMEOUT": 24 * 3600,
    # Modules imported at start-up so that their @rule / @before_reply / @after_reply decorators
    # register (like Celery's autodiscover). Each app's ``wechat_rules`` module is also imported.
    "RULE_MODULES": [],
    # --- rule files and the rule tree (bounds on what staff and API clients submit) --------------
    # Largest rule file an import reads, in bytes (admin upload or paste, REST API, wechat_rules).
    "RULE_FILE_MAX_SIZE": 1024 * 1024,
    # Deepest nesting of lists and mappings in a rule file. A follow-up level takes 3 and a reply
    # up to 4, so 40 fits RULE_MAX_DEPTH 10; YAML anchors and aliases are always refused.
    "RULE_FILE_MAX_NESTING": 40,
    # Most rules, follow-ups included, that one rule file may hold.
    "RULE_FILE_MAX_RULES": 10_000,
    # Deepest chain of follow-up rules: a top-level rule is at depth 1, its follow-ups at 2...
    # Enforced when a rule is saved (admin, REST API) or imported; deeper rows are ignored.
    "RULE_MAX_DEPTH": 10,
    # --- outbound API ---------------------------------------------------------------------------
    # Default base URL of the WeChat API for accounts that leave theirs empty. Set by the
    # installer, so it is always allowed.
    "API_BASE_URL": "https://api.weixin.qq.com",
    # The same for WeCom apps (docs/wecom.md): WeCom's API host, also always allowed.
    "WECOM_API_BASE_URL": "https://qyapi.weixin.qq.com",
    # The API base URLs an account may use (the app secret and tokens are sent there): entries
    # ``scheme://host[:port][/path]``; ``*`` as the port allows any port of that host. Default:
    # WeChat's hosts (api, api2 and the regional sh/sz/hk) and WeCom's (qyapi). To work with the
    # sandbox, add its URL, or ``"http://127.0.0.1:*"`` (loopback, any port) where the sandbox runs on changing ports.
    # Only superusers (or holders of wechat_app.change_account_credentials) edit an account's URL;
    # the client refuses a URL outside this list whatever way it was stored.
    "ALLOWED_API_BASE_URLS": [*WECHAT_API_BASE_URLS, *WECOM_API_BASE_URLS],
    # --- iLink bots (personal WeChat accounts, docs/ilink.md) --------------------------------------
    # Where QR logins start; the API base URL a login answers must be this or one of
    # ALLOWED_API_BASE_URLS (the bot token is sent there).
    "ILINK_API_BASE_URL": "https://ilinkai.weixin.qq.com",
    # The CDN media go through (encrypted), for bots whose own is not set.
    "ILINK_CDN_BASE_URL": "https://novac2c.cdn.weixin.qq.com/c2c",
    # How long getupdates and the QR status are long-polled, in seconds (iLink holds ~35 s).
    "ILINK_LONG_POLL_SECONDS": 35,
    # A QR login expires this many seconds after it started.
    "ILINK_LOGIN_TTL": 600,
    # The poller's back-off after errors: the first delay and the longest, in seconds.
    "ILINK_POLL_BACKOFF": 2,
    "ILINK_POLL_BACKOFF_MAX": 60,
    # Timeout of API calls in seconds: (connect, read).
    "API_TIMEOUT": (3.05, 10),
    # Use /cgi-bin/stable_token (does not invalidate tokens held by other systems) rather than
    # the classic /cgi-bin/token.
    "USE_STABLE_TOKEN": True,
    # Dotted path to a callable ``(account) -> str`` returning an access token, for
    # installations that share one token with another system. None: the app manages tokens.
    "TOKEN_PROVIDER": None,
    # Refresh tokens this many seconds before they expire.
    "TOKEN_REFRESH_MARGIN": 300,
    # --- outbound delivery (Celery) ------------------------------------------------------------
    # Attempts of a message on transient failures (-1, timeouts, 5xx) before it is failed.
    "OUTBOUND_MAX_ATTEMPTS": 8,
    # First retry delay in seconds; doubled each attempt (with jitter) up to the maximum.
    "OUTBOUND_RETRY_DELAY": 2.0,
    "OUTBOUND_RETRY_MAX_DELAY": 600.0,
    # Seconds to wait before retrying after a quota error (45009, 45011, 45047); retried without
    # limit, since the quota comes back.
    "OUTBOUND_QUOTA_DELAY": 60.0,
    # Seconds a worker holds a message it is sending; a crashed worker's message is taken over
    # after this.
    "OUTBOUND_LEASE": 60,
    # Campaign messages per second per account (shared by all workers), and recipients per task.
    "CAMPAIGN_RATE_LIMIT": 100,
    "CAMPAIGN_CHUNK_SIZE": 200,
    # Chunk tasks a campaign runs at once ("lanes"; each enqueues the next chunk when done).
    # At most the number of worker slots you want one campaign to occupy.
    "CAMPAIGN_CONCURRENCY": 4,
    # Seconds a code rule may take before the callback answers "success" and the eventual
    # reply goes out as a customer-service message.
    "REPLY_BUDGET": 4.0,
    # --- REST API (docs/api.md) ------------------------------------------------------------------
    # Accept HTTP Basic (a user's password on every request) besides API tokens and the admin
    # session. Off: machines use API tokens (manage.py wechat_api_token, or the admin).
    "API_BASIC_AUTH": False,
    # Serve the OpenAPI schema, Swagger UI and ReDoc pages (api/schema/, api/docs/, api/redoc/)
    # to anyone. False: only to the users the API serves (active staff, by session or token).
    "API_DOCS_PUBLIC": False,
    # Requests allowed per API token, per signed-in user (session) and per client address
    # (unauthenticated), as "N/second", "N/minute", "N/hour" or "N/day"; None: no limit. Counted
    # in fixed windows in the cache (CACHE_ALIAS: share Redis between processes for one count);
    # past the limit the API answers 429 with Retry-After.
    "API_THROTTLE_RATES": {"token": "1200/minute", "user": "1200/minute", "anon": "60/minute"},
    # Rows per page of the API's lists (?limit= may ask for up to API_MAX_PAGE_SIZE).
    "API_PAGE_SIZE": 50,
    "API_MAX_PAGE_SIZE": 1000,
    # drf-spectacular settings applied to the app's schema and docs pages over the app's own
    # (wechat_app/api/schema.py: title, version, description, the sidecar's local files...), e.g.
    # {"TITLE": "Shop API", "SERVERS": [{"url": "https://shop.example.com"}]}. The project's
    # SPECTACULAR_SETTINGS do not apply to the app's schema.
    "API_SCHEMA_SETTINGS": {},
    # --- the web side: OAuth login for H5 pages, JS-SDK (docs/web.md) ---------------------------
    # WeChat's authorize page for accounts on WeChat's API hosts. An account whose API base URL
    # points elsewhere (the sandbox) is sent to ``<its API base URL>/connect/oauth2/authorize``,
    # so the browser never leaves the hosts ALLOWED_API_BASE_URLS already trusts.
    "OAUTH_AUTHORIZE_URL": "https://open.weixin.qq.com/connect/oauth2/authorize",
    # True: a WeChat user who logs in for the first time gets a Django user (no password).
    # False: only WeChat users linked to a Django user log in; a signed-in Django user who goes
    # through the login links their WeChat identity to their own user.
    "OAUTH_CREATE_USERS": True,
    # Seconds a login's ``state`` stays valid (single use, kept in the session).
    "OAUTH_STATE_TTL": 600,
    # JS-SDK configuration requests per client address per minute (0: no limit).
    "JSSDK_RATE_LIMIT": 60,
    # --- media (docs/media.md) -----------------------------------------------------------------
    # Fetch the file of every image, voice, video and shortvideo message users send
    # (/cgi-bin/media/get: WeChat keeps it three days) into MEDIA_STORAGE, by a Celery task.
    "FETCH_INCOMING_MEDIA": False,
    # Alias in settings.STORAGES of the storage that keeps incoming media and the local copies
    # of the material library. The files are private: the admin serves them after checking the
    # account; do not expose this storage's URL publicly.
    "MEDIA_STORAGE": "default",
    # Path prefix of the app's files in that storage (<prefix>/<account id>/incoming|material/...).
    "MEDIA_PATH_PREFIX": "wechat_media",
    # Attempts of a failed fetch (transient errors, quota, network) before it is failed; the
    # delay starts at OUTBOUND_RETRY_DELAY and doubles up to OUTBOUND_RETRY_MAX_DELAY.
    "MEDIA_FETCH_MAX_ATTEMPTS": 6,
    # Largest file a fetch stores, in bytes (WeChat's own limits are 10 MB).
    "MEDIA_MAX_FETCH_SIZE": 20 * 1024 * 1024,
    # --- the agent gateway (docs/agent-gateway.md) -----------------------------------------------
    # Seconds the POST of an event to an agent's callback URL may take before it counts as failed.
    "AGENT_CALLBACK_TIMEOUT": 10.0,
    # First retry delay of a failed callback in seconds; doubled each attempt (with jitter) up to
    # the maximum. The attempt limit is per account (agent settings).
    "AGENT_RETRY_DELAY": 2.0,
    "AGENT_RETRY_MAX_DELAY": 300.0,
    # Seconds an inbox claim holds an event when the worker names no lease, and the longest lease
    # a worker may ask for; an event whose lease ends before it is completed returns to pending.
    "AGENT_DEFAULT_LEASE": 300,
    "AGENT_MAX_LEASE": 3600,
    # The only directory whose files the agent may send by path (``file:///...`` or ``/...``)
    # through ``agent/send/``; None: sending local files is refused (http(s) URLs still work).
    "AGENT_FILE_ROOT": None,
    # Largest file the agent may send, in bytes (downloaded or read).
    "AGENT_MAX_FILE_SIZE": 20 * 1024 * 1024,
}

# Settings whose value is a dotted path to import.
IMPORT_STRINGS = {"TOKEN_PROVIDER"}


def import_from_string(value, setting_name):
    """Import a dotted ``module.attr`` path, naming the setting in the error."""
    try:
        module_path, attr = value.rsplit(".", 1)
        return getattr(import_module(module_path), attr)
    except (ImportError, AttributeError, ValueError) as err:
        raise ImproperlyConfigured(
            f"Could not import {value!r} for {SETTINGS_NAME}[{setting_name!r}]: {err}"
        ) from err


class AppSettings:
    """Attribute access to ``settings.WECHAT_APP`` merged over ``DEFAULTS``."""

    def __init__(self, defaults=None, import_strings=None):
        self.defaults = defaults or DEFAULTS
        self.import_strings = import_strings or IMPORT_STRINGS
        self._cached = set()
        self._user = None

    @property
    def user_settings(self):
        if self._user is None:
            user = getattr(settings, SETTINGS_NAME, {}) or {}
            if not isinstance(user, dict):
                raise ImproperlyConfigured(f"settings.{SETTINGS_NAME} must be a dict.")
            unknown = sorted(set(user) - set(self.defaults))
            if unknown:
                raise ImproperlyConfigured(
                    f"Unknown name(s) in settings.{SETTINGS_NAME}: {', '.join(unknown)}. "
                    f"Known names: {', '.join(sorted(self.defaults))}."
                )
            self._user = user
        return self._user

    def __getattr__(self, name):
        if name not in self.defaults:
            raise AttributeError(f"Invalid {SETTINGS_NAME} setting: {name!r}")
        value = self.user_settings.get(name, self.defaults[name])
        if name in self.import_strings and isinstance(value, str):
            value = import_from_string(value, name)
        self._cached.add(name)
        setattr(self, name, value)
        return value

    def reload(self):
        for name in self._cached:
            delattr(self, name)
        self._cached.clear()
        self._user = None


app_settings = AppSettings()


def _reload(*, setting, **kwargs):
    if setting == SETTINGS_NAME:
        app_settings.reload()


setting_changed.connect(_reload)
