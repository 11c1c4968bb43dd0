"""The sandbox's state: apps, tokens, followers, templates, deliveries, faults. Pure Python.

Everything is guarded by one re-entrant lock; the HTTP handler (``server.py``) and in-process
test code both go through the methods below, so the state is consistent whichever drives it.
"""
from __future__ import annotations

import re
import secrets
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from .media_store import MediaStore

# errcode -> errmsg, as api.weixin.qq.com words them (WeChat appends " rid: ..." to each).
ERRORS = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40008: "invalid message type",
    40013: "invalid appid",
    40014: "invalid access_token",
    40032: "invalid openid list size",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    42001: "access_token expired",
    43004: "require subscribe",
    44002: "empty post data",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    47001: "data format error",
    40004: "invalid media type",
    40005: "invalid file type",
    40006: "invalid meida size",
    40007: "invalid media_id",
    41005: "media data missing",
    40016: "invalid button size",
    40017: "invalid button type",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40020: "invalid button url size",
    40022: "invalid sub button level",
    40023: "invalid sub button size",
    40024: "invalid sub button type",
    40025: "invalid sub button name size",
    40026: "invalid sub button key size",
    40027: "invalid sub button url size",
    40054: "invalid sub button url domain",
    40055: "invalid button url domain",
    45159: "invalid tag id",
    # Tags, blacklist, mass send and kf accounts (sandbox/audience.py, sandbox/mass.py).
    40130: "invalid openid list size, at least two openid",
    45028: "has no masssend quota",
    45056: "too many tags now, no need to add new",
    45057: "can't delete the tag that has too many fans",
    45058: "can't modify sys tag",
    45059: "user has too many tags",
    45065: "clientmsgid exist",
    45066: "same clientmsgid retry too fast",
    45067: "clientmsgid size out of limit",
    45157: "invalid tag name",
    45158: "tag name too long",
    65400: "api unavailable, open the new customer service first",
    65401: "invalid customer service account",
    65403: "invalid nickname",
    65404: "invalid customer service account name",
    65405: "customer service accounts reach limit",
    65406: "customer service account exists",
    46003: "menu no exist",
    65301: "no conditional menu with this menuid",
    65302: "no such user",
    65303: "there is no default menu, create one before conditional menus",
    65304: "match rule is empty",
    65305: "too many conditional menus",
    65310: "country is required when province or city is given",
    65311: "province is required when city is given",
    65316: "the menu links to too many domains (at most 3)",
    89503: "force refresh too frequently",
}

TEMPLATE_KEYWORD_RE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\.DATA\s*\}\}")


def error_payload(errcode: int, errmsg: str | None = None) -> dict[str, Any]:
    """The JSON body WeChat returns for an error, with a request id like the real one."""
    text = errmsg or ERRORS.get(errcode, "error")
    return {"errcode": errcode, "errmsg": f"{text} rid: {secrets.token_hex(4)}-{secrets.token_hex(4)}"}


class SandboxError(Exception):
    """Raised inside a handler to answer with a WeChat error payload."""

    def __init__(self, errcode: int, errmsg: str | None = None):
        super().__init__(errcode, errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass
class App:
    app_id: str
    secret: str
    # Callback settings, used to push events back (optional).
    callback_url: str = ""
    token: str = ""
    encoding_aes_key: str = ""
    encrypt_mode: str = "plain"
    original_id: str = ""

    def public(self) -> dict[str, Any]:
        return {"app_id": self.app_id, "callback_url": self.callback_url, "encrypt_mode": self.encrypt_mode,
                "original_id": self.original_id}


@dataclass
class IssuedToken:
    value: str
    app_id: str
    kind: str  # "classic" | "stable"
    expires_at: float
    revoked_at: float | None = None  # still valid until this moment (grace period)


@dataclass
class Follower:
    openid: str
    nickname: str = ""
    subscribe: int = 1
    subscribe_time: int = field(default_factory=lambda: int(time.time()))
    language: str = "zh_CN"
    tagid_list: list[int] = field(default_factory=list)
    remark: str = ""
    unionid: str = ""
    subscribe_scene: str = "ADD_SCENE_SEARCH"
    # Fault knobs per user: 45015 (no interaction for 48 h), blocks template messages.
    interaction_expired: bool = False
    blocks_templates: bool = False
    # What conditional menus match on (trymatch); WeChat knows them from the user's profile.
    sex: str = ""                   # "1" male, "2" female
    country: str = ""
    province: str = ""
    city: str = ""
    client_platform_type: str = ""  # "1" iOS, "2" Android, "3" others
    # The TEMPLATESENDJOBFINISH status pushed after a template send, if not the default
    # ("success", or "failed:user block" with blocks_templates): e.g. "failed: system failed".
    template_job_status: str = ""
    blacklisted: bool = False  # /cgi-bin/tags/members/batchblacklist: mass sends filter them out

    def info(self, lang="zh_CN") -> dict[str, Any]:
        if not self.subscribe:
            return {"subscribe": 0, "openid": self.openid}
        data = {
            "subscribe": 1, "openid": self.openid, "language": self.language,
            "subscribe_time": self.subscribe_time, "remark": self.remark, "groupid": 0,
            "tagid_list": list(self.tagid_list), "subscribe_scene": self.subscribe_scene,
            "qr_scene": 0, "qr_scene_str": "",
        }
        if self.nickname:  # WeChat stopped returning nicknames in 2021; kept for fixtures
            data["nickname"] = self.nickname
        if self.unionid:
            data["unionid"] = self.unionid
        return data


@dataclass
class Fault:
    """Fault injection on one endpoint (path) of one app (or all apps when ``app_id`` is empty).

    kind: "error" (answer ``errcode``), "http" (answer HTTP ``status``), "drop" (close the
    connection without answering, before the request is applied), "drop_after" (apply the
    request, then close the connection: the caller cannot know it succeeded), "latency"
    (sleep ``seconds`` first), "rate_limit" (at most ``limit`` calls per ``per`` seconds, then
    ``errcode`` (45009 by default)).
    ``count``: how many calls it affects (None: until cleared).
    """

    path: str
    kind: str
    errcode: int = -1
    status: int = 503
    seconds: float = 0.0
    limit: int = 0
    per: float = 1.0
    count: int | None = 1
    app_id: str = ""
    hits: int = 0
    window: deque = field(default_factory=deque, repr=False)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("window")
        return data


def generated_openid(app_id: str, index: int, prefix: str = "o") -> str:
    """The openid of the ``index``-th generated follower of an app (``add_followers(count=...)``)."""
    return f"{prefix}{app_id[-6:]}{index:010d}"


def _new_token() -> str:
    # Real tokens are ~150 characters of [A-Za-z0-9_-]; the length matters to storage code.
    return secrets.token_urlsafe(110)[:148]


class SandboxState:
    """Mutable state of a sandbox server. Thread-safe."""

    def __init__(self):
        self.lock = threading.RLock()
        self.reset(keep_apps=False)

    # --- configuration ----------------------------------------------------------------------
    def reset(self, keep_apps: bool = True) -> None:
        """Forget tokens, deliveries, calls and faults (and apps unless ``keep_apps``)."""
        with self.lock:
            apps = getattr(self, "apps", {}) if keep_apps else {}
            self.apps: dict[str, App] = apps
            self.tokens: dict[str, IssuedToken] = {}
            self.current: dict[tuple[str, str], str] = {}  # (app_id, kind) -> latest token value
            self.last_force_refresh: dict[str, float] = {}
            self.tickets: dict[str, tuple[str, float]] = {}
            self.followers: dict[str, dict[str, Follower]] = {a: {} for a in apps} if keep_apps else {}
            self.templates: dict[str, dict[str, dict[str, Any]]] = {}
            self.tags: dict[str, dict[int, str]] = {}
            self.menus: dict[str, dict[str, Any] | None] = {}  # app id -> default menu ({"button": [...]})
            self.conditional_menus: dict[str, list[dict[str, Any]]] = {}  # app id -> [{button, matchrule, menuid}]
            self.next_menuid = 400_000_000
            self.messages: list[dict[str, Any]] = []
            # Customer-service typing indicators: {"app_id", "touser", "command"}, in order.
            self.typing: list[dict[str, Any]] = []
            self.template_dedupe: dict[tuple[str, str, str], tuple[int, float]] = {}
            self.resends_dropped = 0  # template sends answered from template_dedupe (not delivered)
            self.calls: list[dict[str, Any]] = []
            self.faults: list[Fault] = []
            self.pushes: list[dict[str, Any]] = []
            self.media = MediaStore()  # temporary media, permanent material, user media (media_store.py)
            self.next_msgid = 1_000_000_000
            from .mass import MassState  # mass sends, kf accounts: their own state (sandbox/mass.py)
            from .web import WebState  # OAuth codes and tokens, QR codes, short links

            from .wecom import WeComState  # WeCom corp apps, directories, app messages (sandbox/wecom.py)

            self.mass = MassState()
            self.web = WebState()
            wecom = getattr(self, "wecom", None)
            self.wecom = WeComState(self.lock)
            if keep_apps and wecom is not None:
                self.wecom.apps, self.wecom.corps = wecom.apps, wecom.corps
            self.config = {
                "token_ttl": 7200,          # seconds a token lives
                "stable_renew_window": 300,  # normal-mode stable_token renews in the last 5 minutes
                "classic_grace": 0,          # seconds an old classic token keeps working
                "force_refresh_interval": 30,
                "user_page_size": 10000,     # /cgi-bin/user/get page size (WeChat: 10000)
                "push_job_finish": False,    # push TEMPLATESENDJOBFINISH to the callback
                "job_finish_delay": 0.05,
                "record_calls": True,
                "menu_url_domains": [],      # hosts menu urls may link to (empty: any)
                "max_conditional_menus": 20,
            }

    def configure(self, **options) -> dict[str, Any]:
        with self.lock:
            unknown = set(options) - set(self.config)
            if unknown:
                raise ValueError(f"unknown option(s): {', '.join(sorted(unknown))}")
            self.config.update(options)
            return dict(self.config)

    def add_app(self, app_id: str, secret: str, **callback) -> App:
        with self.lock:
            app = App(app_id=app_id, secret=secret, **callback)
            self.apps[app_id] = app
            self.followers.setdefault(app_id, {})
            self.templates.setdefault(app_id, {})
            self.tags.setdefault(app_id, {})
            return app

    def add_corp_app(self, corp_id: str, secret: str, agent_id: int, **callback):
        """Register a WeCom app (``callback_url``, ``token``, ``encoding_aes_key``, ``name``
        optional): ``/cgi-bin/gettoken?corpid=&corpsecret=`` then issues its tokens."""
        return self.wecom.add_app(corp_id, secret, agent_id, **callback)

    def add_followers(self, app_id: str, followers=None, count: int = 0, prefix: str = "o") -> list[str]:
        """Add followers (dicts or openids), or ``count`` generated ones; return their openids."""
        with self.lock:
            self._app(app_id)
            bucket = self.followers.setdefault(app_id, {})
            added = []
            for item in followers or []:
                data = {"openid": item} if isinstance(item, str) else dict(item)
                follower = Follower(**data)
                bucket[follower.openid] = follower
                added.append(follower.openid)
            start = len(bucket)
            for i in range(count):
                openid = generated_openid(app_id, start + i, prefix)
                bucket[openid] = Follower(openid=openid, nickname=f"user{start + i}")
                added.append(openid)
            return added

    def add_tag(self, app_id: str, name: str, tag_id: int | None = None) -> int:
        """Create a follower tag (as /cgi-bin/tags/create does); return its id."""
        with self.lock:
            self._app(app_id)
            tags = self.tags.setdefault(app_id, {})
            tag_id = tag_id if tag_id is not None else max(tags, default=99) + 1
            tags[tag_id] = name
            return tag_id

    def add_template(self, app_id: str, title: str, content: str, example: str = "",
                     template_id: str | None = None) -> str:
        with self.lock:
            self._app(app_id)
            template_id = template_id or secrets.token_urlsafe(32)[:43]
            self.templates.setdefault(app_id, {})[template_id] = {
                "template_id": template_id, "title": title, "primary_industry": "IT科技",
                "deputy_industry": "互联网|电子商务", "content": content, "example": example,
            }
            return template_id

    def add_fault(self, path: str, kind: str = "error", **options) -> Fault:
        if kind not in {"error", "http", "drop", "drop_after", "latency", "rate_limit"}:
            raise ValueError(f"unknown fault kind {kind!r}")
        if not path.startswith("/"):
            raise ValueError("path must start with '/'")
        with self.lock:
            fault = Fault(path=path, kind=kind, **options)
            if kind == "rate_limit" and fault.limit <= 0:
                raise ValueError("rate_limit needs a positive limit")
            if kind == "rate_limit" and "errcode" not in options:
                fault.errcode = 45009
            if kind == "rate_limit" and "count" not in options:
                fault.count = None
            self.faults.append(fault)
            return fault

    def clear_faults(self, path: str | None = None) -> None:
        with self.lock:
            self.faults = [f for f in self.faults if path is not None and f.path != path]

    def expire_tokens(self, app_id: str | None = None) -> int:
        """Expire every issued token (of one app) now; return how many."""
        with self.lock:
            now = time.time()
            n = 0
            for token in self.tokens.values():
                if (app_id is None or token.app_id == app_id) and token.expires_at > now:
                    token.expires_at = now
                    n += 1
            for key, (ticket, _) in list(self.tickets.items()):
                if app_id is None or key == app_id:
                    self.tickets[key] = (ticket, now)
            return n

    # --- faults -----------------------------------------------------------------------------
    def take_faults(self, path: str, app_id: str) -> list[Fault]:
        """The faults applying to this call, consuming one use of each counted fault."""
        with self.lock:
            now = time.monotonic()
            hit = []
            for fault in self.faults:
                # A WeCom app's calls ("corp/agent") also match a fault on the whole corp.
                if fault.path != path or (fault.app_id and fault.app_id != app_id
                                          and not (app_id or "").startswith(fault.app_id + "/")):
                    continue
                if fault.kind == "rate_limit":
                    while fault.window and now - fault.window[0] > fault.per:
                        fault.window.popleft()
                    if len(fault.window) < fault.limit:
                        fault.window.append(now)
                        continue
                if fault.count is not None and fault.hits >= fault.count:
                    continue
                fault.hits += 1
                hit.append(fault)
            self.faults = [f for f in self.faults if f.count is None or f.hits < f.count]
            return hit

    # --- tokens -----------------------------------------------------------------------------
    def _app(self, app_id: str) -> App:
        app = self.apps.get(app_id)
        if app is None:
            raise SandboxError(40013)
        return app

    def _check_secret(self, app_id: str, secret: str) -> App:
        if not app_id:
            raise SandboxError(41002)
        if not secret:
            raise SandboxError(41004)
        app = self._app(app_id)
        if not secrets.compare_digest(app.secret.encode(), secret.encode()):
            raise SandboxError(40125)
        return app

    def _issue(self, app_id: str, kind: str) -> IssuedToken:
        now = time.time()
        token = IssuedToken(_new_token(), app_id, kind, now + self.config["token_ttl"])
        previous = self.tokens.get(self.current.get((app_id, kind), ""))
        if previous is not None and previous.revoked_at is None:
            previous.revoked_at = now + (self.config["classic_grace"] if kind == "classic" else 0)
        self.tokens[token.value] = token
        self.current[(app_id, kind)] = token.value
        return token

    def issue_classic(self, app_id: str, secret: str) -> dict[str, Any]:
        """/cgi-bin/token: always a new token; the previous classic token stops working."""
        with self.lock:
            self._check_secret(app_id, secret)
            token = self._issue(app_id, "classic")
            return {"access_token": token.value, "expires_in": int(self.config["token_ttl"])}

    def issue_stable(self, app_id: str, secret: str, force_refresh: bool = False) -> dict[str, Any]:
        """/cgi-bin/stable_token: the current token while valid; a new one in its last minutes.

        Normal mode never invalidates: a token renewed in the last ``stable_renew_window``
        seconds leaves the old one valid until it expires. ``force_refresh`` revokes the old
        one, at most once per ``force_refresh_interval`` seconds.
        """
        with self.lock:
            self._check_secret(app_id, secret)
            now = time.time()
            current = self.tokens.get(self.current.get((app_id, "stable"), ""))
            alive = current is not None and self._alive(current, now)
            if force_refresh:
                last = self.last_force_refresh.get(app_id, 0)
                if alive and now - last < self.config["force_refresh_interval"]:
                    raise SandboxError(89503)
                self.last_force_refresh[app_id] = now
                token = self._issue(app_id, "stable")
            elif alive and current.expires_at - now > self.config["stable_renew_window"]:
                token = current
            else:
                # Renewal without revocation: the old token lives until its own expiry.
                token = IssuedToken(_new_token(), app_id, "stable", now + self.config["token_ttl"])
                self.tokens[token.value] = token
                self.current[(app_id, "stable")] = token.value
            return {"access_token": token.value, "expires_in": max(0, int(token.expires_at - now))}

    @staticmethod
    def _alive(token: IssuedToken, now: float) -> bool:
        return token.expires_at > now and (token.revoked_at is None or token.revoked_at > now)

    def check_token(self, value: str | None) -> str:
        """Return the app id of a valid token, or raise the error WeChat would answer."""
        with self.lock:
            if not value:
                raise SandboxError(41001)
            token = self.tokens.get(value)
            if token is None:
                raise SandboxError(40014 if len(value) < 20 else 40001)
            now = time.time()
            if token.revoked_at is not None and token.revoked_at <= now:
                raise SandboxError(40001)
            if token.expires_at <= now:
                raise SandboxError(42001)
            return token.app_id

    def app_for_token(self, value: str | None) -> str:
        """The app a token was issued to, valid or not ('' if unknown); for call records."""
        token = self.tokens.get(value or "")
        return token.app_id if token else ""

    def ticket(self, app_id: str, kind: str) -> dict[str, Any]:
        if kind not in ("jsapi", "wx_card"):
            raise SandboxError(40097, "invalid args")
        with self.lock:
            key = app_id if kind == "jsapi" else f"{app_id}:card"
            now = time.time()
            ticket, expires_at = self.tickets.get(key, ("", 0))
            if expires_at - now <= self.config["stable_renew_window"]:
                ticket, expires_at = secrets.token_urlsafe(64)[:86], now + self.config["token_ttl"]
                self.tickets[key] = (ticket, expires_at)
            return {"errcode": 0, "errmsg": "ok", "ticket": ticket, "expires_in": int(expires_at - now)}

    # --- followers --------------------------------------------------------------------------
    def follower(self, app_id: str, openid: str) -> Follower:
        if not isinstance(openid, str) or not re.fullmatch(r"[A-Za-z0-9_-]{6,64}", openid or ""):
            raise SandboxError(40003)
        follower = self.followers.get(app_id, {}).get(openid)
        if follower is None:
            raise SandboxError(40003)
        return follower

    def subscribed(self, app_id: str, openid: str) -> Follower:
        follower = self.follower(app_id, openid)
        if not follower.subscribe:
            raise SandboxError(43004)
        return follower

    def user_page(self, app_id: str, next_openid: str = "") -> dict[str, Any]:
        with self.lock:
            ids = [o for o, f in self.followers.get(app_id, {}).items() if f.subscribe]
            start = 0
            if next_openid:
                try:
                    start = ids.index(next_openid) + 1
                except ValueError:
                    raise SandboxError(40003) from None
            page = ids[start:start + int(self.config["user_page_size"])]
            data = {"total": len(ids), "count": len(page), "next_openid": page[-1] if page else ""}
            if page:
                data["data"] = {"openid": page}
            return data

    # --- deliveries -------------------------------------------------------------------------
    def deliver(self, app_id: str, kind: str, payload: dict[str, Any], msgid: int | None = None) -> dict:
        with self.lock:
            record = {"seq": len(self.messages) + 1, "app_id": app_id, "kind": kind,
                      "touser": payload.get("touser"), "msgtype": payload.get("msgtype", "template"),
                      "payload": payload, "msgid": msgid, "at": time.time()}
            self.messages.append(record)
            return record

    def new_msgid(self) -> int:
        with self.lock:
            self.next_msgid += 1
            return self.next_msgid

    def record_call(self, call: dict[str, Any]) -> None:
        if self.config["record_calls"]:
            with self.lock:
                call["seq"] = len(self.calls) + 1
                self.calls.append(call)

    # --- custom menus -----------------------------------------------------------------------
    def create_menu(self, app_id: str, body: dict[str, Any]) -> None:
        """/cgi-bin/menu/create: replace the default menu (conditional menus stay)."""
        buttons = check_menu_buttons(body.get("button"), self.config["menu_url_domains"])
        with self.lock:
            self.menus[app_id] = {"button": buttons}

    def add_conditional_menu(self, app_id: str, body: dict[str, Any]) -> str:
        """/cgi-bin/menu/addconditional: a new conditional menu; returns its menuid."""
        with self.lock:
            if not self.menus.get(app_id):
                raise SandboxError(65303)
            buttons = check_menu_buttons(body.get("button"), self.config["menu_url_domains"])
            rule = self._check_matchrule(app_id, body.get("matchrule"))
            menus = self.conditional_menus.setdefault(app_id, [])
            if len(menus) >= int(self.config["max_conditional_menus"]):
                raise SandboxError(65305)
            self.next_menuid += 1
            menuid = str(self.next_menuid)
            menus.append({"button": buttons, "matchrule": rule, "menuid": menuid})
            return menuid

    def _check_matchrule(self, app_id: str, raw: Any) -> dict[str, str]:
        if not isinstance(raw, dict):
            raise SandboxError(65304)
        rule = {k: str(v).strip() for k, v in raw.items()
                if k in MENU_MATCH_FIELDS and v is not None and str(v).strip()}
        if not rule:
            raise SandboxError(65304)
        if ("province" in rule or "city" in rule) and "country" not in rule:
            raise SandboxError(65310)
        if "city" in rule and "province" not in rule:
            raise SandboxError(65311)
        if "tag_id" in rule and (not rule["tag_id"].isdigit() or int(rule["tag_id"]) not in self.tags.get(app_id, {})):
            raise SandboxError(45159)
        if rule.get("sex", "1") not in ("1", "2") or rule.get("client_platform_type", "1") not in ("1", "2", "3"):
            raise SandboxError(47001)
        return rule

    def delete_conditional_menu(self, app_id: str, menuid: Any) -> None:
        with self.lock:
            menus = self.conditional_menus.get(app_id, [])
            kept = [m for m in menus if m["menuid"] != str(menuid)]
            if len(kept) == len(menus):
                raise SandboxError(65301)
            self.conditional_menus[app_id] = kept

    def delete_menus(self, app_id: str) -> None:
        """/cgi-bin/menu/delete: the default menu and every conditional menu."""
        with self.lock:
            self.menus[app_id] = None
            self.conditional_menus[app_id] = []

    def get_menus(self, app_id: str) -> dict[str, Any]:
        """/cgi-bin/menu/get, worded as WeChat does: leaf buttons carry an empty ``sub_button``."""
        with self.lock:
            default = self.menus.get(app_id)
            if not default:
                raise SandboxError(46003)
            conditional = self.conditional_menus.get(app_id, [])
            answer: dict[str, Any] = {"menu": {"button": _as_answered(default["button"])}}
            if conditional:
                answer["menu"]["menuid"] = 400_000_000
                answer["conditionalmenu"] = [
                    {"button": _as_answered(m["button"]), "matchrule": dict(m["matchrule"]), "menuid": int(m["menuid"])}
                    for m in conditional]
            return answer

    def try_match(self, app_id: str, user_id: Any) -> dict[str, Any]:
        """/cgi-bin/menu/trymatch: the menu this follower sees (the newest matching conditional
        menu, else the default one)."""
        with self.lock:
            follower = self.followers.get(app_id, {}).get(user_id if isinstance(user_id, str) else "")
            if follower is None:
                raise SandboxError(65302)
            if not self.menus.get(app_id):
                raise SandboxError(46003)
            for menu in reversed(self.conditional_menus.get(app_id, [])):
                if _matches(menu["matchrule"], follower):
                    return {"button": _as_answered(menu["button"])}
            return {"button": _as_answered(self.menus[app_id]["button"])}

    def list_menus(self, app_id: str | None = None) -> dict[str, Any]:
        """Inspection: every app's default and conditional menus, as stored."""
        with self.lock:
            apps = [app_id] if app_id else sorted(set(self.menus) | set(self.conditional_menus))
            return {a: {"default": self.menus.get(a),
                        "conditional": [dict(m) for m in self.conditional_menus.get(a, [])]} for a in apps}

    # --- inspection -------------------------------------------------------------------------
    def list_calls(self, path: str | None = None, app_id: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(c) for c in self.calls
                    if (path is None or c["path"] == path) and (app_id is None or c["app_id"] == app_id)]

    def list_messages(self, app_id: str | None = None, touser: str | None = None,
                      kind: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(m) for m in self.messages
                    if (app_id is None or m["app_id"] == app_id) and (touser is None or m["touser"] == touser)
                    and (kind is None or m["kind"] == kind)]

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "apps": [a.public() for a in self.apps.values()],
                "followers": {a: len(f) for a, f in self.followers.items()},
                "templates": {a: len(t) for a, t in self.templates.items()},
                "tokens_issued": len(self.tokens),
                "messages": len(self.messages),
                "resends_dropped": self.resends_dropped,
                "calls": len(self.calls),
                "faults": [f.public() for f in self.faults],
                "menus": {a: {"default": bool(m), "conditional": len(self.conditional_menus.get(a, []))}
                          for a, m in self.menus.items()},
                "config": dict(self.config),
            }


# --- custom menus, checked as WeChat does (each problem answers its own error code) -------------------
MENU_BUTTON_TYPES = ("click", "view", "miniprogram", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
                     "pic_photo_or_album", "pic_weixin", "location_select", "media_id", "article_id",
                     "article_view_limited", "view_limited")
MENU_KEY_TYPES = {"click", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album",
                  "pic_weixin", "location_select"}
MENU_MATCH_FIELDS = ("tag_id", "sex", "country", "province", "city", "client_platform_type", "language")
# (top-level code, sub-button code) per problem.
_MENU_CODES = {"type": (40017, 40024), "name": (40018, 40025), "key": (40019, 40026), "url": (40020, 40027),
               "domain": (40055, 40054)}


def _bytes(value: Any) -> int:
    return len(value.encode("utf-8")) if isinstance(value, str) else 0


def check_menu_buttons(buttons: Any, allowed_domains=()) -> list[dict[str, Any]]:
    """The button list of a menu as WeChat stores it, or ``SandboxError`` with WeChat's code."""
    from urllib.parse import urlsplit

    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise SandboxError(40016)
    domains: set[str] = set()

    def check(button: Any, sub: bool) -> dict[str, Any]:
        def fail(problem):
            raise SandboxError(_MENU_CODES[problem][1 if sub else 0])

        if not isinstance(button, dict):
            raise SandboxError(47001)
        if not 1 <= _bytes(button.get("name")) <= (60 if sub else 16):
            fail("name")
        subs = button.get("sub_button") or []
        if subs:
            if sub:
                raise SandboxError(40022)
            if not isinstance(subs, list) or len(subs) > 5:
                raise SandboxError(40023)
            return {"name": button["name"], "sub_button": [check(b, True) for b in subs]}
        kind = button.get("type")
        if kind not in MENU_BUTTON_TYPES:
            fail("type")
        if kind in MENU_KEY_TYPES and not 1 <= _bytes(button.get("key")) <= 128:
            fail("key")
        if kind in ("view", "miniprogram"):
            url = button.get("url")
            if not 1 <= _bytes(url) <= 1024:
                fail("url")
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                fail("domain")
            if allowed_domains and parts.hostname not in allowed_domains:
                fail("domain")
            if kind == "view":
                domains.add(parts.hostname)
        if kind == "miniprogram" and not (button.get("appid") and button.get("pagepath")):
            raise SandboxError(47001)
        if kind in ("media_id", "view_limited") and not button.get("media_id"):
            raise SandboxError(40007)
        if kind in ("article_id", "article_view_limited") and not button.get("article_id"):
            raise SandboxError(40007)
        return {k: v for k, v in button.items() if k != "sub_button"}

    checked = [check(b, False) for b in buttons]
    if len(domains) > 3:
        raise SandboxError(65316)
    return checked


def _as_answered(buttons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Buttons as /cgi-bin/menu/get answers them: every button has a ``sub_button`` list."""
    out = []
    for button in buttons:
        item = {k: v for k, v in button.items() if k != "sub_button"}
        item["sub_button"] = [dict(b, sub_button=[]) for b in button.get("sub_button", [])]
        out.append(item)
    return out


def _matches(rule: dict[str, str], follower: Follower) -> bool:
    for name, wanted in rule.items():
        if name == "tag_id":
            if int(wanted) not in follower.tagid_list:
                return False
        elif str(getattr(follower, name, "")) != wanted:
            return False
    return True
