"""A WSGI fast path for the callback: WeChat's POSTs served without Django's request handling.

    application = callback_fast_path(get_wsgi_application())

A POST whose path resolves to ``wechat_app.views.callback`` is answered by the same function the
Django view calls (``views.callback_response``), without building a WSGIRequest, running the
middleware or an HttpResponse (docs/callback-performance.md, "The fast path"). Every other request, and any POST Django would treat differently (a Host it refuses,
an insecure request under SECURE_SSL_REDIRECT, too many query fields, ATOMIC_REQUESTS,
PREPEND_WWW, DISALLOWED_USER_AGENTS), goes to the wrapped application unchanged. What Django's
handler does that matters here is kept: the script prefix, ``request_started`` and
``request_finished`` (so ``close_old_connections`` honours CONN_MAX_AGE and CONN_HEALTH_CHECKS),
the ``django.request`` log records of 4xx and 5xx answers, and SecurityMiddleware's nosniff.

Not kept: the middleware (request logging or metrics middleware does not see callback POSTs) and
``got_request_exception``, whose receivers expect a request object (there is none: an unexpected
error is logged on ``django.request`` and answered 500, as Django does with DEBUG off).
``WECHAT_APP["CALLBACK_FAST_PATH"] = False`` hands every request to Django.
"""
from __future__ import annotations

import logging
from http.client import responses
from urllib.parse import parse_qsl

from django.conf import settings
from django.core import signals
from django.core.exceptions import DisallowedHost, ImproperlyConfigured
from django.core.handlers.wsgi import get_path_info, get_script_name
from django.db import connections
from django.http import HttpRequest
from django.urls import Resolver404, resolve, set_script_prefix

from . import views
from .conf import app_settings
from .services import inbound

request_logger = logging.getLogger("django.request")

CACHE_SIZE = 1024  # entries per cache (paths resolved to the callback, other paths, host verdicts)
SERVER_ERROR_BODY = b"500 Internal Server Error"


def callback_fast_path(application):
    """``application`` wrapped so that callback POSTs skip Django's request handling."""
    return CallbackFastPath(application)


class _RequestHeaders(HttpRequest):
    """Only the environ, to ask Django's own code for the host and the scheme of a request
    (``get_host`` with ALLOWED_HOSTS, ``is_secure`` with SECURE_PROXY_SSL_HEADER); building the
    rest of a request is what the fast path saves."""

    def __init__(self, environ):
        # HttpRequest.__init__ is skipped on purpose: its QueryDicts and upload handlers are unused.
        self.META = environ

    def _get_scheme(self):
        return self.META.get("wsgi.url_scheme")


def _remember(cache: dict, key, value) -> None:
    # Bounded: a flood of distinct paths or Host values empties the cache instead of growing it.
    if len(cache) >= CACHE_SIZE:
        cache.clear()
    cache[key] = value


class _Answer(list):
    """The response body; the WSGI server's ``close()`` sends ``request_finished`` after the body
    went out, as a Django response does."""

    def __init__(self, body: bytes, sender):
        super().__init__([body])
        self.sender = sender

    def close(self):
        signals.request_finished.send(sender=self.sender)


class CallbackFastPath:
    """The WSGI application returned by ``callback_fast_path``."""

    def __init__(self, application):
        self.application = application
        self._callback_paths: dict[str, str] = {}  # PATH_INFO of the callback -> account name
        self._other_paths: dict[str, None] = {}  # any other PATH_INFO (another view, or none)
        self._hosts: dict[str, bool] = {}  # raw host -> would Django accept it?
        self._django_only: bool | None = None  # do the settings ask for Django on every request?
        signals.setting_changed.connect(self._settings_changed)  # weak: goes with the instance

    def __call__(self, environ, start_response):
        fast = self._fast_request(environ)
        if fast is None:
            return self.application(environ, start_response)
        return self._serve(environ, start_response, *fast)

    # --- is it a callback POST that Django would serve as the view does? ----------------------
    def _fast_request(self, environ) -> tuple[str, dict] | None:
        """(account name, query params) of a callback POST the fast path serves, else None."""
        if environ.get("REQUEST_METHOD", "").upper() != "POST" or not app_settings.CALLBACK_FAST_PATH:
            return None
        if self._django_only is None:
            self._django_only = self._settings_need_django()
        if self._django_only:
            return None
        account_name = self._account_name(environ.get("PATH_INFO", ""))
        if account_name is None:
            return None
        headers = _RequestHeaders(environ)
        if settings.SECURE_SSL_REDIRECT:
            try:
                if not headers.is_secure():
                    return None  # SecurityMiddleware redirects it (or exempts it: Django decides)
            except ImproperlyConfigured:
                return None  # Django reports the broken SECURE_PROXY_SSL_HEADER
        if not self._host_allowed(headers):
            return None  # Django answers 400 and logs DisallowedHost
        try:
            return account_name, self._params(environ)
        except ValueError:
            return None  # more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS: Django answers 400

    @staticmethod
    def _settings_need_django() -> bool:
        # What Django would do around the view that the fast path does not: a transaction around
        # it, CommonMiddleware's www redirect and user-agent ban.
        atomic = any(connections.settings[alias].get("ATOMIC_REQUESTS") for alias in connections)
        return bool(atomic or settings.PREPEND_WWW or settings.DISALLOWED_USER_AGENTS)

    def _account_name(self, raw_path: str) -> str | None:
        try:
            return self._callback_paths[raw_path]
        except KeyError:
            pass
        if raw_path in self._other_paths:
            return None
        # As Django's handler resolves: PATH_INFO without SCRIPT_NAME, re-encoded to its bytes.
        try:
            match = resolve(get_path_info({"PATH_INFO": raw_path}) or "/")
        except Resolver404:
            match = None
        if match is None or match.func is not views.callback or match.args or set(match.kwargs) != {"account_name"}:
            _remember(self._other_paths, raw_path, None)
            return None
        account_name = match.kwargs["account_name"]
        _remember(self._callback_paths, raw_path, account_name)
        return account_name

    def _host_allowed(self, headers: _RequestHeaders) -> bool:
        raw_host = headers._get_raw_host()  # the Host value get_host() validates
        try:
            return self._hosts[raw_host]
        except KeyError:
            pass
        try:
            headers.get_host()
            allowed = True
        except DisallowedHost:
            allowed = False
        _remember(self._hosts, raw_host, allowed)
        return allowed

    @staticmethod
    def _params(environ) -> dict[str, str] | None:
        """The query string as Django's QueryDict decodes it; a plain dict keeps the last value of
        a repeated key, which is what QueryDict's ``get`` answers (``inbound`` only uses ``get``)."""
        raw = environ.get("QUERY_STRING", "").encode("iso-8859-1")  # WSGI's latin-1 str -> bytes
        charset = settings.DEFAULT_CHARSET
        try:
            query = raw.decode(charset)
        except UnicodeDecodeError:
            query = raw.decode("iso-8859-1")
        return dict(parse_qsl(query, keep_blank_values=True, encoding=charset,
                              max_num_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS))

    def _settings_changed(self, **kwargs):
        # ROOT_URLCONF, ALLOWED_HOSTS, DEBUG, DATABASES... may have changed (tests do it).
        self._callback_paths.clear()
        self._other_paths.clear()
        self._hosts.clear()
        self._django_only = None

    # --- serving it ---------------------------------------------------------------------------
    def _serve(self, environ, start_response, account_name: str, params: dict):
        set_script_prefix(get_script_name(environ))
        signals.request_started.send(sender=self.__class__, environ=environ)
        try:
            try:
                result = views.callback_response("POST", account_name, params, environ.get("CONTENT_LENGTH"),
                                                 _body_reader(environ))
                status, body, content_type = result.status, result.body, result.content_type
                headers = views.callback_headers(result)
                if status >= 400:  # as Django's handler logs a 4xx answer
                    request_logger.warning("%s: %s", responses.get(status, "Unknown Status Code"),
                                           _escaped(_request_path(environ)), extra={"status_code": status})
            except Exception:
                # Django's record of an unhandled exception (its 500 page is the DEBUG-off one).
                request_logger.error("Internal Server Error: %s", _escaped(_request_path(environ)), exc_info=True,
                                     extra={"status_code": 500})
                status, body, content_type, headers = 500, SERVER_ERROR_BODY, inbound.TEXT_CONTENT_TYPE, []
            start_response(f"{status} {responses.get(status, 'Unknown Status Code')}", [
                ("Content-Type", content_type), ("Content-Length", str(len(body))),
                ("X-Content-Type-Options", "nosniff"), *headers,
            ])
            return _Answer(body, self.__class__)
        except BaseException:
            signals.request_finished.send(sender=self.__class__)  # no answer for the server to close
            raise


def _body_reader(environ):
    """``read(size)`` of the body as Django's LimitedStream gives it: at most CONTENT_LENGTH bytes
    (none when it is missing or invalid), whatever the client sends beyond."""
    try:
        remaining = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        remaining = 0
    stream = environ["wsgi.input"]

    def read(size: int) -> bytes:
        return stream.read(min(size, remaining)) if remaining > 0 else b""

    return read


def _request_path(environ) -> str:
    """``request.path`` as Django builds it (SCRIPT_NAME + PATH_INFO), for log records."""
    path_info = get_path_info(environ) or "/"
    return "%s/%s" % (get_script_name(environ).rstrip("/"), path_info.replace("/", "", 1))


def _escaped(text: str) -> str:
    # As django.utils.log.log_response: a path cannot forge log lines.
    return text.encode("unicode_escape").decode("ascii")
