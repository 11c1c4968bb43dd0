"""System checks with stable ids (``wechat_app.E001`` ...), run by ``manage.py check`` and at
start-up: a wrong setting is reported by name before the first message or task fails on it.

E001 the settings cannot be read (not a dict, unknown names); E002-E004 the callback;
E010-E024 the outbound side (API client, tokens, delivery, campaigns); E025 an API base URL
allow-list entry that is not an http(s) base URL; E030-E033 bounds on rule files and the rule tree;
E034-E036 fault tolerance (cache retry, database recheck, spool cap); E037 the session
timeout; E040-E044 the REST API (throttle rates, required apps, booleans, page sizes, schema
settings), W040 no staticfiles app for the docs pages, W041 public API docs with DEBUG off;
E050-E052 the compiled rule index (background size, first-build wait, warm-up); E070-E072 the
web side (OAuth user creation, state lifetime, JS-SDK rate limit); E060-E062 media storage and
fetching; E080-E081 the agent gateway (file root, numbers); E090-E091 iLink bots (base URLs,
long-poll, login and back-off times); W001-W003 legal but harmful
values; W004 an allow-list entry in plain http to a host other than loopback (secrets would cross
the network unencrypted); W010 no linear-time regex engine; W030 a spool directory that cannot be
written; W070 an OAuth authorize URL that is not https.
"""
from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning, register

from .client.hosts import parse_base_url
from .conf import SETTINGS_NAME, app_settings


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _timeout(value) -> tuple[float, float] | None:
    """``API_TIMEOUT`` as ``(connect, read)`` seconds, or None if it is not a valid timeout."""
    if _number(value) and value > 0:
        return float(value), float(value)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(_number(v) and v > 0 for v in value):
        return float(value[0]), float(value[1])
    return None


# name -> (check id, is the value valid?, what it must be)
RULES = {
    "TIMESTAMP_WINDOW": ("E002", lambda v: _int(v) and v >= 0, "a non-negative integer (seconds)"),
    "MAX_BODY_SIZE": ("E003", lambda v: _int(v) and v > 0, "a positive integer (bytes)"),
    "CALLBACK_FAST_PATH": ("E004", lambda v: isinstance(v, bool), "True or False"),
    "API_BASE_URL": ("E010", lambda v: isinstance(v, str) and v.startswith(("http://", "https://")),
                     "an http(s) URL"),
    "WECOM_API_BASE_URL": ("E010", lambda v: isinstance(v, str) and v.startswith(("http://", "https://")),
                           "an http(s) URL"),
    "API_TIMEOUT": ("E011", lambda v: _timeout(v) is not None,
                    "a positive number of seconds or a (connect, read) pair of them"),
    "USE_STABLE_TOKEN": ("E012", lambda v: isinstance(v, bool), "True or False"),
    "TOKEN_REFRESH_MARGIN": ("E014", lambda v: _number(v) and 0 <= v < 7200,
                             "a number of seconds from 0 to 7199 (tokens live 7200 s)"),
    "OUTBOUND_MAX_ATTEMPTS": ("E015", lambda v: _int(v) and v >= 1, "an integer >= 1"),
    "OUTBOUND_RETRY_DELAY": ("E016", lambda v: _number(v) and v > 0, "a positive number of seconds"),
    "OUTBOUND_RETRY_MAX_DELAY": ("E017", lambda v: _number(v) and v > 0, "a positive number of seconds"),
    "OUTBOUND_QUOTA_DELAY": ("E018", lambda v: _number(v) and v > 0, "a positive number of seconds"),
    "OUTBOUND_LEASE": ("E019", lambda v: _number(v) and v > 0, "a positive number of seconds"),
    "CAMPAIGN_RATE_LIMIT": ("E020", lambda v: _int(v) and v >= 0,
                            "a non-negative integer (messages per second; 0: no limit)"),
    "CAMPAIGN_CHUNK_SIZE": ("E021", lambda v: _int(v) and v >= 1, "an integer >= 1"),
    "CAMPAIGN_CONCURRENCY": ("E022", lambda v: _int(v) and v >= 1, "an integer >= 1"),
    "REPLY_BUDGET": ("E023", lambda v: _number(v) and v > 0, "a positive number of seconds"),
    "OAUTH_CREATE_USERS": ("E070", lambda v: isinstance(v, bool), "True or False"),
    "OAUTH_STATE_TTL": ("E071", lambda v: _int(v) and 30 <= v <= 86400, "an integer from 30 to 86400 (seconds)"),
    "JSSDK_RATE_LIMIT": ("E072", lambda v: _int(v) and v >= 0,
                         "a non-negative integer (requests per address per minute; 0: no limit)"),
    "RULE_FILE_MAX_SIZE": ("E030", lambda v: _int(v) and v > 0, "a positive integer (bytes)"),
    "RULE_FILE_MAX_NESTING": ("E031", lambda v: _int(v) and 1 <= v <= 200, "an integer from 1 to 200"),
    "RULE_FILE_MAX_RULES": ("E032", lambda v: _int(v) and v > 0, "a positive integer"),
    "RULE_MAX_DEPTH": ("E033", lambda v: _int(v) and 1 <= v <= 50, "an integer from 1 to 50"),
    "CACHE_RETRY_INTERVAL": ("E034", lambda v: _number(v) and v >= 0, "a non-negative number of seconds"),
    "RECHECK_INTERVAL": ("E035", lambda v: _number(v) and v > 0, "a positive number of seconds"),
    "STAMP_RECHECK": ("E038", lambda v: _number(v) and 0 <= v <= 60, "a number of seconds from 0 to 60"),
    "SPOOL_MAX_UNVERIFIED_BYTES": ("E036", lambda v: _int(v) and v >= 0, "a non-negative integer (bytes)"),
    "SESSION_TIMEOUT": ("E037", lambda v: _int(v) and v > 0, "a positive integer (seconds)"),
    "API_BASIC_AUTH": ("E042", lambda v: isinstance(v, bool), "True or False"),
    "API_DOCS_PUBLIC": ("E042", lambda v: isinstance(v, bool), "True or False"),
    "API_PAGE_SIZE": ("E043", lambda v: _int(v) and v >= 1, "an integer >= 1"),
    "API_MAX_PAGE_SIZE": ("E043", lambda v: _int(v) and v >= 1, "an integer >= 1"),
}


def _error(name, message, check_id, hint=None):
    return Error(f"{SETTINGS_NAME}[{name!r}] {message}", hint=hint, id=f"wechat_app.{check_id}")


@register()
def check_settings(app_configs, **kwargs):
    try:
        app_settings.user_settings  # noqa: B018 - reading it validates the dict and its names
    except Exception as err:  # ImproperlyConfigured: not a dict, unknown names
        return [Error(str(err), id="wechat_app.E001")]
    errors = []
    values = {}
    for name, (check_id, valid, expected) in RULES.items():
        value = getattr(app_settings, name)
        if valid(value):
            values[name] = value
        else:
            errors.append(_error(name, f"must be {expected}, not {value!r}.", check_id))
    try:
        provider = app_settings.TOKEN_PROVIDER
    except Exception as err:  # the dotted path does not import
        errors.append(Error(str(err), id="wechat_app.E013"))
    else:
        if provider is not None and not callable(provider):
            errors.append(_error("TOKEN_PROVIDER", "must be the dotted path of a callable (account) -> token.",
                                 "E013"))
    if app_settings.CACHE_ALIAS not in settings.CACHES:
        errors.append(_error("CACHE_ALIAS", f"is {app_settings.CACHE_ALIAS!r}, which is not in settings.CACHES.",
                             "E024"))
    if "OUTBOUND_RETRY_DELAY" in values and "OUTBOUND_RETRY_MAX_DELAY" in values \
            and values["OUTBOUND_RETRY_MAX_DELAY"] < values["OUTBOUND_RETRY_DELAY"]:
        errors.append(_error("OUTBOUND_RETRY_MAX_DELAY", "must not be shorter than OUTBOUND_RETRY_DELAY.", "E017"))
    if "OUTBOUND_LEASE" in values and "API_TIMEOUT" in values \
            and values["OUTBOUND_LEASE"] <= sum(_timeout(values["API_TIMEOUT"])):
        errors.append(Warning(
            f"{SETTINGS_NAME}['OUTBOUND_LEASE'] ({values['OUTBOUND_LEASE']} s) is not longer than one API call "
            f"may take (API_TIMEOUT {values['API_TIMEOUT']}).",
            hint="A message still being sent could be taken over and sent again; make the lease longer.",
            id="wechat_app.W001"))
    if values.get("REPLY_BUDGET", 0) >= 5:
        errors.append(Warning(
            f"{SETTINGS_NAME}['REPLY_BUDGET'] is {values['REPLY_BUDGET']} s: WeChat gives up on an answer after 5 s.",
            hint="Keep it under 5 (default 4) so that slow code rules answer in time and reply later.",
            id="wechat_app.W002"))
    errors += _check_api_allow_list(app_settings.ALLOWED_API_BASE_URLS)
    authorize = app_settings.OAUTH_AUTHORIZE_URL
    if not isinstance(authorize, str) or not authorize.startswith("https://"):
        errors.append(Warning(
            f"{SETTINGS_NAME}['OAUTH_AUTHORIZE_URL'] is {authorize!r}, not an https URL: WeChat users who log in "
            "to the H5 pages would be sent there.",
            hint="Keep WeChat's https://open.weixin.qq.com/connect/oauth2/authorize (sandbox accounts use their "
                 "API base URL anyway).",
            id="wechat_app.W070"))
    from .engine.regex import engine_name

    if engine_name() != "re2":
        errors.append(Warning(
            "google-re2 is not installed: regex rules run on Python's re, and only a heuristic refuses "
            "patterns that can backtrack for a long time.",
            hint="pip install google-re2 (a dependency of the app) to run regex rules in linear time.",
            id="wechat_app.W010"))
    errors.extend(_check_spool_dir())
    errors.extend(_check_api(values))
    if app_settings.LOG_BUFFER:
        from django.core.cache import caches

        from .services.cachebatch import django_redis_client

        if django_redis_client(caches[app_settings.CACHE_ALIAS]) is None:
            errors.append(Warning(
                f"{SETTINGS_NAME}['LOG_BUFFER'] is on but the cache {app_settings.CACHE_ALIAS!r} is not django-redis: "
                "message-log rows are inserted directly.",
                hint="Use django_redis.cache.RedisCache for that cache, or turn LOG_BUFFER off.",
                id="wechat_app.W003"))
    return errors


REQUIRED_APPS = {
    "rest_framework": "the REST API is built on Django REST framework",
    "drf_spectacular": "the API's schema and its docs pages' templates",
    "drf_spectacular_sidecar": "the docs pages' scripts and styles, as static files",
}


def _check_api(values) -> list:
    """E040 throttle rates, E041 the apps the API needs, E043 page sizes, E044 schema settings,
    W040 no staticfiles app, W041 public docs in production."""
    from django.apps import apps

    from .api.schema import OVERRIDABLE
    from .api.throttling import SCOPES, parse_rate

    errors = []
    rates = app_settings.API_THROTTLE_RATES
    if not isinstance(rates, dict):
        errors.append(_error("API_THROTTLE_RATES", f"must be a dict of scope -> rate, not {rates!r}.", "E040"))
    else:
        unknown = sorted(set(map(str, rates)) - set(SCOPES))
        if unknown:
            errors.append(_error("API_THROTTLE_RATES", f"has unknown scope(s) {', '.join(unknown)}.", "E040",
                                 hint=f"Use {', '.join(SCOPES)}."))
        for scope in SCOPES:
            try:
                parse_rate(rates.get(scope))
            except ValueError as err:
                errors.append(_error("API_THROTTLE_RATES", f"[{scope!r}]: {err}.", "E040"))
    for app, why in REQUIRED_APPS.items():
        if not apps.is_installed(app):
            errors.append(Error(f"{app!r} is not in INSTALLED_APPS: {why}.", id="wechat_app.E041",
                                hint=f"Add {app!r} to INSTALLED_APPS, before 'wechat_app'."))
    if "API_PAGE_SIZE" in values and "API_MAX_PAGE_SIZE" in values \
            and values["API_PAGE_SIZE"] > values["API_MAX_PAGE_SIZE"]:
        errors.append(_error("API_PAGE_SIZE", "must not be larger than API_MAX_PAGE_SIZE.", "E043"))
    schema = app_settings.API_SCHEMA_SETTINGS
    if not isinstance(schema, dict):
        errors.append(_error("API_SCHEMA_SETTINGS", f"must be a dict of drf-spectacular settings, not {schema!r}.",
                             "E044"))
    elif set(schema) - OVERRIDABLE:
        errors.append(_error("API_SCHEMA_SETTINGS", f"may not set {', '.join(sorted(set(schema) - OVERRIDABLE))}.",
                             "E044", hint=f"It may set {', '.join(sorted(OVERRIDABLE))}."))
    if not apps.is_installed("django.contrib.staticfiles"):
        errors.append(Warning("django.contrib.staticfiles is not installed: the API's docs pages (api/docs/, "
                              "api/redoc/) link scripts and styles that nothing collects or serves.",
                              hint="Add 'django.contrib.staticfiles' to INSTALLED_APPS (and run collectstatic).",
                              id="wechat_app.W040"))
    if app_settings.API_DOCS_PUBLIC is True and not settings.DEBUG:
        errors.append(Warning(f"{SETTINGS_NAME}['API_DOCS_PUBLIC'] is on: anyone can read the API's schema "
                              "and docs pages.", hint="Turn it off unless the schema is meant to be public.",
                              id="wechat_app.W041"))
    return errors


def _check_api_allow_list(entries) -> list:
    name = "ALLOWED_API_BASE_URLS"
    if not isinstance(entries, (list, tuple)):
        return [_error(name, f"must be a list of base URLs, not {entries!r}.", "E025")]
    found = []
    for entry in entries:
        try:
            url = parse_base_url(entry, entry=True)
        except ValueError as err:
            found.append(_error(name, f"has {entry!r}, which is not an http(s) base URL: {err}.", "E025",
                                hint="Write entries as scheme://host[:port][/path]; '*' as the port allows any port."))
            continue
        if url.scheme == "http" and not url.is_loopback:
            found.append(Warning(
                f"{SETTINGS_NAME}[{name!r}] allows {entry!r}: plain http to a host other than loopback, so the "
                "app secret and access tokens would cross the network unencrypted.",
                hint="Use https, or keep plain http to a sandbox on loopback (127.0.0.1, localhost, ::1).",
                id="wechat_app.W004"))
    return found


def _check_spool_dir():
    """W030: the spool must be writable, or log rows are lost while the database is down."""
    import os

    from .services.spool import directory

    folder = directory()
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # created on first use: its nearest existing parent must be writable
    if existing.is_dir() and os.access(existing, os.W_OK | os.X_OK):
        return []
    return [Warning(
        f"The spool directory {str(folder)!r} cannot be written: message-log rows are lost while the "
        "database is down.",
        hint=f"Set {SETTINGS_NAME}['SPOOL_DIR'] to a writable, persistent local directory.",
        id="wechat_app.W030")]


@register()
def check_rule_index_settings(app_configs, **kwargs):
    """E050-E052: the compiled rule index's settings (docs/rule-index.md)."""
    errors = []
    try:
        background = app_settings.INDEX_BACKGROUND_RULES
        wait = app_settings.INDEX_FIRST_BUILD_WAIT
        warm_up = app_settings.INDEX_WARM_UP
    except Exception:  # noqa: BLE001 - unreadable settings are E001's
        return []
    if background is not None and not (_int(background) and background >= 0):
        errors.append(_error("INDEX_BACKGROUND_RULES", f"must be a whole number >= 0 or None, not {background!r}.",
                             "E050"))
    if not (_number(wait) and 0 <= wait <= 4.5):
        errors.append(_error("INDEX_FIRST_BUILD_WAIT", f"must be a number of seconds from 0 to 4.5 (WeChat waits "
                             f"5 s for the answer), not {wait!r}.", "E051"))
    if not isinstance(warm_up, bool):
        errors.append(_error("INDEX_WARM_UP", f"must be True or False, not {warm_up!r}.", "E052"))
    return errors


@register()
def check_media_settings(app_configs, **kwargs):
    """E060 MEDIA_STORAGE is not a storage alias; E061 MEDIA_PATH_PREFIX is not a relative path;
    E062 FETCH_INCOMING_MEDIA, MEDIA_FETCH_MAX_ATTEMPTS or MEDIA_MAX_FETCH_SIZE of the wrong kind."""
    try:
        app_settings.user_settings  # noqa: B018 - E001 reports an unreadable dict
    except Exception:
        return []
    from django.core.files.storage import storages

    errors = []
    alias = app_settings.MEDIA_STORAGE
    if not isinstance(alias, str) or alias not in storages.backends:
        errors.append(_error("MEDIA_STORAGE", f"is {alias!r}, which is not an alias of settings.STORAGES.", "E060"))
    prefix = app_settings.MEDIA_PATH_PREFIX
    if not isinstance(prefix, str) or prefix.startswith(("/", "\\")) or ".." in prefix.split("/") or "\0" in prefix:
        errors.append(_error("MEDIA_PATH_PREFIX", f"must be a relative path without '..', not {prefix!r}.", "E061"))
    for name, valid, expected in (
        ("FETCH_INCOMING_MEDIA", lambda v: isinstance(v, bool), "True or False"),
        ("MEDIA_FETCH_MAX_ATTEMPTS", lambda v: _int(v) and v >= 1, "an integer >= 1"),
        ("MEDIA_MAX_FETCH_SIZE", lambda v: _int(v) and v > 0, "a positive integer (bytes)"),
    ):
        value = getattr(app_settings, name)
        if not valid(value):
            errors.append(_error(name, f"must be {expected}, not {value!r}.", "E062"))
    return errors


@register()
def check_agent_settings(app_configs, **kwargs):
    """E080 AGENT_FILE_ROOT is not an absolute directory; E081 an agent gateway number of the wrong
    kind (docs/agent-gateway.md)."""
    try:
        app_settings.user_settings  # noqa: B018 - E001 reports an unreadable dict
    except Exception:
        return []
    import os

    errors = []
    root = app_settings.AGENT_FILE_ROOT
    if root is not None and not (isinstance(root, (str, os.PathLike)) and os.path.isabs(root)
                                 and os.path.isdir(root)):
        errors.append(_error("AGENT_FILE_ROOT", f"must be None or the absolute path of an existing directory, "
                             f"not {root!r}.", "E080"))
    for name, valid, expected in (
        ("AGENT_CALLBACK_TIMEOUT", lambda v: _number(v) and v > 0, "a positive number of seconds"),
        ("AGENT_RETRY_DELAY", lambda v: _number(v) and v >= 0, "a number of seconds >= 0"),
        ("AGENT_RETRY_MAX_DELAY", lambda v: _number(v) and v >= 0, "a number of seconds >= 0"),
        ("AGENT_DEFAULT_LEASE", lambda v: _int(v) and v >= 1, "an integer >= 1 (seconds)"),
        ("AGENT_MAX_LEASE", lambda v: _int(v) and v >= 1, "an integer >= 1 (seconds)"),
        ("AGENT_MAX_FILE_SIZE", lambda v: _int(v) and v > 0, "a positive integer (bytes)"),
    ):
        value = getattr(app_settings, name)
        if not valid(value):
            errors.append(_error(name, f"must be {expected}, not {value!r}.", "E081"))
    default, longest = app_settings.AGENT_DEFAULT_LEASE, app_settings.AGENT_MAX_LEASE
    if not errors and default > longest:
        errors.append(_error("AGENT_DEFAULT_LEASE", f"({default}) must not exceed AGENT_MAX_LEASE ({longest}).",
                             "E081"))
    return errors


@register()
def check_ilink_settings(app_configs, **kwargs):
    """E090 ILINK_API_BASE_URL or ILINK_CDN_BASE_URL is not an http(s) URL without query; E091
    ILINK_LONG_POLL_SECONDS, ILINK_LOGIN_TTL, ILINK_POLL_BACKOFF or ILINK_POLL_BACKOFF_MAX out of range."""
    try:
        app_settings.user_settings  # noqa: B018 - E001 reports an unreadable dict
    except Exception:
        return []
    from urllib.parse import urlsplit

    errors = []
    for name in ("ILINK_API_BASE_URL", "ILINK_CDN_BASE_URL"):
        value = getattr(app_settings, name)
        parts = urlsplit(value) if isinstance(value, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query \
                or parts.fragment or parts.username:
            errors.append(_error(name, f"must be an http(s) URL without query or credentials, not {value!r}.", "E090"))
    for name, valid, expected in (
        ("ILINK_LONG_POLL_SECONDS", lambda v: _number(v) and 1 <= v <= 120, "a number of seconds from 1 to 120"),
        ("ILINK_LOGIN_TTL", lambda v: _number(v) and 30 <= v <= 3600, "a number of seconds from 30 to 3600"),
        ("ILINK_POLL_BACKOFF", lambda v: _number(v) and 0 < v <= 600, "a number of seconds from 0 to 600"),
        ("ILINK_POLL_BACKOFF_MAX", lambda v: _number(v) and 0 < v <= 3600, "a number of seconds from 0 to 3600"),
    ):
        value = getattr(app_settings, name)
        if not valid(value):
            errors.append(_error(name, f"must be {expected}, not {value!r}.", "E091"))
    return errors
