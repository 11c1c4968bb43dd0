"""The sandbox's web side: OAuth (网页授权) pages and /sns endpoints, QR codes, short links.

- ``GET /connect/oauth2/authorize?appid=&redirect_uri=&response_type=code&scope=&state=`` is the
  page WeChat shows inside its browser: here it lists the app's followers so that the tester picks
  who logs in (or denies), then redirects to ``redirect_uri?code=CODE&state=STATE`` (denied:
  ``?state=STATE`` only, as WeChat does). A code is good once, for 5 minutes.
- ``/sns/oauth2/access_token``, ``/sns/oauth2/refresh_token``, ``/sns/userinfo``, ``/sns/auth``
  with WeChat's error codes: 40029 invalid code, 40163 code already used, 42003 code expired,
  40030 invalid refresh token, 40001/42001 bad or expired OAuth token, 40003 openid mismatch,
  48001 userinfo with a snsapi_base token.
- ``/cgi-bin/qrcode/create`` and ``/cgi-bin/showqrcode?ticket=`` (a real PNG of the code's URL).
- ``/cgi-bin/shorturl/genshorten`` and ``fetchshorten``.

Inspection: ``GET /_sandbox/web`` (codes, OAuth tokens, QR codes, short keys),
``POST /_sandbox/web/expire_codes`` (every pending code expires now, for the 42003 path).
Pure Python (no Django); state lives in ``SandboxState.web``, reset with the rest.
"""
from __future__ import annotations

import html
import io
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from .server import RawResponse, admin, api
from .state import SandboxError

CODE_TTL = 300
OAUTH_TOKEN_TTL = 7200
SCOPES = ("snsapi_base", "snsapi_userinfo")
QR_ACTIONS = ("QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE")
QR_MAX_EXPIRE = 2592000


@dataclass
class WebState:
    """OAuth codes and tokens, QR code tickets and short keys (guarded by the state's lock)."""

    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    qrcodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    short_keys: dict[str, dict[str, Any]] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {"codes": [{"code": c, **v} for c, v in self.codes.items()],
                "tokens": len(self.tokens), "refresh_tokens": len(self.refresh_tokens),
                "qrcodes": [{"ticket": t, **v} for t, v in self.qrcodes.items()],
                "short_keys": [{"short_key": k, **v} for k, v in self.short_keys.items()]}


def _page(title: str, body: str, status: int = 200) -> RawResponse:
    text = (f"<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' "
            f"content='width=device-width'><title>{html.escape(title)}</title><style>"
            "body{font-family:sans-serif;max-width:34em;margin:2em auto;padding:0 1em;color:#222}"
            "a.user,a.deny{display:block;padding:.8em 1em;margin:.5em 0;border-radius:6px;text-decoration:none}"
            "a.user{background:#07c160;color:#fff}a.deny{background:#eee;color:#333}"
            "small{color:#666}</style></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return RawResponse(text.encode("utf-8"), status=status)


def _redirect(location: str) -> RawResponse:
    return RawResponse(b"", status=302, headers={"Location": location})


def _with_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def _authorize_params(handler, query) -> dict[str, str]:
    """The authorize request's parameters, checked as WeChat does (raises SandboxError)."""
    app_id = query.get("appid", "")
    with handler.state.lock:
        handler.state._app(app_id)
    redirect_uri = query.get("redirect_uri", "")
    if urlsplit(redirect_uri).scheme not in ("http", "https") or not urlsplit(redirect_uri).netloc:
        raise SandboxError(10003, "redirect_uri domain mismatch")
    if query.get("response_type") != "code":
        raise SandboxError(10004, "response_type must be code")
    if query.get("scope") not in SCOPES:
        raise SandboxError(10005, "scope is snsapi_base or snsapi_userinfo")
    state = query.get("state", "")
    if len(state) > 128 or not state.isalnum() and state:
        raise SandboxError(10006, "state is at most 128 letters and digits")
    return {"appid": app_id, "redirect_uri": redirect_uri, "response_type": "code",
            "scope": query["scope"], "state": state}


@api("GET", "/connect/oauth2/authorize", token=False)
def _authorize(handler, query, body, app_id):
    if "agentid" in query:  # a WeCom app's login page (sandbox/wecom_login.py)
        from .wecom_login import authorize_page

        return authorize_page(handler, query)
    try:
        params = _authorize_params(handler, query)
    except SandboxError as err:
        return _page("Authorization error", f"<p>errcode {err.errcode}: {html.escape(err.errmsg or '')}</p>",
                     status=400)
    with handler.state.lock:
        followers = list(handler.state.followers.get(params["appid"], {}).values())[:50]
    items = []
    for follower in followers:
        link = "/connect/oauth2/authorize/confirm?" + urlencode({**params, "openid": follower.openid})
        label = html.escape(follower.nickname or follower.openid)
        items.append(f"<a class='user' href='{html.escape(link)}'>Log in as {label} "
                     f"<small>{html.escape(follower.openid)}</small></a>")
    deny = "/connect/oauth2/authorize/confirm?" + urlencode({**params, "deny": "1"})
    what = "your public profile (nickname, avatar, region)" if params["scope"] == "snsapi_userinfo" \
        else "your openid only"
    body = (f"<p>The app <code>{html.escape(params['appid'])}</code> asks for {what} "
            f"(<code>{html.escape(params['scope'])}</code>). Pick the WeChat user you are:</p>"
            + ("".join(items) or "<p>This app has no followers in the sandbox: add some first.</p>")
            + f"<a class='deny' href='{html.escape(deny)}'>Deny</a>")
    return _page("WeChat sandbox: authorize", body)


@api("GET", "/connect/oauth2/authorize/confirm", token=False)
def _authorize_confirm(handler, query, body, app_id):
    if "agentid" in query:
        from .wecom_login import authorize_confirm

        return authorize_confirm(handler, query)
    try:
        params = _authorize_params(handler, query)
    except SandboxError as err:
        return _page("Authorization error", f"<p>errcode {err.errcode}</p>", status=400)
    back = {"state": params["state"]}
    if query.get("deny"):
        return _redirect(_with_query(params["redirect_uri"], back))
    state = handler.state
    with state.lock:
        try:
            follower = state.follower(params["appid"], query.get("openid", ""))
        except SandboxError:
            return _page("Authorization error", "<p>errcode 40003: no such user</p>", status=400)
        code = secrets.token_urlsafe(24)
        state.web.codes[code] = {"app_id": params["appid"], "openid": follower.openid, "scope": params["scope"],
                                 "expires_at": time.time() + CODE_TTL, "used": False}
    return _redirect(_with_query(params["redirect_uri"], {"code": code, **back}))


def _issue_tokens(state, grant: dict[str, Any], refresh_token: str | None = None) -> dict[str, Any]:
    access = secrets.token_urlsafe(64)[:86]
    state.web.tokens[access] = {"app_id": grant["app_id"], "openid": grant["openid"], "scope": grant["scope"],
                                "expires_at": time.time() + OAUTH_TOKEN_TTL}
    if refresh_token is None:
        refresh_token = secrets.token_urlsafe(64)[:86]
        state.web.refresh_tokens[refresh_token] = {"app_id": grant["app_id"], "openid": grant["openid"],
                                                   "scope": grant["scope"]}
    answer = {"access_token": access, "expires_in": OAUTH_TOKEN_TTL, "refresh_token": refresh_token,
              "openid": grant["openid"], "scope": grant["scope"]}
    follower = state.followers.get(grant["app_id"], {}).get(grant["openid"])
    if follower is not None and follower.unionid and grant["scope"] == "snsapi_userinfo":
        answer["unionid"] = follower.unionid
    return answer


@api("GET", "/sns/oauth2/access_token", token=False)
def _oauth_access_token(handler, query, body, app_id):
    state = handler.state
    if query.get("grant_type") != "authorization_code":
        raise SandboxError(40002)
    with state.lock:
        state._check_secret(query.get("appid", ""), query.get("secret", ""))
        grant = state.web.codes.get(query.get("code", ""))
        if grant is None or grant["app_id"] != query["appid"]:
            raise SandboxError(40029, "invalid code")
        if grant["used"]:
            raise SandboxError(40163, "code been used")
        if grant["expires_at"] <= time.time():
            raise SandboxError(42003, "code expired")
        grant["used"] = True
        return _issue_tokens(state, grant)


@api("GET", "/sns/oauth2/refresh_token", token=False)
def _oauth_refresh(handler, query, body, app_id):
    state = handler.state
    if query.get("grant_type") != "refresh_token":
        raise SandboxError(40002)
    with state.lock:
        grant = state.web.refresh_tokens.get(query.get("refresh_token", ""))
        if grant is None or grant["app_id"] != query.get("appid"):
            raise SandboxError(40030, "invalid refresh_token")
        return _issue_tokens(state, grant, refresh_token=query["refresh_token"])


def _oauth_grant(state, query) -> dict[str, Any]:
    token = query.get("access_token", "")
    if not token:
        raise SandboxError(41001)
    grant = state.web.tokens.get(token)
    if grant is None:
        raise SandboxError(40001)
    if grant["expires_at"] <= time.time():
        raise SandboxError(42001)
    if query.get("openid") != grant["openid"]:
        raise SandboxError(40003)
    return grant


@api("GET", "/sns/userinfo", token=False)
def _oauth_userinfo(handler, query, body, app_id):
    state = handler.state
    with state.lock:
        grant = _oauth_grant(state, query)
        if grant["scope"] != "snsapi_userinfo":
            raise SandboxError(48001, "api unauthorized")
        follower = state.followers.get(grant["app_id"], {}).get(grant["openid"])
        info = {"openid": grant["openid"], "nickname": (follower.nickname if follower else "") or "WeChat user",
                "sex": int(follower.sex or 0) if follower else 0, "province": follower.province if follower else "",
                "city": follower.city if follower else "", "country": follower.country if follower else "",
                "headimgurl": "", "privilege": []}
        if follower is not None and follower.unionid:
            info["unionid"] = follower.unionid
        return info


@api("GET", "/sns/auth", token=False)
def _oauth_auth(handler, query, body, app_id):
    with handler.state.lock:
        _oauth_grant(handler.state, query)
    return {"errcode": 0, "errmsg": "ok"}


# --- QR codes ---------------------------------------------------------------------------------------
@api("POST", "/cgi-bin/qrcode/create")
def _qrcode_create(handler, query, body, app_id):
    action = body.get("action_name")
    if action not in QR_ACTIONS:
        raise SandboxError(40053, "invalid action info")
    scene = ((body.get("action_info") or {}).get("scene") or {})
    if "STR" in action:
        value = scene.get("scene_str")
        if not isinstance(value, str) or not 1 <= len(value) <= 64:
            raise SandboxError(40053, "invalid scene_str")
    else:
        value = scene.get("scene_id")
        limit = 100000 if "LIMIT" in action else 0xFFFFFFFF
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
            raise SandboxError(40053, "invalid scene_id")
    ticket = secrets.token_urlsafe(48)
    data: dict[str, Any] = {"ticket": ticket, "url": f"http://weixin.qq.com/q/{ticket[:22]}"}
    expires_at = None
    if "LIMIT" not in action:
        seconds = body.get("expire_seconds", 60)
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 1:
            raise SandboxError(40009, "invalid expire_seconds")
        seconds = min(seconds, QR_MAX_EXPIRE)
        data["expire_seconds"] = seconds
        expires_at = time.time() + seconds
    with handler.state.lock:
        handler.state.web.qrcodes[ticket] = {"app_id": app_id, "action": action, "scene": value,
                                             "url": data["url"], "expires_at": expires_at}
    return data


@api("GET", "/cgi-bin/showqrcode", token=False)
def _showqrcode(handler, query, body, app_id):
    import segno

    with handler.state.lock:
        code = handler.state.web.qrcodes.get(query.get("ticket", ""))
    if code is None or (code["expires_at"] is not None and code["expires_at"] <= time.time()):
        return RawResponse(b"no such ticket", content_type="text/plain", status=404)
    out = io.BytesIO()
    segno.make(code["url"], error="m").save(out, kind="png", scale=6, border=2)
    return RawResponse(out.getvalue(), content_type="image/png")


# --- short links ------------------------------------------------------------------------------------
@api("POST", "/cgi-bin/shorturl/genshorten")
def _genshorten(handler, query, body, app_id):
    long_data = body.get("long_data")
    if not isinstance(long_data, str) or not long_data or len(long_data.encode("utf-8")) > 4096:
        raise SandboxError(47001, "long_data is 1 to 4096 bytes")
    seconds = body.get("expire_seconds", 2592000)
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not 1 <= seconds <= 2592000:
        raise SandboxError(47001, "expire_seconds is 1 to 2592000")
    with handler.state.lock:
        key = secrets.token_urlsafe(10)[:14]
        handler.state.web.short_keys[key] = {"app_id": app_id, "long_data": long_data,
                                             "create_time": int(time.time()), "expire_seconds": seconds}
    return {"errcode": 0, "errmsg": "ok", "short_key": key}


@api("POST", "/cgi-bin/shorturl/fetchshorten")
def _fetchshorten(handler, query, body, app_id):
    with handler.state.lock:
        item = handler.state.web.short_keys.get(str(body.get("short_key", "")))
        if item is None or item["app_id"] != app_id or item["create_time"] + item["expire_seconds"] < time.time():
            raise SandboxError(47001, "invalid short_key")
        return {"errcode": 0, "errmsg": "ok", "long_data": item["long_data"], "create_time": item["create_time"],
                "expire_seconds": item["expire_seconds"]}


# --- inspection -------------------------------------------------------------------------------------
@admin("GET", "/web")
def _web_summary(server, query, body):
    with server.state.lock:
        return server.state.web.public()


@admin("POST", "/web/expire_codes")
def _expire_codes(server, query, body):
    with server.state.lock:
        for grant in server.state.web.codes.values():
            grant["expires_at"] = 0
        return {"expired": len(server.state.web.codes)}
