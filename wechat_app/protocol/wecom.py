"""WeCom (企业微信) callbacks: the same AES scheme with the corp id as receive id, the URL check,
and WeCom's events, in pure Python.

WeCom always encrypts. The URL check is a GET with ``msg_signature``, ``timestamp``, ``nonce``
and ``echostr``: the signature covers token, timestamp, nonce and echostr, and the answer is
echostr DECRYPTED. Deliveries are POSTs whose body is ``<xml><ToUserName/><AgentID/><Encrypt/></xml>``
signed like the Official Account's safe mode (``msg_signature`` over the Encrypt text), with no
``encrypt_type`` parameter. Passive replies are always encrypted, in the same envelope.
https://developer.work.weixin.qq.com/document/path/90968
https://developer.work.weixin.qq.com/document/path/90930

Usage::

    crypto = WeComCrypto(token, encoding_aes_key, corp_id)
    echo = crypto.verify_url(msg_signature, timestamp, nonce, echostr)   # the plaintext to answer
    message = parse_wecom_message(crypto.decrypt_message(encrypt, msg_signature, timestamp, nonce))
"""
from __future__ import annotations

import hashlib

from .crypto import MessageCrypto
from .messages import Message, _int, _str, event_type, parse_message
from .signature import check_signature

# The ChangeType values of change_contact events (通讯录变更事件).
# https://developer.work.weixin.qq.com/document/path/90970
CONTACT_CHANGE_TYPES = ("create_user", "update_user", "delete_user", "create_party", "update_party",
                        "delete_party", "update_tag")

# change_contact field -> Message.param key (those present are copied, as text).
_USER_FIELDS = {"UserID": "user_id", "NewUserID": "new_user_id", "Name": "name", "Department": "department",
                "MainDepartment": "main_department", "IsLeaderInDept": "is_leader_in_dept",
                "Position": "position", "Mobile": "mobile", "Gender": "gender", "Email": "email",
                "BizMail": "biz_mail", "Status": "status", "Avatar": "avatar", "Alias": "alias",
                "Telephone": "telephone", "Address": "address", "OpenUserID": "open_user_id"}
_PARTY_FIELDS = {"Id": "party_id", "Name": "name", "ParentId": "parent_id", "Order": "order"}
_TAG_FIELDS = {"TagId": "tag_id", "AddUserItems": "add_user_items", "DelUserItems": "del_user_items",
               "AddPartyItems": "add_party_items", "DelPartyItems": "del_party_items"}


class WeComCrypto(MessageCrypto):
    """The callback crypto of one WeCom app: token, EncodingAESKey and the corp id (receive id)."""

    def __init__(self, token: str, encoding_aes_key: str, corp_id: str):
        super().__init__(token, encoding_aes_key, corp_id)

    @property
    def corp_id(self) -> str:
        return self.app_id

    def __repr__(self):
        return f"<WeComCrypto corp_id={self.app_id!r}>"

    def verify_url(self, msg_signature: str | None, timestamp: str, nonce: str, echostr: str) -> str:
        """The URL check: verify the signature over echostr, return echostr decrypted (the answer).

        Raises ``InvalidSignatureError``, ``DecryptError`` or ``AppIdMismatchError`` (another corp).
        """
        check_signature(msg_signature, self.token, timestamp, nonce, echostr or "")
        return self.decrypt(echostr or "")


def parse_wecom_message(xml: bytes | str) -> Message:
    """A decrypted WeCom message or event as a ``Message``; ``param['agent_id']`` is its AgentID
    (None in events that name no app, such as change_contact)."""
    message = parse_message(xml)
    message.param["agent_id"] = _int(message.raw.get("AgentID"))
    return message


# --- WeCom's events (registered with the common parser; their names do not clash with WeChat's) ---
@event_type("enter_agent")
def _enter_agent(raw, msg):
    pass  # a member opened the app: Event and EventKey (empty) say it all


@event_type("change_contact")
def _change_contact(raw, msg):
    change_type = _str(raw, "ChangeType")
    msg.param["change_type"] = change_type
    fields = _USER_FIELDS if change_type.endswith("_user") else _PARTY_FIELDS if change_type.endswith("_party") \
        else _TAG_FIELDS if change_type == "update_tag" else {}
    for name, key in fields.items():
        if isinstance(raw.get(name), str):
            msg.param[key] = raw[name]
    subject = msg.param.get("user_id") or msg.param.get("party_id") or msg.param.get("tag_id") or ""
    # Several changes arrive from "sys" in one second, some of one subject (two edits of a member):
    # the change, its subject and a digest of all its fields tell them apart (a retry has the same).
    digest = hashlib.sha1(repr(sorted((k, str(v)) for k, v in raw.items())).encode("utf-8")).hexdigest()[:16]
    msg.param["identity"] = f"{change_type}:{subject}:{digest}"


@event_type("batch_job_result")
def _batch_job_result(raw, msg):
    job = raw.get("BatchJob") if isinstance(raw.get("BatchJob"), dict) else {}
    msg.param.update(job_id=_str(job, "JobId"), job_type=_str(job, "JobType"),
                     errcode=_int(job.get("ErrCode")), errmsg=_str(job, "ErrMsg"))
    msg.param["identity"] = msg.param["job_id"]
