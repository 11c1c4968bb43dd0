"""An independent WeCom-side client for tests: signs, encrypts and decrypts with wechatpy's
enterprise crypto (``wechatpy.enterprise.crypto.WeChatCrypto``; ``wechatpy.work`` in wechatpy 2),
and posts to a live callback URL as WeCom's servers do."""
from __future__ import annotations

import random
import time

import requests
import xmltodict
from wechatpy.enterprise.crypto import WeChatCrypto

from tests.wechat_client import Answer, wechat_signature


class WeComServer:
    def __init__(self, base_url, name, token, corp_id, aes_key):
        self.url = f"{base_url.rstrip('/')}/wechat/callback/{name}/"
        self.token, self.corp_id = token, corp_id
        self.crypto = WeChatCrypto(token, aes_key, corp_id)
        self.session = requests.Session()

    def encrypt(self, text: str, nonce: str, timestamp: str) -> str:
        return xmltodict.parse(self.crypto.encrypt_message(text, nonce, timestamp))["xml"]["Encrypt"]

    def verify_url(self, echo="4075181314397890557", timestamp=None, nonce=None, signature=None):
        timestamp = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or str(random.randint(10**8, 10**9))
        echostr = self.encrypt(echo, nonce, timestamp)
        params = {"msg_signature": signature or wechat_signature(self.token, timestamp, nonce, echostr),
                  "timestamp": timestamp, "nonce": nonce, "echostr": echostr}
        return self.session.get(self.url, params=params, timeout=10)

    def build(self, xml: str, timestamp=None, nonce=None, agent_id=1000002):
        timestamp = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or str(random.randint(10**8, 10**9))
        encrypt = self.encrypt(xml, nonce, timestamp)
        params = {"msg_signature": wechat_signature(self.token, timestamp, nonce, encrypt),
                  "timestamp": timestamp, "nonce": nonce}
        body = (f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt>"
                f"<AgentID><![CDATA[{agent_id}]]></AgentID></xml>")
        return params, body.encode("utf-8")

    def post_raw(self, params, body):
        return self.session.post(self.url, params=params, data=body, headers={"Content-Type": "text/xml"}, timeout=15)

    def send(self, xml: str, **kwargs) -> Answer:
        params, body = self.build(xml, **kwargs)
        return self.read(self.post_raw(params, body))

    def read(self, response) -> Answer:
        text = response.content.decode("utf-8")
        if response.status_code != 200 or text in ("", "success"):
            return Answer(response, None, None, False)
        outer = xmltodict.parse(text)["xml"]
        assert "Encrypt" in outer, f"a WeCom reply must be encrypted: {text!r}"
        xml = self.crypto.decrypt_message(text, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
        return Answer(response, xml, xmltodict.parse(xml)["xml"], True)


def wecom_xml(msg_type="text", *, user="zhangsan", corp_id="ww0123456789abcdef", agent_id=1000002,
              create_time=None, msg_id=None, raw_fields="", **fields) -> str:
    """A WeCom message or event; ``fields`` are element names, ``raw_fields`` nested XML as is."""
    create_time = create_time if create_time is not None else int(time.time())
    parts = [f"<ToUserName><![CDATA[{corp_id}]]></ToUserName>", f"<FromUserName><![CDATA[{user}]]></FromUserName>",
             f"<CreateTime>{create_time}</CreateTime>", f"<MsgType><![CDATA[{msg_type}]]></MsgType>"]
    for name, value in fields.items():
        parts.append(f"<{name}><![CDATA[{value}]]></{name}>")
    parts.append(raw_fields)
    if msg_type != "event":
        parts.append(f"<MsgId>{msg_id or random.randint(10**15, 10**16)}</MsgId>")
    if agent_id is not None:
        parts.append(f"<AgentID>{agent_id}</AgentID>")
    return "<xml>" + "".join(parts) + "</xml>"
