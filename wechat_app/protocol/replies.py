"""Passive replies: typed ``Reply`` objects, their dict form and their XML.

A reply type is a dataclass registered under its ``type`` name; ``reply_from_dict`` builds one
from the typed mapping used by rule files and the database, validating it, and ``render_reply``
turns it into the XML WeChat expects.
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Passive_user_reply_message.html

Usage::

    reply = reply_from_dict({"type": "text", "content": "Hi"})
    xml = render_reply(reply, to_user=message.uid, from_user=message.sp)
"""
from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

MAX_ARTICLES = 8
MAX_TEXT_BYTES = 2048  # WeChat truncates or refuses longer text replies

# Characters XML 1.0 cannot carry at all, even in CDATA; lone surrogates (possible in text
# loaded from JSON escapes) cannot even be encoded as UTF-8.
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

REPLY_TYPES: dict[str, type[Reply]] = {}


def cdata(value: Any) -> str:
    """Wrap text in CDATA; a ``]]>`` inside is split across two sections so that it survives."""
    text = _INVALID_XML_CHARS.sub("", "" if value is None else str(value))
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def register_reply(cls):
    REPLY_TYPES[cls.type] = cls
    return cls


class ReplyError(ValueError):
    """A reply definition that WeChat would not accept (missing field, too many articles...)."""


@dataclass
class Reply:
    """Base of reply types. Subclasses set ``type`` and ``msg_type`` and fill ``body_xml``."""

    type: ClassVar[str] = ""
    msg_type: ClassVar[str] = ""
    required: ClassVar[tuple[str, ...]] = ()

    def validate(self) -> None:
        for name in self.required:
            if not getattr(self, name):
                raise ReplyError(f"{self.type} reply needs {name!r}")

    def warnings(self) -> list[str]:
        """What WeChat expects and this valid reply lacks (shown on import and in the admin)."""
        return []

    def body_xml(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        data = {"type": self.type}
        data.update({k: v for k, v in asdict(self).items() if v not in (None, "")})
        return data


@register_reply
@dataclass
class TextReply(Reply):
    content: str = ""
    type: ClassVar[str] = "text"
    msg_type: ClassVar[str] = "text"
    required: ClassVar[tuple[str, ...]] = ("content",)

    def validate(self):
        super().validate()
        try:
            size = len(self.content.encode("utf-8"))
        except UnicodeEncodeError as err:  # a lone surrogate, e.g. from a JSON "\ud83d" escape
            raise ReplyError("text reply contains characters that are not valid Unicode text") from err
        if size > MAX_TEXT_BYTES:
            raise ReplyError(f"text reply is longer than {MAX_TEXT_BYTES} bytes")

    def body_xml(self):
        return f"<Content>{cdata(self.content)}</Content>"


@register_reply
@dataclass
class ImageReply(Reply):
    media_id: str = ""
    type: ClassVar[str] = "image"
    msg_type: ClassVar[str] = "image"
    required: ClassVar[tuple[str, ...]] = ("media_id",)

    def body_xml(self):
        return f"<Image><MediaId>{cdata(self.media_id)}</MediaId></Image>"


@register_reply
@dataclass
class VoiceReply(Reply):
    media_id: str = ""
    type: ClassVar[str] = "voice"
    msg_type: ClassVar[str] = "voice"
    required: ClassVar[tuple[str, ...]] = ("media_id",)

    def body_xml(self):
        return f"<Voice><MediaId>{cdata(self.media_id)}</MediaId></Voice>"


@register_reply
@dataclass
class VideoReply(Reply):
    media_id: str = ""
    title: str = ""
    description: str = ""
    type: ClassVar[str] = "video"
    msg_type: ClassVar[str] = "video"
    required: ClassVar[tuple[str, ...]] = ("media_id",)

    def body_xml(self):
        return (
            f"<Video><MediaId>{cdata(self.media_id)}</MediaId><Title>{cdata(self.title)}</Title>"
            f"<Description>{cdata(self.description)}</Description></Video>"
        )


@register_reply
@dataclass
class MusicReply(Reply):
    title: str = ""
    description: str = ""
    music_url: str = ""
    hq_music_url: str = ""
    thumb_media_id: str = ""
    type: ClassVar[str] = "music"
    msg_type: ClassVar[str] = "music"

    def warnings(self):
        # WeChat documents ThumbMediaId as required; webot's own music examples leave it out,
        # so its absence is a warning, not a refusal.
        if not self.thumb_media_id:
            return ["music reply has no thumb_media_id: WeChat expects the media id of a cover image "
                    "(ThumbMediaId) and may not show the music without it"]
        return []

    def body_xml(self):
        return (
            f"<Music><Title>{cdata(self.title)}</Title><Description>{cdata(self.description)}</Description>"
            f"<MusicUrl>{cdata(self.music_url)}</MusicUrl><HQMusicUrl>{cdata(self.hq_music_url)}</HQMusicUrl>"
            f"<ThumbMediaId>{cdata(self.thumb_media_id)}</ThumbMediaId></Music>"
        )


@dataclass
class Article:
    title: str = ""
    description: str = ""
    url: str = ""
    pic_url: str = ""

    def to_xml(self):
        return (
            f"<item><Title>{cdata(self.title)}</Title><Description>{cdata(self.description)}</Description>"
            f"<PicUrl>{cdata(self.pic_url)}</PicUrl><Url>{cdata(self.url)}</Url></item>"
        )


@register_reply
@dataclass
class NewsReply(Reply):
    articles: list[Article] = field(default_factory=list)
    type: ClassVar[str] = "news"
    msg_type: ClassVar[str] = "news"

    def validate(self):
        if not 1 <= len(self.articles) <= MAX_ARTICLES:
            raise ReplyError(f"news reply needs 1 to {MAX_ARTICLES} articles, got {len(self.articles)}")
        for number, article in enumerate(self.articles, 1):
            if not article.title:
                raise ReplyError(f"news article {number} needs a title")

    def body_xml(self):
        items = "".join(a.to_xml() for a in self.articles)
        return f"<ArticleCount>{len(self.articles)}</ArticleCount><Articles>{items}</Articles>"

    def to_dict(self):
        return {"type": self.type, "articles": [{k: v for k, v in asdict(a).items() if v} for a in self.articles]}


@register_reply
@dataclass
class TransferCustomerServiceReply(Reply):
    """Hand the conversation to a human customer-service agent (optionally a given one)."""

    kf_account: str = ""
    type: ClassVar[str] = "transfer_customer_service"
    msg_type: ClassVar[str] = "transfer_customer_service"

    def body_xml(self):
        if self.kf_account:
            return f"<TransInfo><KfAccount>{cdata(self.kf_account)}</KfAccount></TransInfo>"
        return ""


@register_reply
@dataclass
class AgentReply(Reply):
    """Hand the conversation to the account's agent (the agent gateway): nothing is answered
    passively; the message becomes an agent event and the agent replies asynchronously."""

    type: ClassVar[str] = "agent"
    msg_type: ClassVar[str] = "agent"

    def body_xml(self):  # never rendered: the callback answers "success" and hands the message over
        return ""


ARTICLE_FIELDS = frozenset({"title", "description", "url", "pic_url"})
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])([A-Z])")
# webot's music shorthands: {type: music, url, hqUrl}.
_MUSIC_ALIASES = {"url": "music_url", "hq_url": "hq_music_url"}


def field_name(key: Any) -> Any:
    """webot / wechat-mp's camelCase field names in ours (``picUrl`` -> ``pic_url``)."""
    return _CAMEL_HUMP.sub(r"_\1", key).lower() if isinstance(key, str) else key


def is_article(value: Any) -> bool:
    """webot's reply shorthand: a mapping without ``type`` (nor ``content``) is a news article."""
    return isinstance(value, dict) and bool(value) and "type" not in value and "content" not in value


def is_article_list(value: Any) -> bool:
    """webot's multi-article news shorthand: a list of such mappings."""
    return isinstance(value, (list, tuple)) and bool(value) and all(is_article(item) for item in value)


def _normalized(data: dict, reply_type: str, what: str) -> dict:
    out = {}
    for key, value in data.items():
        name = field_name(key)
        if reply_type == "music":
            name = _MUSIC_ALIASES.get(name, name)
        if name in out:
            raise ReplyError(f"{what} gives {name!r} twice (as {key!r} too)")
        out[name] = value
    return out


def reply_from_dict(data: Any) -> Reply:
    """Build and validate a reply from its typed mapping (a bare string is a text reply).

    webot's shorthands are accepted and normalized: a mapping without ``type`` is a one-article
    news reply, a list of such mappings a multi-article one; camelCase fields (``picUrl``,
    ``musicUrl``, ``hqMusicUrl``, ``thumbMediaId``…) and music's ``url`` / ``hqUrl`` get
    their snake_case names.
    """
    if isinstance(data, Reply):
        data.validate()
        return data
    if isinstance(data, str):
        data = {"type": "text", "content": data}
    elif is_article_list(data):
        data = {"type": "news", "articles": list(data)}
    elif is_article(data):
        data = {"type": "news", "articles": [data]}
    if not isinstance(data, dict):
        raise ReplyError(f"a reply must be a string or a mapping, not {type(data).__name__}")
    reply_type = data.get("type", "text")
    data = _normalized(data, reply_type, f"{reply_type} reply")
    data.pop("type", None)
    cls = REPLY_TYPES.get(reply_type)
    if cls is None:
        raise ReplyError(f"unknown reply type {reply_type!r}; known: {', '.join(sorted(REPLY_TYPES))}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ReplyError(f"{reply_type} reply has unknown field(s): {', '.join(unknown)}")
    if cls is NewsReply:
        articles = data.get("articles") or []
        if not isinstance(articles, list):
            raise ReplyError("news articles must be a list")
        built = []
        article_fields = {f.name for f in fields(Article)}
        for number, item in enumerate(articles, 1):
            if not isinstance(item, dict):
                raise ReplyError(f"news article {number} must be a mapping")
            item = _normalized(item, "article", f"news article {number}")
            extra = sorted(set(item) - article_fields)
            if extra:
                raise ReplyError(f"news article {number} has unknown field(s): {', '.join(extra)}")
            built.append(Article(**{k: str(v) for k, v in item.items()}))
        reply = NewsReply(articles=built)
    else:
        for name, value in data.items():
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ReplyError(f"{reply_type} reply field {name!r} must be text")
        reply = cls(**{k: str(v) for k, v in data.items()})
    reply.validate()
    return reply


def render_reply(reply: Reply, to_user: str, from_user: str, create_time: int | None = None) -> str:
    """The plaintext XML of a passive reply (encrypt it afterwards in safe/compatible mode)."""
    create_time = int(create_time if create_time is not None else time.time())
    return (
        f"<xml><ToUserName>{cdata(to_user)}</ToUserName><FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType>{cdata(reply.msg_type)}</MsgType>"
        f"{reply.body_xml()}</xml>"
    )
