"""Inbound XML: a safe parser and the normalized ``Message``.

The normalized fields follow the wechat-mp / webot mapping (``uid``, ``sp``, ``id``, ``type``,
``text``, ``param`` …) in Python naming, so rules written for webot read the same here:

===================  ===============================  =========================================
WeChat field         Message                          when
===================  ===============================  =========================================
FromUserName         ``uid``                          always
ToUserName           ``sp``                           always
MsgId                ``id``                           user messages (events have none)
MsgType              ``type`` (lower case)            always
CreateTime           ``create_time`` (int, epoch s)   always
Content              ``text``                         text
Recognition          ``text``, ``param['recognition']``  voice with speech recognition on
PicUrl, MediaId      ``param['pic_url']``, ``['media_id']``  image
Location_X/_Y        ``param['lat']``, ``['lng']``    location (also LOCATION events' Latitude)
Scale, Label         ``param['scale']``, ``['label']``  location
Title, Description   ``param['title']``, ...          link, file
Event, EventKey      ``event``, ``event_key``         events (``param`` has them too)
Ticket               ``param['ticket']``              subscribe via QR code, SCAN
===================  ===============================  =========================================

``raw`` keeps every field as WeChat sent it (nested elements as dicts, repeated ones as lists).
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_standard_messages.html
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_event_pushes.html
"""
from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from typing import Any

from lxml import etree

from .errors import ForbiddenXMLError, MalformedMessageError

REQUIRED_FIELDS = ("ToUserName", "FromUserName", "CreateTime", "MsgType")

# A DOCTYPE or an entity declaration is never legitimate in a callback: refuse before parsing so
# that nothing is resolved or expanded (XXE, billion laughs).
_FORBIDDEN_RE = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)

_local = threading.local()

# Events WeChat sends about its own work (job results, reviews, verification notices, agent
# sessions), not about something a user did. They are logged like any message but are not user
# activity: statistics leave them out and the admin marks them. Lower case; compare with
# ``is_system_event``.
# https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html
# https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Batch_Sends_and_Originality_Checks.html
SYSTEM_EVENTS = frozenset({
    "templatesendjobfinish",  # a template message was delivered, refused or failed
    "masssendjobfinish",  # a mass send finished
    "publishjobfinish",  # a free publication finished
    "subscribe_msg_sent_event",  # a subscription message was delivered or failed
    "qualification_verify_success", "qualification_verify_fail",  # account verification
    "naming_verify_success", "naming_verify_fail", "annual_renew", "verify_expired",
    "card_pass_check", "card_not_pass_check", "card_sku_remind",  # card reviews and stock alerts
    "poi_check_notify",  # store review
    "kf_create_session", "kf_close_session", "kf_switch_session",  # customer-service agents' sessions
    "change_contact", "batch_job_result",  # WeCom: the corp's directory changed, a batch job finished
})


def is_system_event(event: str | None) -> bool:
    """Whether an event name is one of WeChat's own reports (``SYSTEM_EVENTS``), in any case."""
    return bool(event) and event.strip().lower() in SYSTEM_EVENTS



def _parser() -> etree.XMLParser:
    # lxml parsers keep state while parsing; one per thread is the documented safe use.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        _local.parser = parser
    return parser


def parse_xml(body: bytes | str) -> dict[str, Any]:
    """Parse a callback body into a dict of its fields, safely.

    Raises ``ForbiddenXMLError`` for any DTD or entity declaration and ``MalformedMessageError``
    for anything that is not a well-formed ``<xml>`` document.
    """
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not body or not body.strip():
        raise MalformedMessageError("empty body")
    if _FORBIDDEN_RE.search(body):
        raise ForbiddenXMLError("DOCTYPE and entity declarations are not allowed")
    try:
        root = etree.fromstring(body, _parser())
    except (etree.XMLSyntaxError, ValueError) as err:
        raise MalformedMessageError(f"malformed XML: {err}") from err
    if root is None or root.getroottree().docinfo.doctype:
        raise ForbiddenXMLError("DOCTYPE declarations are not allowed")
    if root.tag != "xml":
        raise MalformedMessageError("the root element must be <xml>")
    return _element_to_dict(root)


def _element_to_dict(element) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for child in element:
        if not isinstance(child.tag, str):  # comments / PIs already removed; be defensive
            continue
        value: Any = _element_to_dict(child) if len(child) else (child.text or "")
        if child.tag in result:
            if not isinstance(result[child.tag], list):
                result[child.tag] = [result[child.tag]]
            result[child.tag].append(value)
        else:
            result[child.tag] = value
    return result


@dataclass
class Message:
    """A normalized inbound message or event (see the module docstring for the mapping)."""

    uid: str
    sp: str
    type: str
    create_time: int
    id: str | None = None
    text: str | None = None
    event: str | None = None
    event_key: str | None = None
    param: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def is_(self, msg_type: str) -> bool:
        """webot's ``info.is('image')``: compare the message type, case-insensitively."""
        return self.type == msg_type.lower()

    @property
    def is_event(self) -> bool:
        return self.type == "event"

    @property
    def is_system_event(self) -> bool:
        """An event WeChat reports about its own work (``SYSTEM_EVENTS``), not a user's action."""
        return self.is_event and is_system_event(self.event)

    @property
    def dedupe_key(self) -> str:
        """The identity WeChat keeps across its retries of one delivery.

        User messages carry a MsgId; events do not, and are identified by sender, time, event
        and key, as WeChat's documentation prescribes.
        """
        if self.id and not self.is_event:
            return f"msg:{self.id}"
        key = f"evt:{self.uid}:{self.create_time}:{self.event or ''}:{self.event_key or ''}"
        # Events that carry no key but must not be confused (WeCom's change_contact from "sys"):
        # their parser puts what tells them apart in param["identity"].
        identity = self.param.get("identity")
        return f"{key}:{identity}" if identity else key

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        """The message ``to_dict`` described (a spooled hand-off, a logged message)."""
        names = {f.name for f in dataclass_fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable form (for logs and the REST API)."""
        return {
            "id": self.id, "uid": self.uid, "sp": self.sp, "type": self.type,
            "create_time": self.create_time, "text": self.text, "event": self.event,
            "event_key": self.event_key, "param": self.param, "raw": self.raw,
        }


def _str(raw, name, default=""):
    """The text of a leaf field; a nested or repeated element (hostile or unexpected XML) counts
    as absent so that normalized fields are always ``str`` and never crash a rule."""
    value = raw.get(name)
    return value if isinstance(value, str) else default


def _float(value):
    # NaN and infinities are refused: they are not coordinates, and JSON (the log) cannot carry them.
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# Per-type normalizers fill ``param`` (and ``text``) from the raw fields. Registered by type so
# that a new WeChat message type is one function, not another branch.
_TYPE_PARSERS = {}
_EVENT_PARSERS = {}


def message_type(*names):
    def register(func):
        for name in names:
            _TYPE_PARSERS[name] = func
        return func
    return register


def event_type(*names):
    def register(func):
        for name in names:
            _EVENT_PARSERS[name.lower()] = func
        return func
    return register


@message_type("text")
def _text(raw, msg):
    msg.text = _str(raw, "Content")
    if _str(raw, "bizmsgmenuid"):
        msg.param["bizmsgmenuid"] = raw["bizmsgmenuid"]


@message_type("image")
def _image(raw, msg):
    msg.param.update(pic_url=_str(raw, "PicUrl"), media_id=_str(raw, "MediaId"))


@message_type("voice")
def _voice(raw, msg):
    msg.param.update(media_id=_str(raw, "MediaId"), format=_str(raw, "Format"))
    if "Recognition" in raw:
        recognition = _str(raw, "Recognition")
        msg.param["recognition"] = recognition
        # As in webot: recognized speech is matched like text.
        if recognition:
            msg.text = recognition
    if _str(raw, "MediaId16K"):
        msg.param["media_id_16k"] = raw["MediaId16K"]


@message_type("video", "shortvideo")
def _video(raw, msg):
    msg.param.update(media_id=_str(raw, "MediaId"), thumb_media_id=_str(raw, "ThumbMediaId"))


@message_type("location")
def _location(raw, msg):
    msg.param.update(
        lat=_float(raw.get("Location_X")), lng=_float(raw.get("Location_Y")),
        scale=_int(raw.get("Scale")), label=_str(raw, "Label"),
    )


@message_type("link")
def _link(raw, msg):
    msg.param.update(title=_str(raw, "Title"), description=_str(raw, "Description"), url=_str(raw, "Url"))


@message_type("file")
def _file(raw, msg):
    msg.param.update(
        title=_str(raw, "Title"), description=_str(raw, "Description"),
        file_key=_str(raw, "FileKey"), file_md5=_str(raw, "FileMd5"),
        file_total_len=_int(raw.get("FileTotalLen")),
    )


@message_type("event")
def _event(raw, msg):
    msg.event = _str(raw, "Event").strip()
    msg.event_key = _str(raw, "EventKey", None)
    msg.param.update(event=msg.event, event_key=msg.event_key)
    parser = _EVENT_PARSERS.get(msg.event.lower())
    if parser:
        parser(raw, msg)


@event_type("subscribe", "SCAN")
def _subscribe(raw, msg):
    if _str(raw, "Ticket"):
        msg.param["ticket"] = raw["Ticket"]
    key = msg.event_key or ""
    # A subscribe through a parametric QR code carries "qrscene_<scene>"; SCAN carries "<scene>".
    if key.startswith("qrscene_"):
        msg.param["scene"] = key[len("qrscene_"):]
    elif msg.event.lower() == "scan" and key:
        msg.param["scene"] = key


@event_type("LOCATION")
def _location_event(raw, msg):
    msg.param.update(
        lat=_float(raw.get("Latitude")), lng=_float(raw.get("Longitude")),
        precision=_float(raw.get("Precision")),
    )


@event_type("VIEW", "view_miniprogram")
def _view(raw, msg):
    msg.param["url"] = msg.event_key or ""
    if _str(raw, "MenuId"):
        msg.param["menu_id"] = raw["MenuId"]


@event_type("scancode_push", "scancode_waitmsg")
def _scancode(raw, msg):
    info = raw.get("ScanCodeInfo") or {}
    if isinstance(info, dict):
        msg.param.update(scan_type=_str(info, "ScanType"), scan_result=_str(info, "ScanResult"))


@event_type("pic_sysphoto", "pic_photo_or_album", "pic_weixin")
def _pics(raw, msg):
    info = raw.get("SendPicsInfo") or {}
    if not isinstance(info, dict):
        info = {}
    items = (info.get("PicList") or {}) if isinstance(info.get("PicList"), dict) else {}
    entries = items.get("item", [])
    if not isinstance(entries, list):
        entries = [entries]
    msg.param.update(
        count=_int(info.get("Count")),
        pic_list=[_str(e, "PicMd5Sum") for e in entries if isinstance(e, dict)],
    )


@event_type("location_select")
def _location_select(raw, msg):
    info = raw.get("SendLocationInfo") or {}
    if isinstance(info, dict):
        msg.param.update(
            lat=_float(info.get("Location_X")), lng=_float(info.get("Location_Y")),
            scale=_int(info.get("Scale")), label=_str(info, "Label"), poiname=_str(info, "Poiname"),
        )


@event_type("TEMPLATESENDJOBFINISH", "MASSSENDJOBFINISH")
def _job_finish(raw, msg):
    msg.param.update(msg_id=_str(raw, "MsgID") or _str(raw, "MsgId"), status=_str(raw, "Status"))
    for name, key in (("TotalCount", "total_count"), ("FilterCount", "filter_count"),
                      ("SentCount", "sent_count"), ("ErrorCount", "error_count")):
        if name in raw:
            msg.param[key] = _int(raw[name])


def message_from_dict(raw: dict[str, Any]) -> Message:
    """Normalize parsed fields into a ``Message``; unknown types are kept, with ``raw``."""
    missing = [name for name in REQUIRED_FIELDS if not isinstance(raw.get(name), str) or not raw.get(name)]
    if missing:
        raise MalformedMessageError(f"missing required field(s): {', '.join(missing)}")
    create_time = _int(raw["CreateTime"])
    if create_time is None:
        raise MalformedMessageError("CreateTime must be an integer")
    msg_id = raw.get("MsgId") or raw.get("MsgID")
    msg = Message(
        uid=raw["FromUserName"], sp=raw["ToUserName"], type=raw["MsgType"].strip().lower(),
        create_time=create_time, id=msg_id if isinstance(msg_id, str) and msg_id else None, raw=raw,
    )
    parser = _TYPE_PARSERS.get(msg.type)
    if parser:
        parser(raw, msg)
    return msg


def parse_message(body: bytes | str) -> Message:
    """Parse and normalize a plaintext callback body."""
    return message_from_dict(parse_xml(body))
