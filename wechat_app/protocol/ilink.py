"""The iLink bot protocol (personal WeChat bots) in pure Python: headers, items, media crypto,
and the conversion of an inbound iLink message to a normalized ``Message``.

iLink is a JSON-over-HTTPS API (``https://ilinkai.weixin.qq.com`` by default): every call is a
POST (the QR login calls are GETs) with the headers of ``request_headers`` and a ``base_info``
in the body. Messages arrive by long-polling ``ilink/bot/getupdates``; each carries an
``item_list`` of items whose ``type`` is one of ``ITEM_TEXT`` … ``ITEM_VIDEO``, and a
``context_token`` that every answer to that user must echo.

Media travel through a CDN encrypted with AES-128-ECB and PKCS#7 padding under a random 16-byte
key; the key is carried in the message item as ``media.aes_key`` (base64 of the raw key, or
base64 of its 32-character hex form; both are accepted).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import math
import secrets
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import ProtocolError
from .messages import Message

DEFAULT_API_BASE_URL = "https://ilinkai.weixin.qq.com"
DEFAULT_CDN_BASE_URL = "https://novac2c.cdn.weixin.qq.com/c2c"
CHANNEL_VERSION = "django-wechat-app/0.1"
BOT_TYPE = "3"

# Message item types (``item_list[].type``).
ITEM_TEXT, ITEM_IMAGE, ITEM_VOICE, ITEM_FILE, ITEM_VIDEO = 1, 2, 3, 4, 5
ITEM_TYPES = {ITEM_TEXT: "text", ITEM_IMAGE: "image", ITEM_VOICE: "voice", ITEM_FILE: "file", ITEM_VIDEO: "video"}
ITEM_CODES = {name: code for code, name in ITEM_TYPES.items()}
ITEM_FIELDS = {"text": "text_item", "image": "image_item", "voice": "voice_item", "file": "file_item",
               "video": "video_item"}
MEDIA_KINDS = ("image", "voice", "file", "video")

# ``getuploadurl``'s media_type (another numbering than the items').
UPLOAD_MEDIA_TYPES = {"image": 1, "video": 2, "file": 3, "voice": 4}

# ``message_type``: 1 from a user, 2 from the bot; ``message_state`` 2: finished.
MESSAGE_TYPE_USER, MESSAGE_TYPE_BOT = 1, 2
MESSAGE_STATE_FINISH = 2
TYPING_START, TYPING_CANCEL = 1, 2

# QR login statuses as iLink spells them -> ours.
QR_STATUSES = {"wait": "wait", "scaned": "scanned", "scanned": "scanned", "confirmed": "confirmed",
               "expired": "expired"}

SESSION_TIMEOUT = -14  # errcode: the bot's session ended; a new QR login is needed


class ILinkProtocolError(ProtocolError):
    """An iLink message or media key that cannot be understood."""


# --- requests --------------------------------------------------------------------------------------
def random_uin() -> str:
    """``X-WECHAT-UIN``: base64 of a random uint32's decimal string (a fresh one per request)."""
    return base64.b64encode(str(secrets.randbits(32)).encode("ascii")).decode("ascii")


def request_headers(bot_token: str | None = None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "AuthorizationType": "ilink_bot_token",
               "X-WECHAT-UIN": random_uin()}
    if bot_token:
        headers["Authorization"] = f"Bearer {bot_token}"
    return headers


def base_info() -> dict[str, str]:
    return {"channel_version": CHANNEL_VERSION}


def with_base_info(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "base_info": base_info()}


# --- media crypto ----------------------------------------------------------------------------------
def new_aes_key() -> bytes:
    return secrets.token_bytes(16)


def encrypt(data: bytes, key: bytes) -> bytes:
    """AES-128-ECB with PKCS#7 padding (what the CDN stores)."""
    _check_key(key)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 - iLink's CDN format
    return encryptor.update(padded) + encryptor.finalize()


def decrypt(data: bytes, key: bytes) -> bytes:
    _check_key(key)
    if not data or len(data) % 16:
        raise ILinkProtocolError("the ciphertext is not a whole number of AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()  # noqa: S305
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise ILinkProtocolError("bad padding: wrong key or corrupted media") from None


def _check_key(key: bytes) -> None:
    if not isinstance(key, (bytes, bytearray)) or len(key) != 16:
        raise ILinkProtocolError("an iLink media key is 16 bytes")


def encrypted_size(raw_size: int) -> int:
    """The ciphertext size of ``raw_size`` bytes: PKCS#7 always adds 1 to 16 bytes."""
    return math.ceil((raw_size + 1) / 16) * 16


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 - iLink's checksum, not a security measure


def encode_item_key(key: bytes) -> str:
    """The ``media.aes_key`` of an outgoing item: base64 of the key's hex form."""
    return base64.b64encode(key.hex().encode("ascii")).decode("ascii")


def decode_item_key(value: str) -> bytes:
    """A ``media.aes_key`` (base64 of the raw key or of its hex form) or a bare hex key -> 16 bytes."""
    value = (value or "").strip()
    if len(value) == 32:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ILinkProtocolError("the media key is not base64") from None
    if len(decoded) == 16:
        return decoded
    if len(decoded) == 32:
        try:
            return bytes.fromhex(decoded.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            pass
    raise ILinkProtocolError("the media key is neither 16 bytes nor 32 hex characters")


# --- items -----------------------------------------------------------------------------------------
def text_item(text: str) -> dict[str, Any]:
    return {"type": ITEM_TEXT, "text_item": {"text": text}}


def media_item(kind: str, *, download_param: str, key: bytes, raw_size: int, file_name: str = "",
               md5: str = "") -> dict[str, Any]:
    """The item of an uploaded file (``kind``: image, voice, file, video)."""
    if kind not in MEDIA_KINDS:
        raise ILinkProtocolError(f"unknown media kind {kind!r}")
    media = {"encrypt_query_param": download_param, "aes_key": encode_item_key(key), "encrypt_type": 1}
    body: dict[str, Any] = {"media": media}
    if kind == "image":
        body["mid_size"] = encrypted_size(raw_size)
    elif kind == "file":
        body.update(file_name=file_name or "file", md5=md5, len=str(raw_size))
    elif kind == "video":
        body.update(video_size=encrypted_size(raw_size), video_md5=md5)
    return {"type": ITEM_CODES[kind], ITEM_FIELDS[kind]: body}


def outgoing_message(to_user_id: str, item: dict[str, Any], context_token: str = "",
                     client_id: str | None = None) -> dict[str, Any]:
    """The ``msg`` of ``sendmessage``: one item, from the bot, finished."""
    msg = {"from_user_id": "", "to_user_id": to_user_id, "client_id": client_id or secrets.token_hex(16),
           "message_type": MESSAGE_TYPE_BOT, "message_state": MESSAGE_STATE_FINISH, "item_list": [item]}
    if context_token:
        msg["context_token"] = context_token
    return msg


def item_media(item: dict[str, Any]) -> dict[str, Any] | None:
    """``{"kind", "download_param", "full_url", "aes_key", "file_name"}`` of a media item, None otherwise."""
    kind = ITEM_TYPES.get(_int(item.get("type")))
    if kind not in MEDIA_KINDS:
        return None
    body = item.get(ITEM_FIELDS[kind])
    if not isinstance(body, dict):
        return None
    media = body.get("media") if isinstance(body.get("media"), dict) else {}
    key = media.get("aes_key") or body.get("aeskey") or ""
    param = media.get("encrypt_query_param") or ""
    if not (param or media.get("full_url")) or not key:
        return None
    return {"kind": kind, "download_param": str(param), "full_url": str(media.get("full_url") or ""),
            "aes_key": str(key), "file_name": str(body.get("file_name") or "")}


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def to_message(msg: dict[str, Any], bot_id: str = "") -> Message:
    """A normalized ``Message`` from one entry of ``getupdates``' ``msgs``.

    ``uid`` is the sender, ``sp`` the bot, ``id`` the message id (so ``dedupe_key`` is stable across
    polls), ``type`` that of its first item (text, image, voice, file, video), ``text`` the text (a
    voice: its transcript), ``param["context_token"]`` the token answers must echo, ``raw`` the
    whole message.
    """
    if not isinstance(msg, dict):
        raise ILinkProtocolError("an iLink message is a JSON object")
    sender = str(msg.get("from_user_id") or "")
    if not sender:
        raise ILinkProtocolError("the message has no from_user_id")
    message_id = msg.get("message_id") or msg.get("client_id") or msg.get("seq")
    if message_id in (None, ""):
        raise ILinkProtocolError("the message has no message_id")
    items = [item for item in msg.get("item_list") or [] if isinstance(item, dict)]
    item = items[0] if items else {}
    kind = ITEM_TYPES.get(_int(item.get("type")), "unknown")
    text = None
    param: dict[str, Any] = {"context_token": str(msg.get("context_token") or "")}
    body = item.get(ITEM_FIELDS.get(kind, ""), {}) if kind != "unknown" else {}
    body = body if isinstance(body, dict) else {}
    if kind == "text":
        text = str(body.get("text") or "")
        # Several text items (rare): one text.
        extra = [str((i.get("text_item") or {}).get("text") or "") for i in items[1:] if _int(i.get("type")) == 1]
        if extra:
            text = "\n".join([text, *extra])
    elif kind == "voice":
        text = str(body.get("text") or "") or None
        param["recognition"] = text or ""
        if body.get("playtime") is not None:
            param["playtime"] = body.get("playtime")
    elif kind == "file":
        param["file_name"] = str(body.get("file_name") or "")
        if body.get("len") is not None:
            param["size"] = body.get("len")
    media = item_media(item)
    if media is not None:
        param["media"] = media
    create_ms = _int(msg.get("create_time_ms")) or 0
    return Message(uid=sender, sp=str(msg.get("to_user_id") or bot_id), type=kind, create_time=create_ms // 1000,
                   id=str(message_id), text=text, param=param, raw=msg)
