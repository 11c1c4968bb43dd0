"""A fake api.weixin.qq.com: a real threaded HTTP server with state and fault injection.

It imports nothing from Django so that it runs standalone (``python -m wechat_app.sandbox``)
as well as inside tests and ``manage.py wechat_sandbox``. See docs/sandbox.md for the
inspection API (``/_sandbox/...``) and the list of endpoints.

Usage in tests::

    with SandboxServer() as sandbox:             # an ephemeral port on 127.0.0.1
        sandbox.state.add_app("wx123", "secret")
        client = WeChatClient("wx123", "secret", base_url=sandbox.url)
        ...
        assert sandbox.state.list_messages(touser="openid")
"""
from __future__ import annotations

import json
import logging
import re
import secrets
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlencode, urlsplit

from .state import TEMPLATE_KEYWORD_RE, SandboxError, SandboxState, error_payload

logger = logging.getLogger("wechat_app.sandbox")

Route = Callable[["SandboxHandler", dict[str, str], Any, str], dict[str, Any]]
API_ROUTES: dict[tuple[str, str], tuple[Route, bool]] = {}  # (method, path) -> (handler, needs token)
ADMIN_ROUTES: dict[tuple[str, str], Callable] = {}

CUSTOM_REQUIRED = {
    "text": ("content",),
    "image": ("media_id",),
    "voice": ("media_id",),
    "video": ("media_id",),
    "music": ("musicurl", "hqmusicurl", "thumb_media_id"),
    "news": ("articles",),
    "mpnews": ("media_id",),
    "mpnewsarticle": ("article_id",),
    "msgmenu": ("list",),
    "wxcard": ("card_id",),
    "miniprogrampage": ("title", "appid", "pagepath", "thumb_media_id"),
}


def api(method: str, path: str, token: bool = True):
    def register(func):
        API_ROUTES[(method, path)] = (func, token)
        return func
    return register


def admin(method: str, path: str):
    def register(func):
        ADMIN_ROUTES[(method, "/_sandbox" + path)] = func
        return func
    return register


# POST bodies that are not JSON: media uploads, iLink's CDN (sandbox/ilink.py).
RAW_BODY_PREFIXES = ("/cgi-bin/media/", "/c2c/")

_SECRET_QUERY_RE = re.compile(r"\b(secret|corpsecret|access_token|refresh_token|code)=[^&\s]*")


class RawResponse:
    """A route's answer that is not WeChat's JSON: a page, an image or a redirect (sandbox/web.py)."""

    def __init__(self, body: bytes = b"", content_type: str = "text/html; charset=utf-8", status: int = 200,
                 headers: dict[str, str] | None = None):
        self.body, self.content_type, self.status, self.headers = body, content_type, status, headers or {}


class RawBody(RawResponse):
    """Media bytes answered by a WeChat endpoint (``media/get``...): logged as a successful call."""

    def __init__(self, data: bytes, content_type: str = "application/octet-stream", filename: str = ""):
        headers = {"Content-Disposition": f'attachment; filename="{filename}"'} if filename else {}
        super().__init__(data, content_type, 200, headers)
        self.data, self.filename = data, filename


class _DropConnection(Exception):
    """Close the connection without answering."""


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients pool connections as with WeChat
    server_version = "WeChatSandbox/1.0"
    server: SandboxHTTPServer

    def setup(self):
        super().setup()
        # Headers and body are two writes; without NODELAY, Nagle + delayed ACK add ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        # The request line carries secrets in its query (/sns calls take the app secret, tokens).
        args = tuple(_SECRET_QUERY_RE.sub(r"\1=***", a) if isinstance(a, str) else a for a in args)
        logger.debug("%s " + format, self.address_string(), *args)

    @property
    def state(self) -> SandboxState:
        return self.server.state

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    # --- plumbing ---------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, payload: Any, status: int = 200) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; encoding=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_raw(self, response: RawResponse) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        raw = self._read_body()
        if url.path.startswith("/_sandbox"):
            self._admin(method, url.path.rstrip("/") or "/_sandbox", query, raw)
            return
        route = API_ROUTES.get((method, url.path))
        token = query.get("access_token")
        # WeCom (sandbox/wecom.py): routed by the token's owner, or by a path only WeCom has.
        wecom_owner = wecom.token_owner(self.state, token) if token else ""
        if wecom_owner or (route is None and (method, url.path) in wecom.WECOM_ROUTES):
            self._dispatch_wecom(method, url.path, query, raw, wecom_owner)
            return
        app_id = query.get("appid") or self.state.app_for_token(token)
        if not app_id and url.path == "/cgi-bin/stable_token":  # the app id is in the JSON body
            try:
                app_id = str(json.loads(raw).get("appid", ""))
            except (ValueError, AttributeError):
                pass
        call = {"method": method, "path": url.path, "app_id": app_id, "at": time.time(),
                "query": {k: ("***" if k in ("access_token", "secret", "corpsecret", "refresh_token") else v) for k, v in query.items()}}
        drop_after = self._apply_faults(call, self.state.take_faults(url.path, app_id))
        if drop_after is None:
            return
        if route is None:
            call.update(errcode=None, status=404)
            self.state.record_call(call)
            self._send_json({"errcode": 404, "errmsg": f"unknown endpoint {url.path}"}, status=404)
            return
        func, needs_token = route
        body = None
        try:
            if needs_token:
                app_id = self.state.check_token(token)
                call["app_id"] = app_id
            multipart = self.headers.get("Content-Type", "").startswith("multipart/")
            if method == "POST" and not url.path.startswith(RAW_BODY_PREFIXES) and not multipart:
                body = _json_body(raw, url.path)
            payload = func(self, query, body if body is not None else raw, app_id)
        except SandboxError as err:
            payload = error_payload(err.errcode, err.errmsg)
        if isinstance(payload, RawResponse):
            if isinstance(payload, RawBody):  # media bytes: a successful WeChat call
                call.update(errcode=0, body=_redact(body))
            else:
                call.update(errcode=None, status=payload.status)
            self.state.record_call(call)
            self._send_raw(payload)
            return
        call["errcode"] = payload.get("errcode", 0)
        call["body"] = _redact(body)
        if drop_after:
            call["fault"] = "drop_after"
            self.state.record_call(call)
            self._drop()
            return
        self.state.record_call(call)
        self._send_json(payload)

    def _apply_faults(self, call: dict, faults) -> bool | None:
        """Play the injected faults of this call: None when one of them answered it (drop, HTTP
        error, errcode), else whether to drop the connection after answering (``drop_after``)."""
        for fault in faults:
            if fault.kind == "latency":
                time.sleep(fault.seconds)
        drop_after = False
        for fault in faults:
            if fault.kind == "drop":
                call.update(errcode=None, fault="drop")
                self.state.record_call(call)
                self._drop()
                return None
            if fault.kind == "http":
                call.update(errcode=None, status=fault.status, fault="http")
                self.state.record_call(call)
                self._send_json({"error": "upstream unavailable"}, status=fault.status)
                return None
            if fault.kind in ("error", "rate_limit"):
                call.update(errcode=fault.errcode, fault=fault.kind)
                self.state.record_call(call)
                self._send_json(error_payload(fault.errcode))
                return None
            if fault.kind == "drop_after":
                drop_after = True
        return drop_after

    def _dispatch_wecom(self, method: str, path: str, query: dict[str, str], raw: bytes, owner: str) -> None:
        owner = owner or (query.get("corpid") or "")
        call = {"method": method, "path": path, "app_id": owner, "at": time.time(), "wecom": True,
                "query": {k: ("***" if k in ("access_token", "corpsecret") else v) for k, v in query.items()}}
        drop_after = self._apply_faults(call, self.state.take_faults(path, owner))
        if drop_after is None:
            return
        route = wecom.WECOM_ROUTES.get((method, path))
        if route is None:
            call.update(errcode=None, status=404)
            self.state.record_call(call)
            self._send_json({"errcode": 404, "errmsg": f"unknown WeCom endpoint {path}"}, status=404)
            return
        func, needs_token = route
        body = None
        try:
            app = wecom.check_token(self.state, query.get("access_token")) if needs_token else None
            multipart = self.headers.get("Content-Type", "").startswith("multipart/")
            if method == "POST" and not multipart:
                body = _json_body(raw, path)
            payload = func(self, query, body if body is not None else raw, app)
        except SandboxError as err:
            payload = error_payload(err.errcode, err.errmsg)
        if isinstance(payload, RawResponse):
            call.update(errcode=0 if isinstance(payload, RawBody) else None, status=payload.status)
            self.state.record_call(call)
            self._send_raw(payload)
            return
        payload.setdefault("errcode", 0)
        payload.setdefault("errmsg", "ok")
        call["errcode"] = payload["errcode"]
        call["body"] = _redact(body)
        self.state.record_call(call)
        if drop_after:
            call["fault"] = "drop_after"
            self._drop()
            return
        self._send_json(payload)

    def _admin(self, method, path, query, raw):
        func = ADMIN_ROUTES.get((method, path))
        if func is None:
            self._send_json({"error": f"no such sandbox endpoint: {method} {path}"}, status=404)
            return
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            result = func(self.server, query, body)
        except (ValueError, TypeError, KeyError) as err:
            self._send_json({"error": str(err)}, status=400)
            return
        except SandboxError as err:
            self._send_json(error_payload(err.errcode, err.errmsg), status=400)
            return
        if isinstance(result, RawResponse):
            self._send_raw(result)
            return
        self._send_json(result)


def _json_body(raw: bytes, path: str) -> dict[str, Any]:
    if not raw:
        raise SandboxError(44002)
    try:
        body = json.loads(raw)
    except ValueError:
        raise SandboxError(47001) from None
    if not isinstance(body, dict):
        raise SandboxError(47001)
    return body


def _redact(body):
    if isinstance(body, dict):
        return {k: ("***" if k in ("secret", "access_token") else v) for k, v in body.items()}
    return body


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a burst of concurrent callers must not get connection refused

    def __init__(self, address, state: SandboxState):
        self.state = state
        super().__init__(address, SandboxHandler)

    def handle_error(self, request, client_address):
        # A client that gave up on a slow answer (a long poll's read timeout): nothing to report.
        import sys

        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


# --- WeChat endpoints ---------------------------------------------------------------------------
@api("GET", "/cgi-bin/token", token=False)
def _token(handler, query, body, app_id):
    if query.get("grant_type") != "client_credential":
        raise SandboxError(40002)
    return handler.state.issue_classic(query.get("appid", ""), query.get("secret", ""))


@api("POST", "/cgi-bin/stable_token", token=False)
def _stable_token(handler, query, body, app_id):
    if body.get("grant_type") != "client_credential":
        raise SandboxError(40002)
    return handler.state.issue_stable(str(body.get("appid", "")), str(body.get("secret", "")),
                                      force_refresh=bool(body.get("force_refresh")))


@api("GET", "/cgi-bin/ticket/getticket")
def _ticket(handler, query, body, app_id):
    return handler.state.ticket(app_id, query.get("type", "jsapi"))


@api("POST", "/cgi-bin/message/custom/send")
def _custom_send(handler, query, body, app_id):
    state = handler.state
    with state.lock:
        follower = state.subscribed(app_id, body.get("touser"))
        msgtype = body.get("msgtype")
        if msgtype not in CUSTOM_REQUIRED:
            raise SandboxError(40008)
        content = body.get(msgtype)
        if not isinstance(content, dict) or any(not content.get(k) for k in CUSTOM_REQUIRED[msgtype]):
            raise SandboxError(47001)
        if msgtype == "news" and len(content["articles"]) != 1:
            raise SandboxError(47001, "news: exactly one article (since 2018)")
        if follower.interaction_expired:
            raise SandboxError(45015)
        service = body.get("customservice")
        if service is not None:  # sent as one of the app's kf accounts
            from .mass import check_kf_account

            check_kf_account(state, app_id, service.get("kf_account") if isinstance(service, dict) else None)
        state.deliver(app_id, "custom", body)
    return {"errcode": 0, "errmsg": "ok"}


@api("POST", "/cgi-bin/message/custom/typing")
def _typing(handler, query, body, app_id):
    state = handler.state
    with state.lock:
        state.subscribed(app_id, body.get("touser"))
        if body.get("command") not in ("Typing", "CancelTyping"):
            raise SandboxError(47001)
        state.typing.append({"app_id": app_id, "touser": body["touser"], "command": body["command"]})
    return {"errcode": 0, "errmsg": "ok"}


@api("POST", "/cgi-bin/message/template/send")
def _template_send(handler, query, body, app_id):
    state = handler.state
    with state.lock:
        follower = state.subscribed(app_id, body.get("touser"))
        template = state.templates.get(app_id, {}).get(body.get("template_id") or "")
        if template is None:
            raise SandboxError(40037)
        data = body.get("data")
        if not isinstance(data, dict):
            raise SandboxError(47001)
        for name in TEMPLATE_KEYWORD_RE.findall(template["content"]):
            value = data.get(name)
            if value is not None and not (isinstance(value, dict) and "value" in value):
                raise SandboxError(47001)
        client_msg_id = body.get("client_msg_id") or ""
        now = time.time()
        if client_msg_id:
            # WeChat's anti-reentry id: one message per openid + client_msg_id for 10 minutes.
            previous = state.template_dedupe.get((app_id, follower.openid, client_msg_id))
            if previous and now - previous[1] < 600:
                state.resends_dropped += 1
                return {"errcode": 0, "errmsg": "ok", "msgid": previous[0]}
        msgid = state.new_msgid()
        if client_msg_id:
            state.template_dedupe[(app_id, follower.openid, client_msg_id)] = (msgid, now)
        state.deliver(app_id, "template", body, msgid=msgid)
        status = follower.template_job_status or ("failed:user block" if follower.blocks_templates else "success")
    if state.config["push_job_finish"] and state.apps[app_id].callback_url:
        delay = float(state.config["job_finish_delay"])
        event = {"Event": "TEMPLATESENDJOBFINISH", "MsgID": str(msgid), "Status": status}
        timer = threading.Timer(delay, push_event, args=(state, app_id, follower.openid, event))
        timer.daemon = True
        timer.start()
    return {"errcode": 0, "errmsg": "ok", "msgid": msgid}


@api("GET", "/cgi-bin/template/get_all_private_template")
def _templates(handler, query, body, app_id):
    with handler.state.lock:
        return {"template_list": [dict(t) for t in handler.state.templates.get(app_id, {}).values()]}


@api("POST", "/cgi-bin/template/del_private_template")
def _template_delete(handler, query, body, app_id):
    with handler.state.lock:
        if handler.state.templates.get(app_id, {}).pop(body.get("template_id", ""), None) is None:
            raise SandboxError(40037)
    return {"errcode": 0, "errmsg": "ok"}


@api("GET", "/cgi-bin/user/get")
def _user_get(handler, query, body, app_id):
    return handler.state.user_page(app_id, query.get("next_openid", ""))


@api("GET", "/cgi-bin/user/info")
def _user_info(handler, query, body, app_id):
    with handler.state.lock:
        return handler.state.follower(app_id, query.get("openid", "")).info(query.get("lang", "zh_CN"))


@api("POST", "/cgi-bin/user/info/batchget")
def _user_batchget(handler, query, body, app_id):
    users = body.get("user_list")
    if not isinstance(users, list) or not 1 <= len(users) <= 100:
        raise SandboxError(40032)
    with handler.state.lock:
        infos = []
        for item in users:
            if not isinstance(item, dict):
                raise SandboxError(47001)
            infos.append(handler.state.follower(app_id, item.get("openid", "")).info(item.get("lang", "zh_CN")))
    return {"user_info_list": infos}


@api("POST", "/cgi-bin/menu/create")
def _menu_create(handler, query, body, app_id):
    handler.state.create_menu(app_id, body)
    return {"errcode": 0, "errmsg": "ok"}


@api("POST", "/cgi-bin/menu/addconditional")
def _menu_add_conditional(handler, query, body, app_id):
    return {"menuid": handler.state.add_conditional_menu(app_id, body)}


@api("POST", "/cgi-bin/menu/delconditional")
def _menu_del_conditional(handler, query, body, app_id):
    handler.state.delete_conditional_menu(app_id, body.get("menuid"))
    return {"errcode": 0, "errmsg": "ok"}


@api("POST", "/cgi-bin/menu/trymatch")
def _menu_try_match(handler, query, body, app_id):
    return handler.state.try_match(app_id, body.get("user_id"))


@api("GET", "/cgi-bin/menu/get")
def _menu_get(handler, query, body, app_id):
    return handler.state.get_menus(app_id)


@api("GET", "/cgi-bin/menu/delete")
def _menu_delete(handler, query, body, app_id):
    handler.state.delete_menus(app_id)
    return {"errcode": 0, "errmsg": "ok"}


@api("GET", "/cgi-bin/get_current_selfmenu_info")
def _menu_info(handler, query, body, app_id):
    """The default menu in the older "selfmenu" wording (sub-buttons under {"list": [...]})."""
    with handler.state.lock:
        menu = handler.state.menus.get(app_id)
        buttons = []
        for button in (menu or {}).get("button", []):
            item = {k: v for k, v in button.items() if k != "sub_button"}
            if "sub_button" in button:
                item["sub_button"] = {"list": [dict(b) for b in button["sub_button"]]}
            buttons.append(item)
    return {"is_menu_open": 1 if menu else 0, "selfmenu_info": {"button": buttons}}


# Tags and the blacklist: sandbox/audience.py; mass send and kf accounts: sandbox/mass.py.


# --- pushing events to an account's callback --------------------------------------------------
def build_event_xml(app, openid: str, fields: dict[str, Any]) -> str:
    """Plaintext callback XML of an event sent by ``openid`` to ``app`` (``CreateTime`` in
    ``fields`` replaces the current time: WeChat's retries of one event share it)."""
    from ..protocol.replies import cdata

    fields = dict(fields)
    create_time = int(fields.pop("CreateTime", None) or time.time())
    parts = [f"<ToUserName>{cdata(app.original_id or 'gh_sandbox')}</ToUserName>",
             f"<FromUserName>{cdata(openid)}</FromUserName>",
             f"<CreateTime>{create_time}</CreateTime>", "<MsgType><![CDATA[event]]></MsgType>"]
    for name, value in fields.items():
        parts.append(f"<{name}>{value}</{name}>" if isinstance(value, int) else f"<{name}>{cdata(value)}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


def push_event(state: SandboxState, app_id: str, openid: str, fields: dict[str, Any] | None = None,
               xml: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
    """POST an event to the app's callback, signed (and encrypted) as WeChat does.

    Returns ``{"status": int, "body": str}`` or ``{"error": str}``; every push is recorded in
    ``state.pushes``.
    """
    import urllib.error
    import urllib.request

    from ..protocol import MessageCrypto, make_signature

    app = state._app(app_id)
    if not app.callback_url:
        raise ValueError(f"app {app_id} has no callback_url")
    plaintext = xml or build_event_xml(app, openid, fields or {})
    timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
    params = {"signature": make_signature(app.token, timestamp, nonce), "timestamp": timestamp,
              "nonce": nonce, "openid": openid}
    body = plaintext
    if app.encrypt_mode in ("safe", "compatible") and app.encoding_aes_key:
        crypto = MessageCrypto(app.token, app.encoding_aes_key, app.app_id)
        envelope = crypto.encrypt_message(plaintext, nonce, timestamp)
        encrypted = envelope.split("<Encrypt><![CDATA[", 1)[1].split("]]>", 1)[0]
        params.update(encrypt_type="aes", msg_signature=make_signature(app.token, timestamp, nonce, encrypted))
        body = f"<xml><ToUserName><![CDATA[{app.original_id or 'gh_sandbox'}]]></ToUserName>" \
               f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    url = app.callback_url + ("&" if "?" in app.callback_url else "?") + urlencode(params)
    request = urllib.request.Request(url, data=body.encode("utf-8"), method="POST",
                                     headers={"Content-Type": "text/xml"})
    record = {"app_id": app_id, "openid": openid, "xml": plaintext, "at": time.time()}
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback
            record.update(status=response.status, body=response.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as err:
        record.update(status=err.code, body=err.read().decode("utf-8", "replace"))
    except OSError as err:
        record.update(error=str(err))
    with state.lock:
        state.pushes.append(record)
    return {k: v for k, v in record.items() if k in ("status", "body", "error")}


# --- inspection / control API (/_sandbox/...) ------------------------------------------------------
@admin("GET", "")
def _summary(server, query, body):
    return server.state.summary()


@admin("GET", "/calls")
def _calls(server, query, body):
    return {"calls": server.state.list_calls(query.get("path"), query.get("app_id"))}


@admin("GET", "/messages")
def _messages(server, query, body):
    return {"messages": server.state.list_messages(query.get("app_id"), query.get("touser"), query.get("kind"))}


@admin("GET", "/pushes")
def _pushes(server, query, body):
    with server.state.lock:
        return {"pushes": list(server.state.pushes)}


@admin("GET", "/menus")
def _menus(server, query, body):
    return {"menus": server.state.list_menus(query.get("app_id"))}


@admin("POST", "/tags")
def _add_tag(server, query, body):
    tag_id = server.state.add_tag(body["app_id"], str(body["name"]), body.get("id"))
    return {"tag": {"id": tag_id, "name": body["name"]}}


@admin("POST", "/reset")
def _reset(server, query, body):
    server.state.reset(keep_apps=bool(body.get("keep_apps", True)))
    return {"ok": True}


@admin("POST", "/configure")
def _configure(server, query, body):
    return {"config": server.state.configure(**body)}


@admin("POST", "/apps")
def _apps(server, query, body):
    app = server.state.add_app(str(body.pop("app_id")), str(body.pop("secret")), **body)
    return {"app": app.public()}


@admin("POST", "/wecom/apps")
def _wecom_apps(server, query, body):
    app = server.state.add_corp_app(str(body.pop("corp_id")), str(body.pop("secret")), int(body.pop("agent_id")), **body)
    return {"app": app.public()}


@admin("POST", "/wecom/users")
def _wecom_users(server, query, body):
    return {"added": server.state.wecom.add_users(str(body["corp_id"]), body["users"], int(body.get("department", 1)))}


@admin("POST", "/wecom/push")
def _wecom_push(server, query, body):
    return wecom.push_wecom(server.state, str(body["owner"]), str(body.get("userid", "")), body.get("event"),
                            body.get("xml"), str(body.get("msg_type", "event")))


@admin("POST", "/wecom/verify")
def _wecom_verify(server, query, body):
    return wecom.verify_wecom_url(server.state, str(body["owner"]))


@admin("GET", "/wecom/messages")
def _wecom_messages(server, query, body):
    return {"messages": server.state.wecom.list_messages(query.get("owner"), query.get("touser"))}


@admin("POST", "/followers")
def _followers(server, query, body):
    openids = server.state.add_followers(body["app_id"], body.get("followers"), int(body.get("count", 0)))
    return {"added": len(openids), "openids": openids[:1000]}


@admin("POST", "/followers/update")
def _follower_update(server, query, body):
    with server.state.lock:
        follower = server.state.follower(body["app_id"], body["openid"])
        for key, value in body.get("set", {}).items():
            if not hasattr(follower, key) or key == "openid":
                raise ValueError(f"unknown follower field {key!r}")
            setattr(follower, key, value)
    return {"ok": True}


@admin("POST", "/templates")
def _add_template(server, query, body):
    template_id = server.state.add_template(body["app_id"], body["title"], body["content"],
                                            body.get("example", ""), body.get("template_id"))
    return {"template_id": template_id}


@admin("POST", "/faults")
def _add_fault(server, query, body):
    fault = server.state.add_fault(body.pop("path"), body.pop("kind", "error"), **body)
    return {"fault": fault.public()}


@admin("DELETE", "/faults")
def _clear_faults(server, query, body):
    server.state.clear_faults(query.get("path"))
    return {"ok": True}


@admin("POST", "/expire_tokens")
def _expire(server, query, body):
    return {"expired": server.state.expire_tokens(body.get("app_id"))}


@admin("POST", "/push")
def _push(server, query, body):
    fields = body.get("event") or {}
    return push_event(server.state, body["app_id"], body["openid"], fields, body.get("xml"))


class SandboxServer:
    """Run a sandbox in a background thread; a context manager.

    ``port=0`` picks a free ephemeral port; ``url`` is the base URL to give clients.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, state: SandboxState | None = None):
        self.state = state or SandboxState()
        self.httpd = SandboxHTTPServer((host, port), self.state)
        self.host, self.port = self.httpd.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"wechat-sandbox:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (for the command line)."""
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        finally:
            self.httpd.server_close()

    def push_event(self, app_id: str, openid: str, fields: dict[str, Any] | None = None, xml: str | None = None):
        return push_event(self.state, app_id, openid, fields, xml)

    def push_wecom(self, owner: str, userid: str, fields: dict[str, Any] | None = None, xml: str | None = None,
                   msg_type: str = "event"):
        """Push a message or event to a WeCom app (``owner``: "corp id/agent id"), see sandbox/wecom.py."""
        return wecom.push_wecom(self.state, owner, userid, fields, xml, msg_type)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# Tags, blacklist, mass send, kf accounts (audience.py, mass.py); the web side (OAuth pages and /sns
# endpoints, QR code images, short links: web.py); media and the material library (material.py)
# register their routes; so does the iLink side (personal WeChat bots and their CDN: ilink.py).
from . import audience, ilink, mass, material, web, wecom, wecom_contacts, wecom_login  # noqa: E402,F401
