"""The WeChat callback protocol in pure Python: signatures, AES crypto, XML in and out.

Nothing in this package imports Django; it can be used (and is tested) on its own.
"""
from .crypto import MessageCrypto, validate_aes_key
from .errors import (
    AppIdMismatchError,
    DecryptError,
    ExpiredTimestampError,
    ForbiddenXMLError,
    InvalidAESKeyError,
    InvalidSignatureError,
    MalformedMessageError,
    ProtocolError,
)
from .messages import SYSTEM_EVENTS, Message, is_system_event, parse_message, parse_xml
from .replies import (
    Article,
    ImageReply,
    MusicReply,
    NewsReply,
    Reply,
    TextReply,
    TransferCustomerServiceReply,
    VideoReply,
    VoiceReply,
    render_reply,
    reply_from_dict,
)
from .signature import check_signature, check_timestamp, make_signature
from .wecom import CONTACT_CHANGE_TYPES, WeComCrypto, parse_wecom_message

__all__ = [
    "AppIdMismatchError", "Article", "DecryptError", "ExpiredTimestampError", "ForbiddenXMLError",
    "ImageReply", "InvalidAESKeyError", "InvalidSignatureError", "MalformedMessageError",
    "Message", "MessageCrypto", "MusicReply", "NewsReply", "ProtocolError", "Reply", "SYSTEM_EVENTS",
    "TextReply", "TransferCustomerServiceReply", "VideoReply", "VoiceReply", "check_signature", "check_timestamp",
    "is_system_event",
    "make_signature", "parse_message", "parse_xml", "render_reply", "reply_from_dict",
    "validate_aes_key", "CONTACT_CHANGE_TYPES", "WeComCrypto", "parse_wecom_message",
]
