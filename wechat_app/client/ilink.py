"""The iLink bot API client (personal WeChat bots): QR login, long polling, sending, typing, CDN media.

No Django models here: a client is built from a base URL, a CDN base URL and (once logged in) the
bot token; it talks HTTP over the process's shared session (``client.base.get_session``).

Usage::

    client = ILinkClient(base_url, bot_token=token, cdn_base_url=cdn)
    batch = client.getupdates(cursor)                      # long poll
    client.sendmessage(user, ilink.text_item("hi"), context_token=token)
"""
from __future__ import annotations

import json as jsonlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from ..protocol import ilink
from .base import get_session
from .errors import WeChatAPIError, WeChatTransportError

DEFAULT_TIMEOUT = (3.05, 15)
LONG_POLL_SECONDS = 35  # getupdates and get_qrcode_status hold the request up to this
LONG_POLL_GRACE = 5  # the read timeout of a long poll: the poll's length plus this


class ILinkSessionExpired(WeChatAPIError):
    """errcode -14: the bot's session timed out; the account needs a new QR login."""


@dataclass
class Updates:
    """One ``getupdates`` answer: the messages and the next cursor ("" when the server gave none)."""

    msgs: list[dict[str, Any]] = field(default_factory=list)
    cursor: str = ""
    timeout_ms: int | None = None


@dataclass
class Uploaded:
    """A file on the CDN: what a message item needs to reference it."""

    kind: str
    download_param: str
    key: bytes
    raw_size: int
    md5: str
    file_name: str = ""

    def item(self) -> dict[str, Any]:
        return ilink.media_item(self.kind, download_param=self.download_param, key=self.key,
                                raw_size=self.raw_size, file_name=self.file_name, md5=self.md5)


class ILinkClient:
    """Calls the iLink bot API for one bot (or, without a token, the QR login endpoints)."""

    def __init__(self, base_url: str | None = None, *, bot_token: str = "", cdn_base_url: str | None = None,
                 timeout=None, long_poll_seconds: float = LONG_POLL_SECONDS, session: requests.Session | None = None):
        self.base_url = (base_url or ilink.DEFAULT_API_BASE_URL).rstrip("/")
        self.cdn_base_url = (cdn_base_url or ilink.DEFAULT_CDN_BASE_URL).rstrip("/")
        self._bot_token = bot_token
        self.timeout = tuple(timeout) if isinstance(timeout, (list, tuple)) else (timeout or DEFAULT_TIMEOUT)
        self.long_poll_seconds = long_poll_seconds
        self.long_poll_grace = LONG_POLL_GRACE
        self._session = session

    def __repr__(self):  # never the token
        return f"<ILinkClient base_url={self.base_url!r}>"

    @property
    def session(self) -> requests.Session:
        return self._session or get_session()

    # --- HTTP ----------------------------------------------------------------------------------------
    def _call(self, method: str, endpoint: str, body: dict | None = None, *, params: dict | None = None,
              read_timeout: float | None = None) -> dict[str, Any]:
        where = f"{method} /{endpoint}"
        url = f"{self.base_url}/{endpoint}"
        data = None
        if method == "POST":
            data = jsonlib.dumps(ilink.with_base_info(body or {}), ensure_ascii=False).encode("utf-8")
        timeout = (self.timeout[0], read_timeout) if read_timeout else self.timeout
        try:
            response = self.session.request(method, url, params=params, data=data,
                                            headers=ilink.request_headers(self._bot_token), timeout=timeout)
        except requests.ConnectTimeout:
            raise WeChatTransportError(None, "connect timeout", where, maybe_applied=False) from None
        except requests.ReadTimeout:
            raise WeChatTransportError(None, "read timeout", where) from None
        except requests.ConnectionError as err:
            never_sent = "NewConnectionError" in repr(err) or "Connection refused" in repr(err)
            raise WeChatTransportError(None, "connection failed" if never_sent else "connection lost", where,
                                       maybe_applied=not never_sent) from None
        except requests.RequestException as err:
            raise WeChatTransportError(None, type(err).__name__, where) from None
        if response.status_code >= 400:
            raise WeChatTransportError(None, f"HTTP {response.status_code}", where, status=response.status_code)
        try:
            payload = response.json() if response.content.strip() else {}
        except ValueError:
            raise WeChatTransportError(None, "answer is not JSON", where, status=response.status_code) from None
        if not isinstance(payload, dict):
            raise WeChatTransportError(None, "answer is not a JSON object", where, status=response.status_code)
        code = payload.get("errcode") or payload.get("ret") or 0
        try:
            code = int(code)
        except (TypeError, ValueError):
            code = -1
        if code:
            cls = ILinkSessionExpired if code == ilink.SESSION_TIMEOUT else WeChatAPIError
            raise cls(code, str(payload.get("errmsg") or ""), where, status=response.status_code)
        return payload

    # --- QR login --------------------------------------------------------------------------------------
    def get_bot_qrcode(self) -> dict[str, str]:
        """A new login QR code: ``{"qrcode": <id to poll>, "qrcode_img_content": <what the QR encodes>}``."""
        payload = self._call("GET", "ilink/bot/get_bot_qrcode", params={"bot_type": ilink.BOT_TYPE})
        if not payload.get("qrcode"):
            raise WeChatAPIError(-1, "no qrcode in the answer", "GET /ilink/bot/get_bot_qrcode")
        return {"qrcode": str(payload["qrcode"]), "qrcode_img_content": str(payload.get("qrcode_img_content") or "")}

    def get_qrcode_status(self, qrcode: str, *, wait: float | None = None) -> dict[str, Any]:
        """Long-poll a QR code's status; ``status`` is normalized (wait, scanned, confirmed, expired).
        Confirmed answers carry ``bot_token``, ``ilink_bot_id``, ``ilink_user_id`` and ``baseurl``.
        A client-side timeout of the long poll answers ``{"status": "wait"}``."""
        wait = self.long_poll_seconds if wait is None else wait
        try:
            payload = self._call("GET", "ilink/bot/get_qrcode_status", read_timeout=wait + self.long_poll_grace,
                                 params={"qrcode": qrcode, "bot_type": ilink.BOT_TYPE})
        except WeChatTransportError as err:
            if err.errmsg == "read timeout":
                return {"status": "wait"}
            raise
        payload["status"] = ilink.QR_STATUSES.get(str(payload.get("status") or "wait"), "wait")
        return payload

    # --- messages ------------------------------------------------------------------------------------
    def getupdates(self, cursor: str = "") -> Updates:
        """Long-poll the bot's new messages after ``cursor`` (opaque). A client-side timeout of the
        long poll is an empty batch with no new cursor."""
        try:
            payload = self._call("POST", "ilink/bot/getupdates", {"get_updates_buf": cursor or ""},
                                 read_timeout=self.long_poll_seconds + self.long_poll_grace)
        except WeChatTransportError as err:
            if err.errmsg == "read timeout":
                return Updates()
            raise
        msgs = [m for m in payload.get("msgs") or [] if isinstance(m, dict)]
        return Updates(msgs=msgs, cursor=str(payload.get("get_updates_buf") or ""),
                       timeout_ms=payload.get("longpolling_timeout_ms"))

    def sendmessage(self, to_user_id: str, item: dict[str, Any], *, context_token: str = "",
                    client_id: str | None = None) -> str:
        """Send one item to a user, echoing the conversation's context token; returns the client id."""
        msg = ilink.outgoing_message(to_user_id, item, context_token, client_id)
        self._call("POST", "ilink/bot/sendmessage", {"msg": msg})
        return msg["client_id"]

    def send_text(self, to_user_id: str, text: str, *, context_token: str = "", client_id: str | None = None) -> str:
        return self.sendmessage(to_user_id, ilink.text_item(text), context_token=context_token, client_id=client_id)

    # --- typing ----------------------------------------------------------------------------------------
    def getconfig(self, ilink_user_id: str, context_token: str = "") -> dict[str, Any]:
        return self._call("POST", "ilink/bot/getconfig", {"ilink_user_id": ilink_user_id,
                                                          "context_token": context_token})

    def sendtyping(self, ilink_user_id: str, typing_ticket: str, *, on: bool = True) -> None:
        self._call("POST", "ilink/bot/sendtyping", {
            "ilink_user_id": ilink_user_id, "typing_ticket": typing_ticket,
            "status": ilink.TYPING_START if on else ilink.TYPING_CANCEL})

    def typing(self, ilink_user_id: str, *, on: bool = True, context_token: str = "") -> None:
        ticket = str(self.getconfig(ilink_user_id, context_token).get("typing_ticket") or "")
        if not ticket:
            raise WeChatAPIError(-1, "getconfig answered no typing_ticket", "POST /ilink/bot/getconfig")
        self.sendtyping(ilink_user_id, ticket, on=on)

    # --- media -----------------------------------------------------------------------------------------
    def upload(self, kind: str, data: bytes, to_user_id: str, *, file_name: str = "") -> Uploaded:
        """Encrypt ``data`` with a fresh key, ask ``getuploadurl`` where, POST the ciphertext to the
        CDN and return what a message item needs (the CDN's ``x-encrypted-param``)."""
        if kind not in ilink.UPLOAD_MEDIA_TYPES:
            raise ValueError(f"cannot upload {kind!r} (one of {', '.join(ilink.UPLOAD_MEDIA_TYPES)})")
        key, filekey = ilink.new_aes_key(), secrets.token_hex(16)
        md5 = ilink.md5_hex(data)
        answer = self._call("POST", "ilink/bot/getuploadurl", {
            "filekey": filekey, "media_type": ilink.UPLOAD_MEDIA_TYPES[kind], "to_user_id": to_user_id,
            "rawsize": len(data), "rawfilemd5": md5, "filesize": ilink.encrypted_size(len(data)),
            "no_need_thumb": True, "aeskey": key.hex()})
        url = str(answer.get("upload_full_url") or "").strip()
        if not url:
            param = str(answer.get("upload_param") or "")
            if not param:
                raise WeChatAPIError(-1, "getuploadurl answered no upload URL", "POST /ilink/bot/getuploadurl")
            url = f"{self.cdn_base_url}/upload?encrypted_query_param={quote(param, safe='')}&filekey={filekey}"
        where = "POST /cdn/upload"
        try:
            response = self.session.post(url, data=ilink.encrypt(data, key), timeout=(self.timeout[0], 60),
                                         headers={"Content-Type": "application/octet-stream"})
        except requests.RequestException as err:
            raise WeChatTransportError(None, type(err).__name__, where) from None
        if response.status_code != 200:
            raise WeChatTransportError(None, f"HTTP {response.status_code}", where, status=response.status_code)
        download_param = response.headers.get("x-encrypted-param") or ""
        if not download_param:
            raise WeChatTransportError(None, "no x-encrypted-param in the CDN's answer", where)
        return Uploaded(kind, download_param, key, len(data), md5, file_name)

    def download(self, media: dict[str, str], *, max_size: int | None = None) -> bytes:
        """The decrypted bytes of an inbound item's media (``protocol.ilink.item_media``)."""
        url = media.get("full_url") or (f"{self.cdn_base_url}/download?encrypted_query_param="
                                        f"{quote(media['download_param'], safe='')}")
        if media.get("full_url") and urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("a media URL must be http(s)")
        where = "GET /cdn/download"
        try:
            response = self.session.get(url, timeout=(self.timeout[0], 60), stream=True)
            if response.status_code != 200:
                raise WeChatTransportError(None, f"HTTP {response.status_code}", where, status=response.status_code)
            chunks, size = [], 0
            for chunk in response.iter_content(65536):
                size += len(chunk)
                if max_size is not None and size > max_size + 16:
                    raise WeChatTransportError(None, "media larger than the limit", where)
                chunks.append(chunk)
        except requests.RequestException as err:
            raise WeChatTransportError(None, type(err).__name__, where) from None
        return ilink.decrypt(b"".join(chunks), ilink.decode_item_key(media["aes_key"]))
