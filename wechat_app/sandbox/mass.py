"""Sandbox endpoints of mass send (群发) and customer-service (kf) accounts.

Mass send: ``/cgi-bin/message/mass/sendall`` (all followers or a tag), ``/send`` (2 to 10,000
openids: 40130 / 40032), ``/preview``, ``/get``, ``/delete``. ``clientmsgid`` (at most 64
characters: 45067) makes a second send within 24 h answer 45065 with the first send's
``msg_id`` and send nothing. ``config["mass_quota"]`` sends per app (None: unlimited) then
45028. After each send the MASSSENDJOBFINISH report is pushed to the app's callback (when it has
one): TotalCount the audience, FilterCount those left after WeChat's filters (blacklisted and
unsubscribed followers), SentCount / ErrorCount (``config["mass_error_count"]`` errors).

kf accounts: ``/cgi-bin/customservice/getkflist``, ``/customservice/kfaccount/add|update|del``
(65404 bad account, 65403 bad nickname, 65406 exists, 65405 more than 100, 65401 unknown;
``config["kf_enabled"]`` False: 65400).

Inspection: ``GET /_sandbox/mass`` (sends), ``POST /_sandbox/mass/configure``.
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Batch_Sends_and_Originality_Checks.html
"""
from __future__ import annotations

import re
import threading
import time
from typing import Any

from .server import admin, api, push_event
from .state import SandboxError

MASS_FIELDS = {"text": "text", "image": "images", "voice": "voice", "mpvideo": "mpvideo", "mpnews": "mpnews",
               "wxcard": "wxcard"}
MEDIA_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
KF_ACCOUNT_RE = re.compile(r"^[A-Za-z0-9_]{1,10}@[A-Za-z0-9_-]{1,52}$")
CLIENTMSGID_TTL = 24 * 3600
MAX_KF = 100
REPORT_OPENID = "o_sandbox_mass_report"  # FromUserName of the pushed reports


class MassState:
    """Mass sends and kf accounts of every app (guarded by the SandboxState's lock)."""

    def __init__(self):
        self.sends: dict[int, dict[str, Any]] = {}  # msg_id -> send
        self.clientmsgids: dict[tuple[str, str], tuple[int, float]] = {}  # (app, clientmsgid) -> (msg_id, at)
        self.resends_answered = 0  # sends answered 45065 (not sent again)
        self.previews: list[dict[str, Any]] = []
        self.kf: dict[str, dict[str, dict[str, Any]]] = {}  # app -> kf_account -> entry
        self.next_kf_id = 1000
        self.config = {
            "mass_quota": None,         # mass sends per app (None: unlimited), then 45028
            "mass_error_count": 0,      # ErrorCount of each report
            "push_job_finish": True,    # push MASSSENDJOBFINISH to the app's callback
            "job_finish_delay": 0.05,
            "tag_delete_limit": 100_000,  # tags with more followers cannot be deleted (45057)
            "kf_enabled": True,         # False: the kf endpoints answer 65400
        }

    def public(self) -> dict[str, Any]:
        return {"sends": [dict(s, recipients=len(s["recipients"])) for s in self.sends.values()],
                "resends_answered": self.resends_answered, "previews": list(self.previews),
                "kf": {a: list(k.values()) for a, k in self.kf.items()}, "config": dict(self.config)}


def _content(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    kind = body.get("msgtype")
    if kind not in MASS_FIELDS:
        raise SandboxError(40008)
    content = body.get(MASS_FIELDS[kind])
    if not isinstance(content, dict):
        raise SandboxError(47001)
    if kind == "text":
        if not isinstance(content.get("content"), str) or not content["content"]:
            raise SandboxError(47001)
    elif kind == "image":
        ids = content.get("media_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and MEDIA_ID_RE.match(i) for i in ids):
            raise SandboxError(40007)
    elif kind == "wxcard":
        if not content.get("card_id"):
            raise SandboxError(40073, "invalid card id")
    elif not isinstance(content.get("media_id"), str) or not MEDIA_ID_RE.match(content["media_id"]):
        raise SandboxError(40007)
    return kind, content


def _send(handler, body: dict[str, Any], app_id: str, recipients_of) -> dict[str, Any]:
    state = handler.state
    mass = state.mass
    kind, content = _content(body)
    clientmsgid = body.get("clientmsgid") or ""
    if not isinstance(clientmsgid, str) or len(clientmsgid) > 64:
        raise SandboxError(45067)
    now = time.time()
    with state.lock:
        if clientmsgid:
            previous = mass.clientmsgids.get((app_id, clientmsgid))
            if previous and now - previous[1] < CLIENTMSGID_TTL:
                mass.resends_answered += 1
                return {"errcode": 45065, "errmsg": "clientmsgid exist", "msg_id": previous[0]}
        targeted = recipients_of(state)
        quota = mass.config["mass_quota"]
        used = sum(1 for s in mass.sends.values() if s["app_id"] == app_id)
        if quota is not None and used >= int(quota):
            raise SandboxError(45028)
        msg_id = state.new_msgid()
        followers = state.followers.get(app_id, {})
        kept = [o for o in targeted if o in followers and followers[o].subscribe and not followers[o].blacklisted]
        errors = min(int(mass.config["mass_error_count"]), len(kept))
        send = {"msg_id": msg_id, "app_id": app_id, "msgtype": kind, "content": content, "body": body,
                "recipients": kept, "total": len(targeted), "filtered": len(kept), "sent": len(kept) - errors,
                "errors": errors, "status": "SENDING", "at": now}
        if kind == "mpnews":
            send["msg_data_id"] = msg_id * 10 + 1
        mass.sends[msg_id] = send
        if clientmsgid:
            mass.clientmsgids[(app_id, clientmsgid)] = (msg_id, now)
        app = state.apps[app_id]
        push = bool(mass.config["push_job_finish"] and app.callback_url)
        delay = float(mass.config["job_finish_delay"])
    if push:
        timer = threading.Timer(delay, finish_job, args=(state, msg_id))
        timer.daemon = True
        timer.start()
    else:
        finish_job(state, msg_id, push=False)
    answer = {"errcode": 0, "errmsg": "send job submission success", "msg_id": msg_id}
    if "msg_data_id" in send:
        answer["msg_data_id"] = send["msg_data_id"]
    return answer


def report_fields(send: dict[str, Any]) -> dict[str, Any]:
    """The MASSSENDJOBFINISH event of a send (``push_event`` fields)."""
    return {"Event": "MASSSENDJOBFINISH", "MsgID": int(send["msg_id"]),
            "Status": "send success" if not send["errors"] or send["sent"] else "send fail",
            "TotalCount": int(send["total"]), "FilterCount": int(send["filtered"]),
            "SentCount": int(send["sent"]), "ErrorCount": int(send["errors"])}


def finish_job(state, msg_id: int, push: bool = True) -> dict[str, Any] | None:
    """Mark a send done and push its report (WeChat pushes once the job has run)."""
    with state.lock:
        send = state.mass.sends[msg_id]
        if send["status"] == "SENDING":
            send["status"] = "SEND_SUCCESS" if send["sent"] or not send["errors"] else "SEND_FAIL"
        fields = report_fields(send)
    if push:
        return push_event(state, send["app_id"], REPORT_OPENID, fields)
    return None


@api("POST", "/cgi-bin/message/mass/sendall")
def _sendall(handler, query, body, app_id):
    flt = body.get("filter")
    if not isinstance(flt, dict):
        raise SandboxError(47001)

    def recipients(state):
        followers = state.followers.get(app_id, {})
        if flt.get("is_to_all") is True:
            return [o for o, f in followers.items() if f.subscribe]
        tag_id = flt.get("tag_id")
        if isinstance(tag_id, bool) or not str(tag_id).isdigit() or int(tag_id) not in state.tags.get(app_id, {}):
            raise SandboxError(45159)
        return [o for o, f in followers.items() if f.subscribe and int(tag_id) in f.tagid_list]

    return _send(handler, body, app_id, recipients)


@api("POST", "/cgi-bin/message/mass/send")
def _send_openids(handler, query, body, app_id):
    touser = body.get("touser")
    if not isinstance(touser, list) or len(touser) < 2:
        raise SandboxError(40130)
    if len(touser) > 10_000:
        raise SandboxError(40032)
    if not all(isinstance(o, str) for o in touser):
        raise SandboxError(40003)
    return _send(handler, body, app_id, lambda state: list(dict.fromkeys(touser)))


@api("POST", "/cgi-bin/message/mass/preview")
def _preview(handler, query, body, app_id):
    state = handler.state
    kind, content = _content(body)
    with state.lock:
        follower = state.subscribed(app_id, body.get("touser"))
        msg_id = state.new_msgid()
        state.mass.previews.append({"app_id": app_id, "touser": follower.openid, "msgtype": kind,
                                    "content": content, "msg_id": msg_id})
        state.deliver(app_id, "mass_preview", body, msgid=msg_id)
    return {"errcode": 0, "errmsg": "preview success", "msg_id": msg_id}


def _own_send(state, app_id, value) -> dict[str, Any]:
    try:
        msg_id = int(value)
    except (TypeError, ValueError):
        raise SandboxError(47001, "invalid msg_id") from None
    send = state.mass.sends.get(msg_id)
    if send is None or send["app_id"] != app_id:
        raise SandboxError(47001, "invalid msg_id")
    return send


@api("POST", "/cgi-bin/message/mass/get")
def _get(handler, query, body, app_id):
    with handler.state.lock:
        send = _own_send(handler.state, app_id, body.get("msg_id"))
        return {"msg_id": send["msg_id"], "msg_status": send["status"]}


@api("POST", "/cgi-bin/message/mass/delete")
def _delete(handler, query, body, app_id):
    with handler.state.lock:
        send = _own_send(handler.state, app_id, body.get("msg_id"))
        if send["msgtype"] not in ("mpnews", "mpvideo"):
            raise SandboxError(47001, "only articles (mpnews) and videos can be deleted")
        send["status"] = "DELETE"
    return {"errcode": 0, "errmsg": "ok"}


# --- customer-service accounts --------------------------------------------------------------------
def _kf_enabled(state):
    if not state.mass.config["kf_enabled"]:
        raise SandboxError(65400)


def _kf_fields(body) -> tuple[str, str]:
    account = body.get("kf_account")
    if not isinstance(account, str) or not KF_ACCOUNT_RE.match(account):
        raise SandboxError(65404)
    nickname = body.get("nickname")
    if not isinstance(nickname, str) or not 1 <= len(nickname) <= 16:
        raise SandboxError(65403)
    return account, nickname


@api("GET", "/cgi-bin/customservice/getkflist")
def _kf_list(handler, query, body, app_id):
    state = handler.state
    _kf_enabled(state)
    with state.lock:
        return {"kf_list": [dict(k) for k in state.mass.kf.get(app_id, {}).values()]}


@api("POST", "/customservice/kfaccount/add")
def _kf_add(handler, query, body, app_id):
    state = handler.state
    _kf_enabled(state)
    account, nickname = _kf_fields(body)
    with state.lock:
        accounts = state.mass.kf.setdefault(app_id, {})
        if account in accounts:
            raise SandboxError(65406)
        if len(accounts) >= MAX_KF:
            raise SandboxError(65405)
        state.mass.next_kf_id += 1
        accounts[account] = {"kf_account": account, "kf_nick": nickname, "kf_id": str(state.mass.next_kf_id),
                             "kf_headimgurl": ""}
    return {"errcode": 0, "errmsg": "ok"}


@api("POST", "/customservice/kfaccount/update")
def _kf_update(handler, query, body, app_id):
    state = handler.state
    _kf_enabled(state)
    account, nickname = _kf_fields(body)
    with state.lock:
        entry = state.mass.kf.get(app_id, {}).get(account)
        if entry is None:
            raise SandboxError(65401)
        entry["kf_nick"] = nickname
    return {"errcode": 0, "errmsg": "ok"}


@api("GET", "/customservice/kfaccount/del")
def _kf_delete(handler, query, body, app_id):
    state = handler.state
    _kf_enabled(state)
    with state.lock:
        if state.mass.kf.get(app_id, {}).pop(query.get("kf_account", ""), None) is None:
            raise SandboxError(65401)
    return {"errcode": 0, "errmsg": "ok"}


def check_kf_account(state, app_id: str, kf_account: Any) -> None:
    """A customer-service message may name a kf account of the app (65401 otherwise)."""
    with state.lock:
        if not isinstance(kf_account, str) or kf_account not in state.mass.kf.get(app_id, {}):
            raise SandboxError(65401)


# --- inspection -------------------------------------------------------------------------------------
@admin("GET", "/mass")
def _inspect(server, query, body):
    with server.state.lock:
        return server.state.mass.public()


@admin("POST", "/mass/configure")
def _configure(server, query, body):
    with server.state.lock:
        unknown = set(body) - set(server.state.mass.config)
        if unknown:
            raise ValueError(f"unknown option(s): {', '.join(sorted(unknown))}")
        server.state.mass.config.update(body)
        return {"config": dict(server.state.mass.config)}


@admin("POST", "/mass/push")
def _push_again(server, query, body):
    """Push a send's MASSSENDJOBFINISH report again (as WeChat's retries do)."""
    with server.state.lock:
        send = server.state.mass.sends[int(body["msg_id"])]
    return push_event(server.state, send["app_id"], REPORT_OPENID, report_fields(send))
