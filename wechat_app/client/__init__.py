"""The WeChat API client (no Django models): HTTP session, errors, endpoint groups.

Usage::

    from wechat_app.client import WeChatClient, WeChatAPIError, WeComClient
    client = WeChatClient(app_id, secret, base_url, token_provider=provider)
    client.message.template.send(openid, template_id, {"first": "Hi"})
"""
from .api import jssdk_signature
from .base import MemoryTokenProvider, TokenProvider, WeChatClient, get_session
from .errors import (
    PERMANENT_ERRORS,
    QUOTA_ERRORS,
    TOKEN_ERRORS,
    TRANSIENT_ERRORS,
    DisallowedBaseURL,
    WeChatAPIError,
    WeChatErrorCode,
    WeChatPayloadError,
    WeChatTransportError,
)
from .messages import custom_message, template_data, template_keywords, template_message
from .wecom import WeComClient, app_message

__all__ = [
    "DisallowedBaseURL", "MemoryTokenProvider", "PERMANENT_ERRORS", "QUOTA_ERRORS", "TOKEN_ERRORS", "TRANSIENT_ERRORS",
    "TokenProvider", "WeChatAPIError", "WeChatClient", "WeChatErrorCode", "WeChatPayloadError",
    "WeChatTransportError", "custom_message", "get_session", "jssdk_signature", "template_data",
    "template_keywords", "template_message", "WeComClient", "app_message",
]
