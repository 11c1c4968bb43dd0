"""The sandbox's WeCom side (qyapi.weixin.qq.com): corp apps, their tokens, app messages, media.

The sandbox serves WeChat and WeCom on one port. WeCom's paths are ``/cgi-bin/...`` like
WeChat's and some are the same (``/cgi-bin/media/upload``, ``/cgi-bin/menu/create``...), so a
call is routed by its token's owner: a token issued by ``/cgi-bin/gettoken`` (a WeCom token)
goes to the WeCom routes registered here with ``@wecom_api``, any other to WeChat's. A path
only WeCom has (``/cgi-bin/gettoken``, ``/cgi-bin/message/send``) reaches its WeCom route
whatever the token.

Register apps and people in tests::

    sandbox.state.add_corp_app("ww0123456789abcdef", "app-secret", 1000002,
                               callback_url=live_server.url + "/wechat/callback/hr/",
                               token="tok", encoding_aes_key=key)
    sandbox.state.wecom.add_users("ww0123456789abcdef", ["zhangsan", "lisi"])

A WeCom token's owner ("app id" in call records and faults) is ``"<corp id>/<agent id>"``; a
fault whose ``app_id`` is the corp id applies to all the corp's apps.
https://developer.work.weixin.qq.com/document/path/90664
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .state import IssuedToken, SandboxError

WECOM_ROUTES: dict[tuple[str, str], tuple[Any, bool]] = {}  # (method, path) -> (handler, needs token)

# errcode -> errmsg as WeCom words them (the answers end with a "more info" link).
WECOM_ERRORS = {
    40001: "invalid secret",
    40003: "invalid userid",
    40004: "invalid media type",
    40005: "invalid file type",
    40006: "invalid file size",
    40007: "invalid media_id",
    40008: "invalid message type",
    40013: "invalid corpid",
    40014: "invalid access_token",
    40056: "invalid agentid",
    41001: "access_token missing",
    41002: "corpid missing",
    41004: "corpsecret missing",
    41005: "media data missing",
    41006: "media_id missing",
    42001: "access_token expired",
    44002: "empty post data",
    44004: "empty content",
    45002: "content size out of limit",
    47001: "data format error",
    60011: "no privilege to access/modify contact/party/agent",
    81013: "user & party & tag all invalid",
}


def wecom_error(errcode: int, detail: str = "") -> SandboxError:
    text = WECOM_ERRORS.get(errcode, "error") + (f": {detail}" if detail else "")
    return SandboxError(errcode, f"{text}, hint: [{secrets.token_hex(6)}], "
                                 f"more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}")


def wecom_api(method: str, path: str, token: bool = True):
    """Register a WeCom endpoint; the handler gets ``(handler, query, body, owner)`` where
    ``owner`` is the ``CorpApp`` the token belongs to (None for token-less routes)."""
    def register(func):
        WECOM_ROUTES[(method, path)] = (func, token)
        return func
    return register


@dataclass
class CorpApp:
    """One app (应用) of a corp: its secret and AgentId, and its callback settings (to push)."""

    corp_id: str
    secret: str
    agent_id: int
    callback_url: str = ""
    token: str = ""
    encoding_aes_key: str = ""
    name: str = ""

    @property
    def owner(self) -> str:
        return f"{self.corp_id}/{self.agent_id}"

    def public(self) -> dict[str, Any]:
        return {"corp_id": self.corp_id, "agent_id": self.agent_id, "callback_url": self.callback_url,
                "name": self.name}


@dataclass
class Corp:
    """A corp's directory, as far as the sandbox knows it: members (userid -> fields),
    departments (id -> fields) and tags (id -> fields)."""

    corp_id: str
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    departments: dict[int, dict[str, Any]] = field(default_factory=lambda: {1: {"id": 1, "name": "Corp", "parentid": 0}})
    tags: dict[int, dict[str, Any]] = field(default_factory=dict)


class WeComState:
    """WeCom's part of the sandbox state (``state.wecom``); guarded by the state's lock."""

    def __init__(self, lock: threading.RLock):
        self.lock = lock
        self.apps: dict[str, CorpApp] = {}  # owner ("corp/agent") -> app
        self.corps: dict[str, Corp] = {}
        self.messages: list[dict[str, Any]] = []  # app messages (message/send), in order
        self.pushes: list[dict[str, Any]] = []

    def add_app(self, corp_id: str, secret: str, agent_id: int, **callback) -> CorpApp:
        with self.lock:
            app = CorpApp(corp_id=corp_id, secret=secret, agent_id=int(agent_id), **callback)
            self.apps[app.owner] = app
            self.corps.setdefault(corp_id, Corp(corp_id))
            return app

    def app(self, owner: str) -> CorpApp:
        with self.lock:
            app = self.apps.get(owner)
            if app is None:
                raise wecom_error(40013)
            return app

    def corp(self, corp_id: str) -> Corp:
        with self.lock:
            corp = self.corps.get(corp_id)
            if corp is None:
                raise wecom_error(40013)
            return corp

    def app_by_secret(self, corp_id: str, secret: str) -> CorpApp:
        """The app a gettoken call names: 41002/41004 when missing, 40013 for an unknown corp,
        40001 for a secret that is none of the corp's apps'."""
        if not corp_id:
            raise wecom_error(41002)
        if not secret:
            raise wecom_error(41004)
        with self.lock:
            if corp_id not in self.corps:
                raise wecom_error(40013)
            for app in self.apps.values():
                if app.corp_id == corp_id and secrets.compare_digest(app.secret.encode(), secret.encode()):
                    return app
        raise wecom_error(40001)

    # --- the directory (enough for message/send to judge recipients) -----------------------------
    def add_users(self, corp_id: str, users, department: int = 1) -> list[str]:
        """Add members (userids or dicts with ``userid``); return their userids."""
        with self.lock:
            corp = self.corps.setdefault(corp_id, Corp(corp_id))
            added = []
            for item in users:
                data = {"userid": item} if isinstance(item, str) else dict(item)
                data.setdefault("name", data["userid"])
                data.setdefault("department", [department])
                corp.users[data["userid"]] = data
                added.append(data["userid"])
            return added

    def add_department(self, corp_id: str, department_id: int, name: str, parentid: int = 1) -> int:
        with self.lock:
            corp = self.corps.setdefault(corp_id, Corp(corp_id))
            corp.departments[int(department_id)] = {"id": int(department_id), "name": name, "parentid": parentid}
            return int(department_id)

    def add_tag(self, corp_id: str, tag_id: int, name: str, userids=()) -> int:
        with self.lock:
            corp = self.corps.setdefault(corp_id, Corp(corp_id))
            corp.tags[int(tag_id)] = {"tagid": int(tag_id), "tagname": name, "userlist": list(userids)}
            return int(tag_id)

    def list_messages(self, owner: str | None = None, touser: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.messages if (owner is None or m["owner"] == owner)
                    and (touser is None or touser in m["payload"].get("touser", "").split("|"))]


# --- tokens ----------------------------------------------------------------------------------------
def issue_token(state, app: CorpApp) -> dict[str, Any]:
    """WeCom hands out the app's current token while it is valid, a new one after it expired."""
    with state.lock:
        now = time.time()
        current = state.tokens.get(state.current.get((app.owner, "wecom"), ""))
        if current is None or not state._alive(current, now):
            from .state import _new_token

            current = IssuedToken(_new_token(), app.owner, "wecom", now + state.config["token_ttl"])
            state.tokens[current.value] = current
            state.current[(app.owner, "wecom")] = current.value
        return {"errcode": 0, "errmsg": "ok", "access_token": current.value,
                "expires_in": max(0, int(current.expires_at - now))}


def check_token(state, value: str | None) -> CorpApp:
    """The app a valid WeCom token belongs to, or WeCom's error (41001, 40014, 42001)."""
    with state.lock:
        if not value:
            raise wecom_error(41001)
        token = state.tokens.get(value)
        if token is None or token.kind != "wecom":
            raise wecom_error(40014)
        now = time.time()
        if token.revoked_at is not None and token.revoked_at <= now:
            raise wecom_error(40014)
        if token.expires_at <= now:
            raise wecom_error(42001)
        return state.wecom.app(token.app_id)


def token_owner(state, value: str | None) -> str:
    """The owner of a WeCom token ("corp/agent"), '' for none or a WeChat token."""
    token = state.tokens.get(value or "")
    return token.app_id if token is not None and token.kind == "wecom" else ""


@wecom_api("GET", "/cgi-bin/gettoken", token=False)
def _gettoken(handler, query, body, owner):
    app = handler.state.wecom.app_by_secret(query.get("corpid", ""), query.get("corpsecret", ""))
    return issue_token(handler.state, app)


# --- app messages ----------------------------------------------------------------------------------
MESSAGE_REQUIRED = {
    "text": ("content",), "image": ("media_id",), "voice": ("media_id",), "video": ("media_id",),
    "file": ("media_id",), "textcard": ("title", "description", "url"), "news": ("articles",),
    "mpnews": ("articles",), "markdown": ("content",), "miniprogram_notice": ("appid", "title"),
    "template_card": ("card_type",),
}


def _split(value) -> list[str]:
    return [v for v in str(value or "").split("|") if v]


def _media_key(app: CorpApp) -> str:
    return f"wecom:{app.corp_id}"  # media ids are shared by the apps of a corp


@wecom_api("POST", "/cgi-bin/message/send")
def _message_send(handler, query, body, app):
    """Deliver to the members, departments and tags the corp has; name the others in
    ``invaliduser`` / ``invalidparty`` / ``invalidtag`` (81013 when no one is reachable)."""
    state = handler.state
    agent_id = body.get("agentid")
    if isinstance(agent_id, bool) or not str(agent_id).isdigit() or int(agent_id) != app.agent_id:
        raise wecom_error(40056)
    msgtype = body.get("msgtype")
    if msgtype not in MESSAGE_REQUIRED:
        raise wecom_error(40008)
    content = body.get(msgtype)
    if not isinstance(content, dict) or any(not content.get(k) for k in MESSAGE_REQUIRED[msgtype]):
        raise wecom_error(44004 if msgtype in ("text", "markdown") else 47001)
    if msgtype in ("text", "markdown") and len(str(content["content"]).encode("utf-8")) > 2048:
        raise wecom_error(45002)
    with state.lock:
        if msgtype in ("image", "voice", "video", "file"):
            if state.media.get(_media_key(app), str(content["media_id"]), permanent=False) is None:
                raise wecom_error(40007)
        corp = state.wecom.corp(app.corp_id)
        users, parties, tags = _split(body.get("touser")), _split(body.get("toparty")), _split(body.get("totag"))
        if not (users or parties or tags):
            raise wecom_error(40003, "no recipient")
        reached: list[str] = []
        invalid_users, invalid_parties, invalid_tags = [], [], []
        if users == ["@all"]:
            reached = list(corp.users)
        else:
            for userid in users:
                (reached if userid in corp.users else invalid_users).append(userid)
        for party in parties:
            if not party.isdigit() or int(party) not in corp.departments:
                invalid_parties.append(party)
            else:
                reached += [u for u, data in corp.users.items() if int(party) in data.get("department", [])]
        for tag in tags:
            if not tag.isdigit() or int(tag) not in corp.tags:
                invalid_tags.append(tag)
            else:
                reached += [u for u in corp.tags[int(tag)].get("userlist", []) if u in corp.users]
        answer = {"errcode": 0, "errmsg": "ok", "invaliduser": "|".join(invalid_users),
                  "invalidparty": "|".join(invalid_parties), "invalidtag": "|".join(invalid_tags),
                  "unlicenseduser": ""}
        if not reached and users != ["@all"]:
            answer.update(errcode=81013, errmsg=WECOM_ERRORS[81013])
            return answer
        msgid = secrets.token_urlsafe(24)
        state.wecom.messages.append({"seq": len(state.wecom.messages) + 1, "owner": app.owner,
                                     "corp_id": app.corp_id, "agent_id": app.agent_id, "msgtype": msgtype,
                                     "touser": body.get("touser", ""), "payload": body,
                                     "reached": list(dict.fromkeys(reached)), "msgid": msgid, "at": time.time()})
        answer["msgid"] = msgid
        return answer


# --- media -------------------------------------------------------------------------------------
# kind -> (largest size in bytes, file extensions); every file is at least 5 bytes.
# https://developer.work.weixin.qq.com/document/path/90253
WECOM_MEDIA_LIMITS = {
    "image": (10 * 1024 * 1024, ("jpg", "jpeg", "png")),
    "voice": (2 * 1024 * 1024, ("amr",)),
    "video": (10 * 1024 * 1024, ("mp4",)),
    "file": (20 * 1024 * 1024, None),
}


@wecom_api("POST", "/cgi-bin/media/upload")
def _media_upload(handler, query, raw, app):
    from .material import CONTENT_TYPES, parse_multipart

    kind = query.get("type", "")
    if kind not in WECOM_MEDIA_LIMITS:
        raise wecom_error(40004)
    fields = parse_multipart(handler.headers.get("Content-Type", ""), raw if isinstance(raw, bytes) else b"")
    if "media" not in fields:
        raise wecom_error(41005)
    filename, data = fields["media"]
    largest, extensions = WECOM_MEDIA_LIMITS[kind]
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extensions is not None and extension not in extensions:
        raise wecom_error(40005)
    if not 5 <= len(data) <= largest:
        raise wecom_error(40006)
    with handler.state.lock:
        media = handler.state.media.put(_media_key(app), kind, data, filename=filename,
                                        content_type=CONTENT_TYPES.get(extension, ""))
    return {"errcode": 0, "errmsg": "", "type": kind, "media_id": media.media_id,
            "created_at": str(int(media.created_at))}


@wecom_api("GET", "/cgi-bin/media/get")
def _media_get(handler, query, raw, app):
    from .server import RawBody

    media_id = query.get("media_id", "")
    if not media_id:
        raise wecom_error(41006)
    with handler.state.lock:
        media = handler.state.media.get(_media_key(app), media_id, permanent=False)
    if media is None:
        raise wecom_error(40007)
    return RawBody(media.data, media.content_type, media.filename)


def add_user_media(state, corp_id: str, kind: str, data: bytes, filename: str = "") -> str:
    """Media a member sends to an app (a pushed image/voice/video/file message names its MediaId)."""
    with state.lock:
        return state.media.put(f"wecom:{corp_id}", kind, data, filename=filename).media_id
