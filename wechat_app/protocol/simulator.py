"""The WeChat side of the callback, for trying an account without WeChat (like webot-cli).

``build_message`` writes a realistic inbound message; ``sign_request`` turns it into the query
string and body WeChat would POST in a given mode (plain, or encrypted with ``msg_signature``);
``read_reply`` verifies and decrypts the answer. Pure Python: the ``wechat_send`` command and
tests use it with or without Django.

Usage::

    xml = build_message("text", ["hello"], user="oUser", sp="gh_demo")
    params, body = sign_request(xml, token, crypto=crypto)          # crypto=None: plaintext
    ...POST body to /wechat/callback/<name>/?<params>...
    reply = read_reply(response_body, crypto)                       # Reply fields or None
"""
from __future__ import annotations

import os
import random
import time
from typing import Any

from .crypto import MessageCrypto
from .errors import MalformedMessageError
from .messages import parse_xml
from .replies import cdata
from .signature import make_signature

# kind -> (usage of its arguments, help)
KINDS: dict[str, tuple[str, str]] = {
    "text": ("TEXT...", "a text message"),
    "image": ("[PIC_URL]", "an image"),
    "voice": ("[RECOGNITION...]", "a voice message, with speech recognition when text is given"),
    "video": ("", "a video"),
    "shortvideo": ("", "a short video"),
    "location": ("LAT LNG [LABEL...]", "a location"),
    "link": ("URL [TITLE...]", "a link"),
    "file": ("[TITLE...]", "a file"),
    "event": ("EVENT [KEY [DETAILS...]]", "any event by name (subscribe, CLICK, VIEW, SCAN, LOCATION, "
                                           "scancode_push KEY [RESULT], pic_weixin KEY, location_select KEY "
                                           "[LAT LNG LABEL]...)"),
    "subscribe": ("[SCENE]", "a subscribe event, through a QR code scene when given"),
    "unsubscribe": ("", "an unsubscribe event"),
    "scan": ("SCENE", "a SCAN event (a subscriber scanned a parametric QR code)"),
    "click": ("KEY", "a CLICK event of a menu button"),
    "view": ("URL", "a VIEW event of a menu link"),
}


class SimulatorError(ValueError):
    """Bad arguments for a simulated message, or an answer that does not verify."""


def _media_id() -> str:
    return "sim_" + os.urandom(12).hex()


class _RawXML(str):
    """Nested elements written as they are (not as CDATA text)."""


def _menu_event_details(event: str, extra: list[str]) -> list[tuple[str, Any]]:
    """What WeChat sends with the events of menu buttons besides the key: the scan result, the
    pictures, the chosen location (``extra``: the scan result, or LAT LNG [LABEL...])."""
    name = event.lower()
    if name in ("scancode_push", "scancode_waitmsg"):
        result = " ".join(extra) or "sim_scan_result"
        return [("ScanCodeInfo", _RawXML(f"<ScanType>{cdata('qrcode')}</ScanType>"
                                         f"<ScanResult>{cdata(result)}</ScanResult>"))]
    if name in ("pic_sysphoto", "pic_photo_or_album", "pic_weixin"):
        return [("SendPicsInfo", _RawXML(f"<Count>1</Count><PicList><item><PicMd5Sum>"
                                         f"{cdata(os.urandom(16).hex())}</PicMd5Sum></item></PicList>"))]
    if name == "location_select":
        lat, lng = extra[:2] if len(extra) >= 2 else ("23.137466", "113.352425")
        label = " ".join(extra[2:])
        return [("SendLocationInfo", _RawXML(
            f"<Location_X>{cdata(lat)}</Location_X><Location_Y>{cdata(lng)}</Location_Y>"
            f"<Scale>{cdata('15')}</Scale><Label>{cdata(label)}</Label><Poiname>{cdata('')}</Poiname>"))]
    if name in ("view", "view_miniprogram"):
        return [("MenuId", "1")]
    return []


def build_message(kind: str, args: list[str], *, user: str, sp: str, create_time: int | None = None,
                  msg_id: int | None = None) -> str:
    """The XML of one inbound message of ``kind`` (see ``KINDS``) with its arguments."""
    kind = kind.lower()
    if kind not in KINDS:
        raise SimulatorError(f"unknown message kind {kind!r}; use one of: {', '.join(KINDS)}")
    fields: list[tuple[str, Any]] = []
    msg_type = kind
    text = " ".join(args)

    def need(count, usage):
        if len(args) < count:
            raise SimulatorError(f"{kind} needs {usage}")

    if kind == "text":
        need(1, "some text")
        fields = [("Content", text)]
    elif kind == "image":
        fields = [("PicUrl", args[0] if args else "http://mmbiz.qpic.cn/sim.jpg"), ("MediaId", _media_id())]
    elif kind == "voice":
        fields = [("MediaId", _media_id()), ("Format", "amr")]
        if args:
            fields.append(("Recognition", text))
    elif kind in ("video", "shortvideo"):
        fields = [("MediaId", _media_id()), ("ThumbMediaId", _media_id())]
    elif kind == "location":
        need(2, "LAT LNG [LABEL]")
        try:
            lat, lng = float(args[0]), float(args[1])
        except ValueError:
            raise SimulatorError("location needs numeric LAT and LNG") from None
        fields = [("Location_X", lat), ("Location_Y", lng), ("Scale", 15), ("Label", " ".join(args[2:]))]
    elif kind == "link":
        need(1, "URL [TITLE]")
        fields = [("Title", " ".join(args[1:]) or args[0]), ("Description", ""), ("Url", args[0])]
    elif kind == "file":
        fields = [("Title", text or "file.txt"), ("Description", ""), ("FileKey", _media_id()),
                  ("FileMd5", os.urandom(16).hex()), ("FileTotalLen", 1024)]
    else:
        msg_type = "event"
        if kind == "event":
            need(1, "EVENT [KEY]")
            event, key = args[0], (args[1] if len(args) > 1 else None)
        elif kind == "subscribe":
            event, key = "subscribe", (f"qrscene_{args[0]}" if args else None)
        elif kind == "unsubscribe":
            event, key = "unsubscribe", None
        elif kind == "scan":
            need(1, "SCENE")
            event, key = "SCAN", args[0]
        elif kind == "click":
            need(1, "KEY")
            event, key = "CLICK", args[0]
        else:  # view
            need(1, "URL")
            event, key = "VIEW", args[0]
        fields = [("Event", event)]
        if key is not None:
            fields.append(("EventKey", key))
        if event in ("SCAN",) or (event == "subscribe" and key):
            fields.append(("Ticket", "sim_ticket_" + os.urandom(8).hex()))
        fields += _menu_event_details(event, args[2:] if kind == "event" else [])
        if event == "LOCATION":
            fields += [("Latitude", args[1] if len(args) > 1 else "23.137466"),
                       ("Longitude", args[2] if len(args) > 2 else "113.352425"), ("Precision", "119.385040")]
            fields = [f for f in fields if f[0] != "EventKey"]

    create_time = int(create_time if create_time is not None else time.time())
    parts = [f"<ToUserName>{cdata(sp)}</ToUserName>", f"<FromUserName>{cdata(user)}</FromUserName>",
             f"<CreateTime>{create_time}</CreateTime>", f"<MsgType>{cdata(msg_type)}</MsgType>"]
    for name, value in fields:
        raw = isinstance(value, (_RawXML, int, float))
        parts.append(f"<{name}>{value}</{name}>" if raw else f"<{name}>{cdata(value)}</{name}>")
    if msg_type != "event":
        parts.append(f"<MsgId>{msg_id if msg_id is not None else random.randint(10**15, 10**16 - 1)}</MsgId>")
    return "<xml>" + "".join(parts) + "</xml>"


def sign_request(xml: str, token: str, *, crypto: MessageCrypto | None = None, timestamp: int | None = None,
                 nonce: str | None = None, user: str | None = None) -> tuple[dict[str, str], bytes]:
    """The query parameters and body WeChat sends for ``xml``: plain, or encrypted with ``crypto``."""
    timestamp = str(int(timestamp if timestamp is not None else time.time()))
    nonce = nonce or str(random.randint(10**8, 10**9 - 1))
    params = {"signature": make_signature(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    if user:
        params["openid"] = user
    if crypto is None:
        return params, xml.encode("utf-8")
    encrypted = crypto.encrypt(xml)
    params.update(encrypt_type="aes", msg_signature=make_signature(token, timestamp, nonce, encrypted))
    to_user = parse_xml(xml).get("ToUserName", "")
    body = f"<xml><ToUserName>{cdata(to_user)}</ToUserName><Encrypt>{cdata(encrypted)}</Encrypt></xml>"
    return params, body.encode("utf-8")


def read_reply(body: bytes, crypto: MessageCrypto | None) -> tuple[dict[str, Any] | None, str | None, bool]:
    """``(fields, plaintext_xml, was_encrypted)`` of a callback answer; ``(None, None, False)`` for none.

    An encrypted answer is verified (``MsgSignature``) and decrypted with ``crypto``.
    """
    text = body.decode("utf-8", "replace").strip()
    if text in ("", "success"):
        return None, None, False
    try:
        outer = parse_xml(body)
    except MalformedMessageError as err:
        raise SimulatorError(f"the answer is not XML: {text[:200]!r}") from err
    if "Encrypt" not in outer:
        return outer, text, False
    if crypto is None:
        raise SimulatorError("the answer is encrypted but the account has no EncodingAESKey")
    xml = crypto.decrypt_message(outer["Encrypt"], outer.get("MsgSignature"), outer.get("TimeStamp", ""),
                                 outer.get("Nonce", ""))
    return parse_xml(xml), xml, True


def describe_reply(fields: dict[str, Any] | None) -> str:
    """A short human-readable rendering of a reply's fields."""
    if fields is None:
        return "(no reply)"
    msg_type = fields.get("MsgType", "?")
    if msg_type == "text":
        return f"[text] {fields.get('Content', '')}"
    if msg_type == "news":
        items = (fields.get("Articles") or {}).get("item", [])
        items = items if isinstance(items, list) else [items]
        lines = [f"[news] {len(items)} article(s)"]
        for number, item in enumerate(items, 1):
            lines.append(f"  {number}. {item.get('Title', '')} - {item.get('Description', '')} <{item.get('Url', '')}>")
        return "\n".join(lines)
    if msg_type == "music":
        music = fields.get("Music") or {}
        return f"[music] {music.get('Title', '')} - {music.get('Description', '')} <{music.get('MusicUrl', '')}>"
    if msg_type in ("image", "voice", "video"):
        inner = fields.get(msg_type.capitalize()) or {}
        extra = f" {inner.get('Title', '')}".rstrip() if msg_type == "video" else ""
        return f"[{msg_type}] media_id={inner.get('MediaId', '')}{extra}"
    if msg_type == "transfer_customer_service":
        account = (fields.get("TransInfo") or {}).get("KfAccount")
        return "[transfer_customer_service]" + (f" to {account}" if account else "")
    return f"[{msg_type}] {fields}"
