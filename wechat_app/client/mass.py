"""Mass send (群发) and customer-service (kf) account endpoints, bound to a ``WeChatClient``
(``client.mass.send_all(...)``, ``client.kf.list()``). Pure: no Django.

https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Batch_Sends_and_Originality_Checks.html
https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Customer_Service_Management.html
"""
from __future__ import annotations

import re
from typing import Any

from .api import BaseGroup
from .errors import WeChatPayloadError

MASS_KINDS = ("text", "image", "voice", "mpvideo", "mpnews", "wxcard")
MAX_MASS_OPENIDS = 10_000
MIN_MASS_OPENIDS = 2
MAX_MASS_TEXT_BYTES = 2048
CLIENTMSGID_MAX = 64
KF_ACCOUNT_RE = re.compile(r"^[A-Za-z0-9_]{1,10}@[A-Za-z0-9_-]{1,52}$")
KF_NICKNAME_MAX = 16


def mass_content(kind: str, content: dict[str, Any]) -> dict[str, Any]:
    """The message part of a mass-send body (``{"msgtype": kind, <field>: {...}}``), or
    ``WeChatPayloadError`` naming what is wrong."""
    if kind not in MASS_KINDS:
        raise WeChatPayloadError(f"unknown mass message kind {kind!r}; one of {', '.join(MASS_KINDS)}")
    if not isinstance(content, dict):
        raise WeChatPayloadError(f"{kind}: content must be an object")

    def need(name):
        value = content.get(name)
        if not isinstance(value, str) or not value.strip():
            raise WeChatPayloadError(f"a {kind} mass message needs {name}")
        return value.strip()

    if kind == "text":
        text = need("content")
        if len(text.encode("utf-8")) > MAX_MASS_TEXT_BYTES:
            raise WeChatPayloadError(f"text is longer than {MAX_MASS_TEXT_BYTES} bytes")
        return {"msgtype": "text", "text": {"content": text}}
    if kind == "image":
        ids = content.get("media_ids")
        if ids is None and content.get("media_id"):
            ids = [content["media_id"]]
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i.strip() for i in ids):
            raise WeChatPayloadError("an image mass message needs media_ids (a list of image media ids)")
        if len(ids) > 8:
            raise WeChatPayloadError("an image mass message takes at most 8 images")
        images: dict[str, Any] = {"media_ids": [i.strip() for i in ids]}
        if content.get("recommend"):
            images["recommend"] = str(content["recommend"])
        return {"msgtype": "image", "images": images}
    if kind == "wxcard":
        return {"msgtype": "wxcard", "wxcard": {"card_id": need("card_id")}}
    return {"msgtype": kind, kind: {"media_id": need("media_id")}}


def mass_body(kind: str, content: dict[str, Any], *, to_all: bool = False, tag_id: int | None = None,
              openids: list[str] | None = None, send_ignore_reprint: bool = False,
              clientmsgid: str | None = None) -> tuple[str, dict[str, Any]]:
    """``(path, body)`` of a mass send: /sendall for everyone or a tag, /send for openids."""
    body = mass_content(kind, content)
    if openids is not None:
        if not MIN_MASS_OPENIDS <= len(openids) <= MAX_MASS_OPENIDS:
            raise WeChatPayloadError(f"a mass send by openid takes {MIN_MASS_OPENIDS} to {MAX_MASS_OPENIDS:,} "
                                     f"openids, not {len(openids):,}")
        path = "/cgi-bin/message/mass/send"
        body["touser"] = list(openids)
    else:
        if not to_all and tag_id is None:
            raise WeChatPayloadError("a mass send goes to all followers, a tag, or a list of openids")
        path = "/cgi-bin/message/mass/sendall"
        body["filter"] = {"is_to_all": True} if to_all else {"is_to_all": False, "tag_id": int(tag_id)}
    if kind == "mpnews":
        body["send_ignore_reprint"] = 1 if send_ignore_reprint else 0
    if clientmsgid:
        if len(clientmsgid) > CLIENTMSGID_MAX:
            raise WeChatPayloadError(f"clientmsgid is at most {CLIENTMSGID_MAX} characters")
        body["clientmsgid"] = clientmsgid
    return path, body


class MassAPI(BaseGroup):
    """Mass send: to all followers or a tag (``send_all``), to openids (``send``), preview,
    status, delete."""

    def send_all(self, kind: str, content: dict[str, Any], *, tag_id: int | None = None,
                 send_ignore_reprint: bool = False, clientmsgid: str | None = None) -> dict[str, Any]:
        """Send to every follower (``tag_id`` None) or a tag's; returns ``{"msg_id", "msg_data_id"?}``."""
        path, body = mass_body(kind, content, to_all=tag_id is None, tag_id=tag_id,
                               send_ignore_reprint=send_ignore_reprint, clientmsgid=clientmsgid)
        return self._post(path, body)

    def send(self, openids: list[str], kind: str, content: dict[str, Any], *, send_ignore_reprint: bool = False,
             clientmsgid: str | None = None) -> dict[str, Any]:
        path, body = mass_body(kind, content, openids=openids, send_ignore_reprint=send_ignore_reprint,
                               clientmsgid=clientmsgid)
        return self._post(path, body)

    def preview(self, openid: str, kind: str, content: dict[str, Any]) -> dict[str, Any]:
        """Send the message to one follower only (does not count against the quota)."""
        if not openid:
            raise WeChatPayloadError("a preview needs the openid of a follower")
        return self._post("/cgi-bin/message/mass/preview", {"touser": openid, **mass_content(kind, content)})

    def get(self, msg_id: int) -> dict[str, Any]:
        """``{"msg_id", "msg_status"}``: SEND_SUCCESS, SENDING, SEND_FAIL or DELETE."""
        return self._post("/cgi-bin/message/mass/get", {"msg_id": str(msg_id)})

    def delete(self, msg_id: int, article_idx: int = 0):
        """Delete a sent mpnews or video (its page stops opening); ``article_idx`` 0: all articles."""
        return self._post("/cgi-bin/message/mass/delete", {"msg_id": int(msg_id), "article_idx": int(article_idx)})


def check_kf_account(kf_account: str, nickname: str | None = None) -> None:
    if not isinstance(kf_account, str) or not KF_ACCOUNT_RE.match(kf_account):
        raise WeChatPayloadError("a kf account is prefix@WeChat id, the prefix 1 to 10 letters, digits or '_'")
    if nickname is not None and (not nickname or len(nickname) > KF_NICKNAME_MAX):
        raise WeChatPayloadError(f"a kf nickname is 1 to {KF_NICKNAME_MAX} characters")


class KfAccountAPI(BaseGroup):
    """Customer-service accounts."""

    def list(self) -> list[dict[str, Any]]:
        return self._get("/cgi-bin/customservice/getkflist").get("kf_list", [])

    def add(self, kf_account: str, nickname: str):
        check_kf_account(kf_account, nickname)
        return self._post("/customservice/kfaccount/add", {"kf_account": kf_account, "nickname": nickname})

    def update(self, kf_account: str, nickname: str):
        check_kf_account(kf_account, nickname)
        return self._post("/customservice/kfaccount/update", {"kf_account": kf_account, "nickname": nickname})

    def delete(self, kf_account: str):
        check_kf_account(kf_account)
        return self._get("/customservice/kfaccount/del", kf_account=kf_account)
