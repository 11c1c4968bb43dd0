"""Build and validate outbound message payloads (customer-service and template). Pure Python.

Shared by the client (which sends them) and the Django side (which validates before queueing).
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html
"""
from __future__ import annotations

import re
from typing import Any

from .errors import WeChatPayloadError

# Customer-service message kinds: the fields each needs (required, optional).
CUSTOM_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "text": (("content",), ()),
    "image": (("media_id",), ()),
    "voice": (("media_id",), ()),
    "video": (("media_id",), ("thumb_media_id", "title", "description")),
    "music": (("musicurl", "hqmusicurl", "thumb_media_id"), ("title", "description")),
    "news": (("articles",), ()),
    "mpnews": (("media_id",), ()),
    "mpnewsarticle": (("article_id",), ()),
    "msgmenu": (("list",), ("head_content", "tail_content")),
    "wxcard": (("card_id",), ()),
    "miniprogrampage": (("title", "appid", "pagepath", "thumb_media_id"), ()),
}
MAX_TEXT_BYTES = 2048
TEMPLATE_KEYWORD_RE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\.DATA\s*\}\}")
COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")


def custom_message(openid: str, kind: str, content: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of /cgi-bin/message/custom/send, or ``WeChatPayloadError`` with the reason."""
    if not openid or not isinstance(openid, str):
        raise WeChatPayloadError("a recipient openid is required")
    if kind not in CUSTOM_KINDS:
        raise WeChatPayloadError(f"unknown customer-service message kind {kind!r}; "
                                 f"one of {', '.join(sorted(CUSTOM_KINDS))}")
    if not isinstance(content, dict):
        raise WeChatPayloadError(f"{kind}: content must be an object")
    # ``kf_account`` names the customer-service account the message is sent as (customservice).
    content = dict(content)
    kf_account = content.pop("kf_account", None)
    if kf_account is not None and (not isinstance(kf_account, str) or "@" not in kf_account
                                   or len(kf_account) > 64):
        raise WeChatPayloadError("kf_account is prefix@WeChat id (at most 64 characters)")
    required, optional = CUSTOM_KINDS[kind]
    missing = [name for name in required if not content.get(name)]
    if missing:
        raise WeChatPayloadError(f"{kind} message needs {', '.join(missing)}")
    unknown = set(content) - set(required) - set(optional)
    if unknown:
        raise WeChatPayloadError(f"{kind} message has unknown field(s): {', '.join(sorted(unknown))}")
    if kind == "text" and len(str(content["content"]).encode("utf-8")) > MAX_TEXT_BYTES:
        raise WeChatPayloadError(f"text is longer than {MAX_TEXT_BYTES} bytes")
    if kind == "news":
        articles = content["articles"]
        if not isinstance(articles, list) or len(articles) != 1:
            raise WeChatPayloadError("news messages carry exactly one article")
        if not isinstance(articles[0], dict) or not articles[0].get("title") or not articles[0].get("url"):
            raise WeChatPayloadError("a news article needs a title and a url")
    if kind == "msgmenu":
        items = content["list"]
        if not isinstance(items, list) or not all(isinstance(i, dict) and i.get("id") and i.get("content")
                                                  for i in items):
            raise WeChatPayloadError("msgmenu list items need an id and a content")
    body = {"touser": openid, "msgtype": kind, kind: dict(content)}
    if kf_account:
        body["customservice"] = {"kf_account": kf_account}
    return body


def template_keywords(content: str) -> list[str]:
    """The keyword names of a template's content (``{{first.DATA}}`` -> ``first``), in order."""
    seen: list[str] = []
    for name in TEMPLATE_KEYWORD_RE.findall(content or ""):
        if name not in seen:
            seen.append(name)
    return seen


def template_data(data: dict[str, Any], keywords: list[str] | None = None) -> dict[str, dict[str, str]]:
    """Normalize template data to ``{name: {"value": str, "color"?: "#RRGGBB"}}``.

    Each value is a string or ``{"value": ..., "color": ...}``. With ``keywords`` (the template's
    placeholders), unknown names and missing ones are refused.
    """
    if not isinstance(data, dict) or not data:
        raise WeChatPayloadError("template data must be a non-empty object")
    result = {}
    for name, item in data.items():
        if isinstance(item, dict):
            if "value" not in item or set(item) - {"value", "color"}:
                raise WeChatPayloadError(f"template data {name!r} must be {{'value': ..., 'color': ...}}")
            value, color = item["value"], item.get("color")
        else:
            value, color = item, None
        if value is None or isinstance(value, (dict, list)):
            raise WeChatPayloadError(f"template data {name!r} must be text")
        entry = {"value": str(value)}
        if color:
            if not COLOR_RE.match(str(color)):
                raise WeChatPayloadError(f"template data {name!r}: color must look like #173177")
            entry["color"] = str(color)
        result[str(name)] = entry
    if keywords is not None:
        unknown = sorted(set(result) - set(keywords))
        missing = [k for k in keywords if k not in result]
        if unknown:
            raise WeChatPayloadError(f"unknown template keyword(s): {', '.join(unknown)} "
                                     f"(the template has {', '.join(keywords) or 'none'})")
        if missing:
            raise WeChatPayloadError(f"missing template keyword(s): {', '.join(missing)}")
    return result


def template_message(openid: str, template_id: str, data: dict[str, Any], *, url: str | None = None,
                     miniprogram: dict[str, str] | None = None, client_msg_id: str | None = None,
                     keywords: list[str] | None = None) -> dict[str, Any]:
    """The JSON body of /cgi-bin/message/template/send."""
    if not openid:
        raise WeChatPayloadError("a recipient openid is required")
    if not template_id:
        raise WeChatPayloadError("a template_id is required")
    body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": template_data(data, keywords)}
    if url:
        if not str(url).startswith(("http://", "https://")):
            raise WeChatPayloadError("url must be http(s)")
        body["url"] = url
    if miniprogram:
        if not isinstance(miniprogram, dict) or not miniprogram.get("appid"):
            raise WeChatPayloadError("miniprogram needs an appid (and optionally a pagepath)")
        body["miniprogram"] = {k: v for k, v in miniprogram.items() if k in ("appid", "pagepath")}
    if client_msg_id:
        body["client_msg_id"] = str(client_msg_id)[:64]
    return body
