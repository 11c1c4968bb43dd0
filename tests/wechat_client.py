"""An independent WeChat-side client for tests: signs, encrypts and decrypts with wechatpy's code.

It plays WeChat's servers against a live callback URL, so that the app is checked by an
implementation that shares none of its protocol code.
"""
from __future__ import annotations

import hashlib
import random
import re
import time
from dataclasses import dataclass

import requests
import xmltodict
from wechatpy.crypto import WeChatCrypto


def wechat_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


@dataclass
class Answer:
    response: requests.Response
    xml: str | None  # the (decrypted) reply XML, None for "success"/empty
    fields: dict | None
    was_encrypted: bool


class WeChatServer:
    """Posts messages to ``<base_url>/wechat/callback/<name>/`` as WeChat would."""

    def __init__(self, base_url, name, token, app_id, aes_key=None):
        self.url = f"{base_url.rstrip('/')}/wechat/callback/{name}/"
        self.token, self.app_id, self.aes_key = token, app_id, aes_key
        self.crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None
        self.session = requests.Session()

    def query(self, timestamp=None, nonce=None, **extra):
        timestamp = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or str(random.randint(10**8, 10**9))
        params = {"timestamp": timestamp, "nonce": nonce,
                  "signature": wechat_signature(self.token, timestamp, nonce), "openid": "oUser0001"}
        params.update(extra)
        return params

    def verify_url(self, echostr="echo123", **overrides):
        params = self.query(**overrides)
        params["echostr"] = echostr
        return self.session.get(self.url, params=params, timeout=10)

    def build(self, xml: str, encrypted: bool, compatible_body=False, timestamp=None, nonce=None):
        """(params, body) of a delivery, plain or encrypted (compatible mode adds the plain fields)."""
        params = self.query(timestamp=timestamp, nonce=nonce)
        if not encrypted:
            return params, xml.encode("utf-8")
        envelope = xmltodict.parse(self.crypto.encrypt_message(xml, params["nonce"], params["timestamp"]))["xml"]
        encrypt = envelope["Encrypt"]
        params.update(encrypt_type="aes", msg_signature=wechat_signature(
            self.token, params["timestamp"], params["nonce"], encrypt))
        if compatible_body:  # WeChat's compatible mode sends the plaintext fields beside Encrypt
            body = xml.replace("</xml>", f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
        else:
            match = re.search(r"<ToUserName><!\[CDATA\[(.*?)\]\]></ToUserName>", xml)
            to_user = match.group(1) if match else "gh_0123456789ab"
            body = f"<xml><ToUserName><![CDATA[{to_user}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        return params, body.encode("utf-8")

    def post_raw(self, params, body, headers=None):
        return self.session.post(self.url, params=params, data=body,
                                 headers={"Content-Type": "text/xml", **(headers or {})}, timeout=15)

    def send(self, xml: str, encrypted=False, compatible_body=False, **kwargs) -> Answer:
        params, body = self.build(xml, encrypted, compatible_body, **kwargs)
        return self.read(self.post_raw(params, body), params)

    def read(self, response, params) -> Answer:
        text = response.content.decode("utf-8")
        if response.status_code != 200 or text in ("", "success"):
            return Answer(response, None, None, False)
        outer = xmltodict.parse(text)["xml"]
        if "Encrypt" in outer:
            assert self.crypto is not None, "encrypted reply to a plain request"
            # wechatpy checks MsgSignature and the app id
            xml = self.crypto.decrypt_message(text, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
            return Answer(response, xml, xmltodict.parse(xml)["xml"], True)
        return Answer(response, text, outer, False)


def message_xml(msg_type="text", *, user="oUser0001", sp="gh_0123456789ab", create_time=None, msg_id=None,
                **fields) -> str:
    """A realistic inbound message; ``fields`` are WeChat element names (Content=..., Event=...)."""
    create_time = create_time if create_time is not None else int(time.time())
    parts = [f"<ToUserName><![CDATA[{sp}]]></ToUserName>", f"<FromUserName><![CDATA[{user}]]></FromUserName>",
             f"<CreateTime>{create_time}</CreateTime>", f"<MsgType><![CDATA[{msg_type}]]></MsgType>"]
    for name, value in fields.items():
        parts.append(f"<{name}><![CDATA[{value}]]></{name}>")
    if msg_type != "event":
        parts.append(f"<MsgId>{msg_id or random.randint(10**15, 10**16)}</MsgId>")
    return "<xml>" + "".join(parts) + "</xml>"
