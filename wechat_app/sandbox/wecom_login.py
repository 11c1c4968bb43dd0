"""The sandbox's WeCom page login (网页授权登录) and agent menus.

- ``GET /connect/oauth2/authorize?appid=CORPID&redirect_uri=&response_type=code&scope=snsapi_base
  &state=&agentid=`` (the same page as WeChat's, told apart by ``agentid``): lists the corp's
  members so that the tester picks who logs in, then redirects to ``redirect_uri?code=&state=``.
  A code is good once, for 5 minutes, for the corp that issued it.
- ``GET /cgi-bin/auth/getuserinfo?access_token=&code=`` (a WeCom token): ``{"userid"}`` for a
  member, ``{"openid"}`` for a non-member ("external" in the page's list), 40029 for a bad,
  used, expired or other corp's code.
- ``/cgi-bin/menu/create?agentid=``, ``/cgi-bin/menu/get``, ``/cgi-bin/menu/delete`` for WeCom
  tokens: the app's menu (WeChat's button rules; 40056 for another app's agentid, 46003 no menu).
Pure Python (no Django).
"""
from __future__ import annotations

import html
import secrets
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from .server import RawResponse
from .state import SandboxError, check_menu_buttons
from .wecom import WECOM_ERRORS, wecom_api, wecom_error

WECOM_ERRORS.setdefault(40029, "invalid code")
WECOM_ERRORS.setdefault(46003, "menu no exist")
CODE_TTL = 300
EXTERNAL = "__external__"


def _codes(state) -> dict[str, dict[str, Any]]:
    return state.wecom.__dict__.setdefault("login_codes", {})


def _menus(state) -> dict[str, dict[str, Any]]:
    return state.wecom.__dict__.setdefault("menus", {})


def authorize_params(state, query) -> dict[str, str]:
    """WeCom's checks of an authorize request (raises SandboxError)."""
    corp_id, agent_id = query.get("appid", ""), query.get("agentid", "")
    with state.lock:
        if corp_id not in state.wecom.corps:
            raise wecom_error(40013)
        if not agent_id.isdigit() or f"{corp_id}/{int(agent_id)}" not in state.wecom.apps:
            raise wecom_error(40056)
    redirect_uri = query.get("redirect_uri", "")
    if urlsplit(redirect_uri).scheme not in ("http", "https") or not urlsplit(redirect_uri).netloc:
        raise SandboxError(50001, "redirect_uri not trusted")
    if query.get("response_type") != "code":
        raise SandboxError(10004, "response_type must be code")
    if query.get("scope") not in ("snsapi_base", "snsapi_privateinfo"):
        raise SandboxError(10005, "scope is snsapi_base or snsapi_privateinfo")
    state_value = query.get("state", "")
    if len(state_value) > 128 or state_value and not state_value.isalnum():
        raise SandboxError(10006, "state is at most 128 letters and digits")
    return {"appid": corp_id, "agentid": str(int(agent_id)), "redirect_uri": redirect_uri, "response_type": "code",
            "scope": query["scope"], "state": state_value}


def _page(title: str, body: str, status: int = 200) -> RawResponse:
    from .web import _page as page

    return page(title, body, status)


def authorize_page(handler, query) -> RawResponse:
    try:
        params = authorize_params(handler.state, query)
    except SandboxError as err:
        return _page("Authorization error", f"<p>errcode {err.errcode}: {html.escape(err.errmsg or '')}</p>", 400)
    with handler.state.lock:
        members = list(handler.state.wecom.corps[params["appid"]].users.values())[:50]
    items = []
    for member in members + [{"userid": EXTERNAL, "name": "someone outside the corp"}]:
        link = "/connect/oauth2/authorize/confirm?" + urlencode({**params, "userid": member["userid"]})
        items.append(f"<a class='user' href='{html.escape(link)}'>Log in as {html.escape(str(member.get('name')))} "
                     f"<small>{html.escape(member['userid'])}</small></a>")
    body = (f"<p>The WeCom app <code>{html.escape(params['agentid'])}</code> of "
            f"<code>{html.escape(params['appid'])}</code> asks who you are. Pick the member:</p>" + "".join(items))
    return _page("WeCom sandbox: log in", body)


def authorize_confirm(handler, query) -> RawResponse:
    try:
        params = authorize_params(handler.state, query)
    except SandboxError as err:
        return _page("Authorization error", f"<p>errcode {err.errcode}</p>", 400)
    state = handler.state
    userid = query.get("userid", "")
    with state.lock:
        if userid != EXTERNAL and userid not in state.wecom.corps[params["appid"]].users:
            return _page("Authorization error", "<p>errcode 60111: no such member</p>", 400)
        code = secrets.token_urlsafe(24)
        _codes(state)[code] = {"corp_id": params["appid"], "userid": userid, "expires_at": time.time() + CODE_TTL}
    target = params["redirect_uri"] + ("&" if "?" in params["redirect_uri"] else "?") + urlencode(
        {"code": code, "state": params["state"]})
    return RawResponse(b"", status=302, headers={"Location": target})


def issue_code(state, corp_id: str, userid: str) -> str:
    """A login code for ``userid`` (tests that skip the page)."""
    with state.lock:
        code = secrets.token_urlsafe(24)
        _codes(state)[code] = {"corp_id": corp_id, "userid": userid, "expires_at": time.time() + CODE_TTL}
        return code


@wecom_api("GET", "/cgi-bin/auth/getuserinfo")
def _getuserinfo(handler, query, body, app):
    state = handler.state
    with state.lock:
        entry = _codes(state).pop(query.get("code", ""), None)
    if entry is None or entry["corp_id"] != app.corp_id or entry["expires_at"] < time.time():
        raise wecom_error(40029)
    if entry["userid"] == EXTERNAL:
        return {"openid": "o" + secrets.token_hex(14)}
    return {"userid": entry["userid"], "user_ticket": secrets.token_urlsafe(32), "expires_in": 1800}


# --- agent menus -------------------------------------------------------------------------------
def _check_agent(app, query) -> None:
    agent_id = query.get("agentid", "")
    if not agent_id.isdigit() or int(agent_id) != app.agent_id:
        raise wecom_error(40056)


@wecom_api("POST", "/cgi-bin/menu/create")
def _menu_create(handler, query, body, app):
    _check_agent(app, query)
    buttons = check_menu_buttons(body.get("button"))
    with handler.state.lock:
        _menus(handler.state)[app.owner] = {"button": buttons}
    return {"errcode": 0, "errmsg": "ok"}


@wecom_api("GET", "/cgi-bin/menu/get")
def _menu_get(handler, query, body, app):
    _check_agent(app, query)
    with handler.state.lock:
        menu = _menus(handler.state).get(app.owner)
    if menu is None:
        raise wecom_error(46003)
    return {"errcode": 0, "errmsg": "ok", "button": menu["button"]}


@wecom_api("GET", "/cgi-bin/menu/delete")
def _menu_delete(handler, query, body, app):
    _check_agent(app, query)
    with handler.state.lock:
        _menus(handler.state).pop(app.owner, None)
    return {"errcode": 0, "errmsg": "ok"}


def agent_menu(state, corp_id: str, agent_id: int) -> dict[str, Any] | None:
    with state.lock:
        return _menus(state).get(f"{corp_id}/{int(agent_id)}")
