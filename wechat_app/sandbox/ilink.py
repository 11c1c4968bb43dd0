"""The sandbox's iLink side: a fake ``ilinkai.weixin.qq.com`` (personal WeChat bots) and its CDN.

- QR login: ``GET /ilink/bot/get_bot_qrcode`` makes a login; ``POST /_sandbox/ilink/scan`` and
  ``/_sandbox/ilink/confirm`` play the phone; ``GET /ilink/bot/get_qrcode_status`` long-polls
  (answers when the status changes, or ``wait`` after ``qr_poll_seconds``); a login expires after
  ``qr_ttl`` seconds (10 minutes). Confirming creates a bot with a new token.
- ``POST /ilink/bot/getupdates`` long-polls (``longpoll_seconds``) the messages injected with
  ``POST /_sandbox/ilink/messages`` after the opaque cursor; an answer without messages carries an
  empty cursor (the client keeps its own). Messages are redelivered until the cursor moves past them.
- ``sendmessage`` (recorded; media items are fetched from the CDN and decrypted with the item's key,
  so a wrong key or ciphertext is refused), ``getconfig``/``sendtyping``, ``getuploadurl``.
- The CDN at ``/c2c``: ``POST /c2c/upload`` takes the AES-128-ECB ciphertext (checked against the
  announced size and MD5) and answers ``x-encrypted-param``; ``GET /c2c/download`` answers ciphertext.
- Faults: ``POST /_sandbox/ilink/expire`` makes a bot's session time out (errcode -14 on every call);
  the general ``/_sandbox/faults`` work on these paths too (latency: slow polls; error; http; drop).

Every call checks the headers (``AuthorizationType: ilink_bot_token``, ``Authorization: Bearer``,
``X-WECHAT-UIN``: base64 of a decimal uint32) and ``base_info``. No Django imports (standalone).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .server import RawBody, RawResponse, admin, api
from .state import SandboxError

RAW_PREFIX = "/c2c/"
SESSION_TIMEOUT = -14
ITEM_FIELDS = {1: "text_item", 2: "image_item", 3: "voice_item", 4: "file_item", 5: "video_item"}
KIND_CODES = {"text": 1, "image": 2, "voice": 3, "file": 4, "video": 5}


def _encrypt(data: bytes, key: bytes) -> bytes:
    padder = padding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 - iLink's CDN format
    return enc.update(padder.update(data) + padder.finalize()) + enc.finalize()


def _decrypt(data: bytes, key: bytes) -> bytes:
    if not data or len(data) % 16:
        raise ValueError("not whole blocks")
    dec = Cipher(algorithms.AES(key), modes.ECB()).decryptor()  # noqa: S305
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(dec.update(data) + dec.finalize()) + unpadder.finalize()


def _item_key(value: str) -> bytes:
    raw = base64.b64decode(value, validate=True)
    if len(raw) == 16:
        return raw
    return bytes.fromhex(raw.decode("ascii"))


@dataclass
class Bot:
    bot_id: str
    token: str
    owner: str  # the ilink_user_id who scanned
    expired: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)  # each has "seq"


class ILinkState:
    def __init__(self):
        self.cond = threading.Condition()
        self.config = {"longpoll_seconds": 35.0, "qr_poll_seconds": 35.0, "qr_ttl": 600.0, "batch_size": 100}
        self.reset()

    def reset(self):
        with self.cond:
            self.logins: dict[str, dict[str, Any]] = {}
            self.bots: dict[str, Bot] = {}
            self.tokens: dict[str, str] = {}  # token -> bot id
            self.context: dict[tuple[str, str], str] = {}  # (bot, user) -> context token
            self.tickets: dict[str, tuple[str, str]] = {}  # typing ticket -> (bot, user)
            self.uploads: dict[str, dict[str, Any]] = {}  # upload param -> announced file
            self.cdn: dict[str, bytes] = {}  # download param -> ciphertext
            self.sent: list[dict[str, Any]] = []
            self.typing: list[dict[str, Any]] = []
            self.seq = 0
            self.message_id = 7_000_000_000
            self.cond.notify_all()

    def context_token(self, bot_id: str, user: str) -> str:
        key = (bot_id, user)
        if key not in self.context:
            self.context[key] = "ctx-" + secrets.token_urlsafe(18)
        return self.context[key]


def ilink_state(server_state) -> ILinkState:
    """The iLink state kept alongside a ``SandboxState`` (created on first use)."""
    state = server_state.__dict__.get("_ilink")
    if state is None:
        with server_state.lock:
            state = server_state.__dict__.setdefault("_ilink", ILinkState())
    return state


def _base_url(handler) -> str:
    host, port = handler.server.server_address[:2]
    return f"http://{host}:{port}"


def _check_headers(handler, *, token: bool = True) -> Bot | None:
    if handler.headers.get("AuthorizationType") != "ilink_bot_token":
        raise SandboxError(-1, "AuthorizationType must be ilink_bot_token")
    uin = handler.headers.get("X-WECHAT-UIN") or ""
    try:
        decoded = base64.b64decode(uin, validate=True).decode("ascii")
        if not decoded.isdigit() or int(decoded) >= 2 ** 32:
            raise ValueError
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise SandboxError(-1, "X-WECHAT-UIN must be base64 of a uint32's decimal string") from None
    if not token:
        return None
    auth = handler.headers.get("Authorization") or ""
    state = ilink_state(handler.state)
    with state.cond:
        bot_id = state.tokens.get(auth.removeprefix("Bearer ").strip()) if auth.startswith("Bearer ") else None
        bot = state.bots.get(bot_id) if bot_id else None
    if bot is None:
        raise SandboxError(-1, "invalid bot token")
    if bot.expired:
        raise SandboxError(SESSION_TIMEOUT, "session timeout")
    return bot


def _post(handler, body) -> dict[str, Any]:
    bot = _check_headers(handler)
    if not isinstance(body, dict) or not isinstance(body.get("base_info"), dict):
        raise SandboxError(-1, "base_info is required")
    return {"bot": bot, "state": ilink_state(handler.state)}


# --- QR login --------------------------------------------------------------------------------------
def _login_status(state: ILinkState, login: dict[str, Any]) -> str:
    if login["status"] in ("wait", "scanned") and time.time() - login["created"] > state.config["qr_ttl"]:
        login["status"] = "expired"
    return login["status"]


@api("GET", "/ilink/bot/get_bot_qrcode", token=False)
def _get_bot_qrcode(handler, query, body, app_id):
    _check_headers(handler, token=False)
    if query.get("bot_type") != "3":
        raise SandboxError(-1, "bot_type must be 3")
    state = ilink_state(handler.state)
    qrcode = secrets.token_hex(16)
    with state.cond:
        state.logins[qrcode] = {"status": "wait", "created": time.time(), "reported": None, "bot_id": None}
    return {"ret": 0, "qrcode": qrcode, "qrcode_img_content": f"https://liteapp.weixin.qq.com/q/sandbox?qrcode={qrcode}"}


@api("GET", "/ilink/bot/get_qrcode_status", token=False)
def _get_qrcode_status(handler, query, body, app_id):
    _check_headers(handler, token=False)
    state = ilink_state(handler.state)
    deadline = time.monotonic() + float(state.config["qr_poll_seconds"])
    with state.cond:
        login = state.logins.get(query.get("qrcode", ""))
        if login is None:
            raise SandboxError(-1, "unknown qrcode")
        while _login_status(state, login) == login["reported"] and login["status"] not in ("confirmed", "expired"):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            state.cond.wait(min(left, 0.5))
        status = login["reported"] = _login_status(state, login)
        answer = {"ret": 0, "status": "scaned" if status == "scanned" else status}
        if status == "confirmed":
            bot = state.bots[login["bot_id"]]
            answer.update(bot_token=bot.token, ilink_bot_id=bot.bot_id, ilink_user_id=bot.owner,
                          baseurl=_base_url(handler))
        return answer


@admin("POST", "/ilink/scan")
def _scan(server, query, body):
    state = ilink_state(server.state)
    with state.cond:
        login = state.logins[str(body["qrcode"])]
        if _login_status(state, login) != "wait":
            raise ValueError(f"the login is {login['status']}")
        login["status"] = "scanned"
        login["user"] = str(body.get("user_id") or f"{secrets.token_hex(8)}@im.wechat")
        state.cond.notify_all()
    return {"status": "scanned"}


@admin("POST", "/ilink/confirm")
def _confirm(server, query, body):
    state = ilink_state(server.state)
    with state.cond:
        login = state.logins[str(body["qrcode"])]
        if _login_status(state, login) != "scanned":
            raise ValueError(f"the login is {login['status']}, not scanned")
        bot_id = str(body.get("bot_id") or f"{secrets.token_hex(6)}@im.bot")
        old = state.bots.get(bot_id)
        if old is not None:  # a new login of the same bot: the old token stops working
            state.tokens.pop(old.token, None)
        token = f"{bot_id}:{secrets.token_urlsafe(24)}"
        bot = Bot(bot_id, token, login["user"], messages=old.messages if old else [])
        state.bots[bot_id] = bot
        state.tokens[token] = bot_id
        login.update(status="confirmed", bot_id=bot_id)
        state.cond.notify_all()
    return {"status": "confirmed", "bot_id": bot_id}


@admin("POST", "/ilink/expire_login")
def _expire_login(server, query, body):
    state = ilink_state(server.state)
    with state.cond:
        state.logins[str(body["qrcode"])]["status"] = "expired"
        state.cond.notify_all()
    return {"status": "expired"}


# --- messages --------------------------------------------------------------------------------------
def _cursor(value: str) -> int:
    if not value:
        return 0
    try:
        return int(base64.urlsafe_b64decode(value.encode("ascii")).decode("ascii").removeprefix("seq:"))
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise SandboxError(-1, "invalid get_updates_buf") from None


def _make_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode("ascii")).decode("ascii")


@api("POST", "/ilink/bot/getupdates", token=False)
def _getupdates(handler, query, body, app_id):
    ctx = _post(handler, body)
    state, bot = ctx["state"], ctx["bot"]
    after = _cursor(str(body.get("get_updates_buf") or ""))
    timeout = float(state.config["longpoll_seconds"])
    deadline = time.monotonic() + timeout
    with state.cond:
        while True:
            if bot.expired:
                raise SandboxError(SESSION_TIMEOUT, "session timeout")
            msgs = [m for m in bot.messages if m["seq"] > after][: int(state.config["batch_size"])]
            left = deadline - time.monotonic()
            if msgs or left <= 0:
                break
            state.cond.wait(min(left, 0.5))
    return {"ret": 0, "msgs": msgs, "get_updates_buf": _make_cursor(msgs[-1]["seq"]) if msgs else "",
            "longpolling_timeout_ms": int(timeout * 1000)}


def _media_of(state: ILinkState, item: dict[str, Any]) -> dict[str, Any]:
    body = item.get(ITEM_FIELDS[item["type"]]) or {}
    media = body.get("media") or {}
    ciphertext = state.cdn.get(str(media.get("encrypt_query_param") or ""))
    if ciphertext is None:
        raise SandboxError(-1, "the media is not on the CDN")
    try:
        data = _decrypt(ciphertext, _item_key(str(media.get("aes_key") or "")))
    except (ValueError, binascii.Error):
        raise SandboxError(-1, "the media cannot be decrypted with the item's aes_key") from None
    return {"size": len(data), "md5": hashlib.md5(data).hexdigest(),  # noqa: S324
            "data_b64": base64.b64encode(data).decode("ascii"), "file_name": body.get("file_name", "")}


@api("POST", "/ilink/bot/sendmessage", token=False)
def _sendmessage(handler, query, body, app_id):
    ctx = _post(handler, body)
    state, bot = ctx["state"], ctx["bot"]
    msg = body.get("msg")
    if not isinstance(msg, dict) or not msg.get("to_user_id") or not msg.get("client_id"):
        raise SandboxError(-1, "msg needs to_user_id and client_id")
    if msg.get("message_type") != 2 or msg.get("message_state") != 2:
        raise SandboxError(-1, "message_type and message_state must be 2")
    items = msg.get("item_list")
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
        raise SandboxError(-1, "item_list must hold exactly one item")
    item = items[0]
    if item.get("type") not in ITEM_FIELDS or not isinstance(item.get(ITEM_FIELDS[item.get("type")]), dict):
        raise SandboxError(-1, "unknown item type")
    with state.cond:
        expected = state.context.get((bot.bot_id, str(msg["to_user_id"])))
        token = str(msg.get("context_token") or "")
        if token and token != expected:
            raise SandboxError(-1, "invalid context_token")
        if any(s["bot_id"] == bot.bot_id and s["client_id"] == msg["client_id"] for s in state.sent):
            return {"ret": 0}  # the same client id twice: one message
        record = {"bot_id": bot.bot_id, "to_user_id": msg["to_user_id"], "client_id": msg["client_id"],
                  "context_token": token, "type": item["type"], "at": time.time(), "item": item}
        if item["type"] == 1:
            record["text"] = str(item["text_item"].get("text") or "")
        else:
            record["media"] = _media_of(state, item)
        state.sent.append(record)
    return {"ret": 0}


@api("POST", "/ilink/bot/getconfig", token=False)
def _getconfig(handler, query, body, app_id):
    ctx = _post(handler, body)
    state, bot = ctx["state"], ctx["bot"]
    user = str(body.get("ilink_user_id") or "")
    if not user:
        raise SandboxError(-1, "ilink_user_id is required")
    ticket = secrets.token_urlsafe(16)
    with state.cond:
        state.tickets[ticket] = (bot.bot_id, user)
    return {"ret": 0, "typing_ticket": ticket}


@api("POST", "/ilink/bot/sendtyping", token=False)
def _sendtyping(handler, query, body, app_id):
    ctx = _post(handler, body)
    state, bot = ctx["state"], ctx["bot"]
    with state.cond:
        owner = state.tickets.get(str(body.get("typing_ticket") or ""))
        if owner != (bot.bot_id, str(body.get("ilink_user_id") or "")):
            raise SandboxError(-1, "invalid typing_ticket")
        if body.get("status") not in (1, 2):
            raise SandboxError(-1, "status must be 1 or 2")
        state.typing.append({"bot_id": bot.bot_id, "user": owner[1], "status": body["status"], "at": time.time()})
    return {"ret": 0}


@api("POST", "/ilink/bot/getuploadurl", token=False)
def _getuploadurl(handler, query, body, app_id):
    ctx = _post(handler, body)
    state, bot = ctx["state"], ctx["bot"]
    try:
        rawsize, filesize = int(body["rawsize"]), int(body["filesize"])
        key = bytes.fromhex(str(body["aeskey"]))
        if len(key) != 16 or body.get("media_type") not in (1, 2, 3, 4) or not body.get("filekey"):
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise SandboxError(-1, "getuploadurl needs filekey, media_type 1-4, rawsize, filesize and a hex aeskey") from None
    if filesize != math.ceil((rawsize + 1) / 16) * 16:
        raise SandboxError(-1, "filesize must be ceil((rawsize+1)/16)*16")
    param = "up-" + secrets.token_urlsafe(18)
    with state.cond:
        state.uploads[param] = {"bot_id": bot.bot_id, "filekey": str(body["filekey"]), "rawsize": rawsize,
                                "filesize": filesize, "md5": str(body.get("rawfilemd5") or ""), "key": key}
    return {"ret": 0, "upload_param": param}


def _cdn_error(status: int, message: str) -> RawResponse:
    return RawResponse(message.encode(), "text/plain", status, {"x-error-message": message})


@api("POST", "/c2c/upload", token=False)
def _cdn_upload(handler, query, body, app_id):
    state = ilink_state(handler.state)
    with state.cond:
        upload = state.uploads.get(query.get("encrypted_query_param", ""))
    if upload is None or upload["filekey"] != query.get("filekey"):
        return _cdn_error(400, "unknown upload")
    data = body if isinstance(body, bytes) else b""
    if len(data) != upload["filesize"]:
        return _cdn_error(400, "the ciphertext is not filesize bytes")
    try:
        plain = _decrypt(data, upload["key"])
    except ValueError:
        return _cdn_error(400, "the ciphertext does not decrypt with the announced key")
    if len(plain) != upload["rawsize"] or (upload["md5"] and hashlib.md5(plain).hexdigest() != upload["md5"]):  # noqa: S324
        return _cdn_error(400, "size or md5 mismatch")
    download = "dl-" + secrets.token_urlsafe(24)
    with state.cond:
        state.cdn[download] = data
        state.uploads.pop(query.get("encrypted_query_param", ""), None)
    return RawResponse(b"", "text/plain", 200, {"x-encrypted-param": download})


@api("GET", "/c2c/download", token=False)
def _cdn_download(handler, query, body, app_id):
    state = ilink_state(handler.state)
    with state.cond:
        data = state.cdn.get(query.get("encrypted_query_param", ""))
    if data is None:
        return _cdn_error(404, "no such media")
    return RawBody(data)


# --- inspection / control (/_sandbox/ilink...) -------------------------------------------------------
def inject(server_state, bot_id: str, from_user_id: str, *, text: str | None = None, kind: str = "text",
           data: bytes | None = None, file_name: str = "", transcript: str = "", hex_key: bool = False,
           message_id: int | None = None) -> dict[str, Any]:
    """Queue a user's message to a bot (delivered by getupdates); media are encrypted onto the CDN."""
    state = ilink_state(server_state)
    if kind not in KIND_CODES:
        raise ValueError(f"unknown kind {kind!r}")
    with state.cond:
        bot = state.bots.get(bot_id)
        if bot is None:
            raise KeyError(f"no bot {bot_id!r}")
        if kind == "text":
            item = {"type": 1, "text_item": {"text": text or ""}}
        else:
            if data is None:
                raise ValueError("a media message needs data")
            key = secrets.token_bytes(16)
            param = "dl-" + secrets.token_urlsafe(24)
            state.cdn[param] = _encrypt(data, key)
            aes_key = base64.b64encode(key.hex().encode() if hex_key else key).decode()
            body: dict[str, Any] = {"media": {"encrypt_query_param": param, "aes_key": aes_key, "encrypt_type": 1}}
            if kind == "file":
                body.update(file_name=file_name or "file.bin", len=str(len(data)))
            if kind == "voice":
                body.update(text=transcript, playtime=1000, encode_type=6)
            item = {"type": KIND_CODES[kind], f"{kind}_item": body}
        state.seq += 1
        if message_id is None:
            state.message_id += 1
            message_id = state.message_id
        now = int(time.time() * 1000)
        msg = {"seq": state.seq, "message_id": message_id, "from_user_id": from_user_id, "to_user_id": bot_id,
               "client_id": secrets.token_hex(8), "create_time_ms": now, "message_type": 1, "message_state": 2,
               "item_list": [item], "context_token": state.context_token(bot_id, from_user_id)}
        bot.messages.append(msg)
        state.cond.notify_all()
        return msg


@admin("GET", "/ilink")
def _ilink_summary(server, query, body):
    state = ilink_state(server.state)
    with state.cond:
        return {"config": dict(state.config),
                "logins": [{"qrcode": q, "status": _login_status(state, v), "bot_id": v["bot_id"]}
                           for q, v in state.logins.items()],
                "bots": [{"bot_id": b.bot_id, "owner": b.owner, "expired": b.expired, "messages": len(b.messages)}
                         for b in state.bots.values()]}


@admin("POST", "/ilink/configure")
def _ilink_configure(server, query, body):
    state = ilink_state(server.state)
    with state.cond:
        for key, value in body.items():
            if key not in state.config:
                raise ValueError(f"unknown setting {key!r}")
            state.config[key] = type(state.config[key])(value)
        return {"config": dict(state.config)}


@admin("POST", "/ilink/messages")
def _ilink_inject(server, query, body):
    data = base64.b64decode(body["data_b64"]) if body.get("data_b64") else None
    msg = inject(server.state, str(body["bot_id"]), str(body["from_user_id"]), text=body.get("text"),
                 kind=str(body.get("type") or "text"), data=data, file_name=str(body.get("file_name") or ""),
                 transcript=str(body.get("transcript") or ""), hex_key=bool(body.get("hex_key")))
    return {"message": msg}


@admin("GET", "/ilink/sent")
def _ilink_sent(server, query, body):
    state = ilink_state(server.state)
    with state.cond:
        return {"sent": [s for s in state.sent if not query.get("bot_id") or s["bot_id"] == query["bot_id"]]}


@admin("GET", "/ilink/typing")
def _ilink_typing(server, query, body):
    state = ilink_state(server.state)
    with state.cond:
        return {"typing": list(state.typing)}


@admin("POST", "/ilink/expire")
def _ilink_expire(server, query, body):
    state = ilink_state(server.state)
    with state.cond:
        state.bots[str(body["bot_id"])].expired = True
        state.cond.notify_all()
    return {"expired": True}


@admin("POST", "/ilink/reset")
def _ilink_reset(server, query, body):
    ilink_state(server.state).reset()
    return {"ok": True}
