"""The WeChat API client: HTTP, tokens and the "refresh the token and retry once" rule.

The client knows WeChat's HTTP API, not Django models: it is built from an app id, a secret, a
base URL and a token provider. Endpoint groups are attributes bound to it
(``client.menu.create(...)``, ``client.message.custom.send_text(...)``).
https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html

Usage::

    client = WeChatClient("wx123", "secret", base_url="https://api.weixin.qq.com")
    client.message.custom.send_text("openid", "Hello")
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
import weakref
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from .errors import WeChatAPIError, WeChatTransportError

DEFAULT_BASE_URL = "https://api.weixin.qq.com"
DEFAULT_TIMEOUT = (3.05, 10)
USER_AGENT = "django-wechat-app/0.1"

# WeChat takes secrets in query strings (access_token everywhere; the app secret and OAuth
# tokens on /sns): urllib3's DEBUG log of each request line must not write them out.
_SECRET_QUERY_RE = re.compile(r"\b(secret|corpsecret|access_token|refresh_token|code)=[^&\s\"]*")


class _RedactQuerySecrets(logging.Filter):
    def filter(self, record):
        if isinstance(record.args, tuple):
            record.args = tuple(_SECRET_QUERY_RE.sub(r"\1=***", a) if isinstance(a, str) else a for a in record.args)
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactQuerySecrets())

_session: requests.Session | None = None
_session_pid: int | None = None
_session_lock = threading.Lock()


def get_session() -> requests.Session:
    """The process's shared ``requests.Session`` (connection pooling); a new one after fork."""
    global _session, _session_pid
    pid = os.getpid()
    if _session is None or _session_pid != pid:
        with _session_lock:
            if _session is None or _session_pid != pid:
                session = requests.Session()
                # Enough pooled connections for a threaded worker; the rest are not kept.
                adapter = HTTPAdapter(pool_connections=8, pool_maxsize=64, max_retries=0)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                session.headers["User-Agent"] = USER_AGENT
                _session, _session_pid = session, pid
    return _session


_environment: weakref.WeakKeyDictionary[requests.Session, dict[str, dict[str, Any]]] = weakref.WeakKeyDictionary()


def _environment_settings(session: requests.Session, base_url: str) -> dict[str, Any]:
    """Proxies, CA bundle and client certificate for ``base_url`` from the session and the
    environment (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE...), resolved once per session and
    base URL: ``Session.request`` re-reads the whole environment on every call, which costs
    more than the HTTP exchange itself on loopback."""
    per_url = _environment.get(session)
    if per_url is None:
        per_url = _environment.setdefault(session, {})
    settings = per_url.get(base_url)
    if settings is None:
        merged = session.merge_environment_settings(base_url + "/", {}, None, None, None)
        settings = per_url[base_url] = {name: merged[name] for name in ("proxies", "verify", "cert")}
    return settings


class TokenProvider(Protocol):
    """Where a client gets its access token.

    ``get_token(client)`` returns a valid token (fetching one with ``client.token.fetch()``
    when needed); ``invalidate(client, token)`` is called when WeChat refused ``token``, and
    must forget it only if it is still the current one (other callers may have replaced it).
    """

    def get_token(self, client: WeChatClient) -> str: ...

    def invalidate(self, client: WeChatClient, token: str) -> None: ...


class MemoryTokenProvider:
    """A per-instance token store for standalone use (one process, single-flight by a lock)."""

    def __init__(self, margin: float = 60):
        self.margin = margin
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def get_token(self, client):
        with self._lock:
            if self._token and self._expires_at - time.time() > self.margin:
                return self._token
            token, expires_in = client.token.fetch()
            self._token, self._expires_at = token, time.time() + expires_in
            return token

    def invalidate(self, client, token):
        with self._lock:
            if self._token == token:
                self._token, self._expires_at = None, 0.0


class BaseClient:
    """What every API client shares: the HTTP session, timeouts, the token provider and the
    "refresh the token and retry once" rule (``request``). Subclasses bind endpoint groups and a
    ``token`` group whose ``fetch(force_refresh)`` returns ``(access_token, expires_in)``."""

    default_base_url = DEFAULT_BASE_URL

    def __init__(self, app_id: str, secret: str, base_url: str | None = None, *,
                 token_provider: TokenProvider | None = None, timeout=None,
                 session: requests.Session | None = None):
        self.app_id = app_id
        self._secret = secret
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.token_provider = token_provider or MemoryTokenProvider()
        self.timeout = tuple(timeout) if isinstance(timeout, (list, tuple)) else (timeout or DEFAULT_TIMEOUT)
        self._session = session

    @property
    def session(self) -> requests.Session:
        return self._session or get_session()

    @property
    def secret(self) -> str:
        return self._secret

    # --- the one place that talks HTTP ---------------------------------------------------------
    def request(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                data: Any = None, files: Any = None, with_token: bool = True, raw: bool = False,
                url: str | None = None):
        """Call ``path``; return the decoded JSON (or the ``Response`` when ``raw``).

        Raises ``WeChatAPIError`` for a non-zero errcode, ``WeChatTransportError`` for
        connection failures, timeouts and HTTP errors. ``url`` replaces ``base_url + path`` (a
        page WeChat serves on another host, such as showqrcode). A token error (40001, 40014, 42001) is
        answered by invalidating the token, fetching a new one and retrying exactly once.
        """
        retried = False
        while True:
            query = dict(params or {})
            token = None
            if with_token:
                token = self.token_provider.get_token(self)
                query["access_token"] = token
            try:
                return self._send(method, path, query, json=json, data=data, files=files, raw=raw, url=url)
            except WeChatAPIError as err:
                if with_token and err.is_token_error and not retried:
                    self.token_provider.invalidate(self, token)
                    retried = True
                    continue
                raise

    def _send(self, method, path, query, *, json=None, data=None, files=None, raw=False, url=None):
        where = f"{method} {path or urlsplit(url).path}"
        url = url or self.base_url + path
        try:
            if json is not None:
                # WeChat expects UTF-8 JSON, not \\u escapes (they show literally in messages).
                import json as jsonlib

                data = jsonlib.dumps(json, ensure_ascii=False).encode("utf-8")
                headers = {"Content-Type": "application/json; charset=utf-8"}
            else:
                headers = None
            session = self.session
            prepared = session.prepare_request(requests.Request(method, url, params=query, data=data, files=files,
                                                                headers=headers))
            response = session.send(prepared, timeout=self.timeout, **_environment_settings(session, self.base_url))
        except requests.ConnectTimeout:
            raise WeChatTransportError(None, "connect timeout", where, maybe_applied=False) from None
        except requests.ReadTimeout:
            raise WeChatTransportError(None, "read timeout", where) from None
        except requests.ConnectionError as err:
            # Refused/unreachable: never sent. Anything else (reset, closed without answer): unknown.
            text = repr(err)
            never_sent = "NewConnectionError" in text or "Connection refused" in text
            raise WeChatTransportError(None, "connection failed" if never_sent else "connection lost",
                                       where, maybe_applied=not never_sent) from None
        except requests.RequestException as err:
            raise WeChatTransportError(None, type(err).__name__, where) from None
        if response.status_code >= 400:
            raise WeChatTransportError(None, f"HTTP {response.status_code}", where, status=response.status_code)
        if raw and not response.headers.get("Content-Type", "").startswith(("application/json", "text/plain")):
            return response
        try:
            payload = response.json()
        except ValueError:
            raise WeChatTransportError(None, "answer is not JSON", where, status=response.status_code) from None
        errcode = payload.get("errcode", 0) if isinstance(payload, dict) else 0
        if errcode:
            error = WeChatAPIError(int(errcode), str(payload.get("errmsg", "")), where, status=response.status_code)
            error.payload = {k: v for k, v in payload.items() if k not in ("errcode", "errmsg")}
            raise error
        return payload


class WeChatClient(BaseClient):
    """Calls the WeChat API for one app.

    ``base_url`` may point at the sandbox; ``token_provider`` defaults to an in-memory one;
    ``timeout`` is requests' ``(connect, read)``; ``use_stable_token`` selects
    /cgi-bin/stable_token (default) or the classic /cgi-bin/token.
    """

    def __init__(self, app_id: str, secret: str, base_url: str | None = None, *,
                 token_provider: TokenProvider | None = None, timeout=None,
                 use_stable_token: bool = True, session: requests.Session | None = None):
        from . import api, mass, material

        super().__init__(app_id, secret, base_url, token_provider=token_provider, timeout=timeout, session=session)
        self.use_stable_token = use_stable_token
        self.token = api.TokenAPI(self)
        self.menu = api.MenuAPI(self)
        self.message = api.MessageAPI(self)
        self.template = api.TemplateAPI(self)
        self.user = api.UserAPI(self)
        self.tag = api.TagAPI(self)
        self.media = material.MediaAPI(self)
        self.material = material.MaterialAPI(self)
        self.qrcode = api.QRCodeAPI(self)
        self.jssdk = api.JSSDKAPI(self)
        self.mass = mass.MassAPI(self)
        self.kf = mass.KfAccountAPI(self)
        self.shorturl = api.ShortURLAPI(self)
        self.oauth = api.OAuthAPI(self)

    def __repr__(self):
        return f"<WeChatClient app_id={self.app_id!r} base_url={self.base_url!r}>"
