"""The WeCom (企业微信) server API client: one app of one corp.

Built on the same ``BaseClient`` as ``WeChatClient`` (shared HTTP session, token provider,
"refresh the token and retry once" on 40001/40014/42001), with WeCom's host and token endpoint:
``GET /cgi-bin/gettoken?corpid=&corpsecret=`` (one token per corp id + secret, i.e. per app).
https://developer.work.weixin.qq.com/document/path/91039

Usage::

    client = WeComClient("ww1234567890abcdef", "app-secret", agent_id=1000002)
    client.message.send("text", {"content": "hi"}, touser="zhangsan|lisi")
    client.media.upload("file", ("report.pdf", data))

Endpoint groups are attributes (``token``, ``message``, ``media``, ``jssdk``); other groups
(contacts, menus, login) bind themselves the same way with ``WeComGroup``.
"""
from __future__ import annotations

from typing import Any

import requests

from .base import BaseClient, TokenProvider
from .errors import WeChatPayloadError
from .material import MediaContent, _content

WECOM_BASE_URL = "https://qyapi.weixin.qq.com"
DOC = "https://developer.work.weixin.qq.com/document/path/"

# What each app message type needs in its body (``{msgtype: {...}}``).
# https://developer.work.weixin.qq.com/document/path/90236
MESSAGE_REQUIRED: dict[str, tuple[str, ...]] = {
    "text": ("content",),
    "image": ("media_id",),
    "voice": ("media_id",),
    "video": ("media_id",),
    "file": ("media_id",),
    "textcard": ("title", "description", "url"),
    "news": ("articles",),
    "mpnews": ("articles",),
    "markdown": ("content",),
}
MESSAGE_TYPES = tuple(MESSAGE_REQUIRED)
# Types that may be sent with safe=1 (confidential: no forwarding, watermark).
SAFE_TYPES = ("text", "image", "voice", "video", "file", "textcard", "mpnews")
ARTICLE_REQUIRED = {"news": ("title", "url"), "mpnews": ("title", "thumb_media_id", "content")}
MAX_ARTICLES = 8
MAX_RECIPIENTS = {"touser": 1000, "toparty": 100, "totag": 100}
TEXT_MAX_BYTES = 2048
MARKDOWN_MAX_BYTES = 2048
MEDIA_KINDS = ("image", "voice", "video", "file")


def _recipients(value, field: str) -> str:
    """``"a|b"`` from a string or a list of ids; at most WeCom's count per field."""
    if value is None or value == "":
        return ""
    if isinstance(value, (list, tuple, set)):
        items = [str(v).strip() for v in value]
    elif isinstance(value, (str, int)) and not isinstance(value, bool):
        items = [v.strip() for v in str(value).split("|")]
    else:
        raise WeChatPayloadError(f"{field}: ids as a list or an 'a|b' string")
    items = [v for v in items if v]
    if "@all" in items and (field != "touser" or len(items) > 1):
        raise WeChatPayloadError("@all is touser's value alone")
    if len(items) > MAX_RECIPIENTS[field]:
        raise WeChatPayloadError(f"{field}: at most {MAX_RECIPIENTS[field]} ids")
    return "|".join(items)


def app_message(agent_id: int, msgtype: str, content: dict[str, Any], *, touser=None, toparty=None,
                totag=None, safe: bool = False, enable_duplicate_check: bool = False,
                duplicate_check_interval: int | None = None, enable_id_trans: bool = False) -> dict[str, Any]:
    """The body of ``/cgi-bin/message/send``, checked; raises ``WeChatPayloadError`` naming
    what is wrong (an unknown type, a missing field, no recipient, too many articles...)."""
    if msgtype not in MESSAGE_REQUIRED:
        raise WeChatPayloadError(f"unknown WeCom message type {msgtype!r} (one of {', '.join(MESSAGE_TYPES)})")
    if not isinstance(content, dict):
        raise WeChatPayloadError(f"{msgtype}: the content is an object")
    missing = [k for k in MESSAGE_REQUIRED[msgtype] if not content.get(k)]
    if missing:
        raise WeChatPayloadError(f"{msgtype}: {', '.join(missing)} required")
    if msgtype in ("text", "markdown"):
        if not isinstance(content["content"], str):
            raise WeChatPayloadError(f"{msgtype}: content is text")
        if len(content["content"].encode("utf-8")) > TEXT_MAX_BYTES:
            raise WeChatPayloadError(f"{msgtype}: at most {TEXT_MAX_BYTES} bytes of content")
    if msgtype in ("news", "mpnews"):
        articles = content["articles"]
        if not isinstance(articles, list) or not 1 <= len(articles) <= MAX_ARTICLES:
            raise WeChatPayloadError(f"{msgtype}: 1 to {MAX_ARTICLES} articles")
        for index, article in enumerate(articles, 1):
            if not isinstance(article, dict):
                raise WeChatPayloadError(f"{msgtype}: article {index} is an object")
            lacking = [k for k in ARTICLE_REQUIRED[msgtype] if not article.get(k)]
            if lacking:
                raise WeChatPayloadError(f"{msgtype}: article {index} needs {', '.join(lacking)}")
    if safe and msgtype not in SAFE_TYPES:
        raise WeChatPayloadError(f"{msgtype} messages cannot be sent as safe (confidential)")
    targets = {"touser": _recipients(touser, "touser"), "toparty": _recipients(toparty, "toparty"),
               "totag": _recipients(totag, "totag")}
    if not any(targets.values()):
        raise WeChatPayloadError("no recipient: give touser, toparty or totag")
    if agent_id is None:
        raise WeChatPayloadError("no agent id")
    body: dict[str, Any] = {k: v for k, v in targets.items() if v}
    body.update(msgtype=msgtype, agentid=int(agent_id), **{msgtype: content})
    if safe:
        body["safe"] = 1
    if enable_id_trans:
        body["enable_id_trans"] = 1
    if enable_duplicate_check:
        body["enable_duplicate_check"] = 1
        if duplicate_check_interval is not None:
            body["duplicate_check_interval"] = int(duplicate_check_interval)
    return body


class WeComGroup:
    """An endpoint group bound to a ``WeComClient``."""

    def __init__(self, client: WeComClient):
        self._client = client

    def _get(self, path: str, **params):
        return self._client.request("GET", path, params=params)

    def _post(self, path: str, body: Any, **params):
        return self._client.request("POST", path, params=params, json=body)


class WeComTokenAPI(WeComGroup):
    """The app's access token. """ + DOC + "91039"

    def fetch(self, force_refresh: bool = False) -> tuple[str, int]:
        """``(access_token, expires_in)``; WeCom hands out the current token until it expires
        (``force_refresh`` has no WeCom equivalent and is ignored)."""
        params = {"corpid": self._client.corp_id, "corpsecret": self._client.secret}
        data = self._client.request("GET", "/cgi-bin/gettoken", params=params, with_token=False)
        return data["access_token"], int(data["expires_in"])


class WeComMessageAPI(WeComGroup):
    """App messages (应用消息). """ + DOC + "90236"

    def send(self, msgtype: str, content: dict[str, Any], *, touser=None, toparty=None, totag=None,
             safe: bool = False, agent_id: int | None = None, **options) -> dict[str, Any]:
        """Send and return WeCom's answer: ``msgid`` and the ``invaliduser`` / ``invalidparty`` /
        ``invalidtag`` it could not reach ("a|b" strings, empty when all were reached)."""
        body = app_message(self._client.agent_id if agent_id is None else agent_id, msgtype, content,
                           touser=touser, toparty=toparty, totag=totag, safe=safe, **options)
        return self.send_body(body)

    def send_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send a body built by ``app_message`` (what the outbound queue stores)."""
        return self._post("/cgi-bin/message/send", body)

    def send_text(self, content: str, **targets) -> dict[str, Any]:
        return self.send("text", {"content": content}, **targets)

    def send_markdown(self, content: str, **targets) -> dict[str, Any]:
        return self.send("markdown", {"content": content}, **targets)

    def recall(self, msgid: str) -> dict[str, Any]:
        """Recall a message sent in the last 24 hours. """ + DOC + "94867"
        return self._post("/cgi-bin/message/recall", {"msgid": msgid})


class WeComMediaAPI(WeComGroup):
    """Temporary media (three days). """ + DOC + "90253"

    def upload(self, kind: str, file) -> dict[str, Any]:
        """Upload ``file`` (a file object or ``(filename, bytes)``); ``{"type", "media_id", "created_at"}``."""
        if kind not in MEDIA_KINDS:
            raise WeChatPayloadError(f"WeCom media kind is one of {', '.join(MEDIA_KINDS)}")
        return self._client.request("POST", "/cgi-bin/media/upload", params={"type": kind}, files={"media": file})

    def get(self, media_id: str) -> MediaContent | dict[str, Any]:
        """The bytes of temporary media (what members send too). """ + DOC + "90254"
        return _content(self._client.request("GET", "/cgi-bin/media/get", params={"media_id": media_id}, raw=True))


class WeComJSSDKAPI(WeComGroup):
    """JS-SDK tickets of the corp (``jsapi``) and of the app (``agent_config``). """ + DOC + "90506"

    def fetch_ticket(self, kind: str = "jsapi") -> tuple[str, int]:
        if kind == "agent_config":
            data = self._get("/cgi-bin/ticket/get", type="agent_config")
        else:
            data = self._get("/cgi-bin/get_jsapi_ticket")
        return data["ticket"], int(data["expires_in"])


class WeComClient(BaseClient):
    """Calls the WeCom server API as one app: ``corp_id`` (also ``app_id``), the app's
    ``secret`` and its ``agent_id`` (the default of app messages and menus)."""

    default_base_url = WECOM_BASE_URL
    # The callback and the tokens' cache treat both kinds alike; this tells them apart.
    kind = "wecom"

    def __init__(self, corp_id: str, secret: str, base_url: str | None = None, *, agent_id: int | None = None,
                 token_provider: TokenProvider | None = None, timeout=None,
                 session: requests.Session | None = None, use_stable_token: bool = False):
        # ``use_stable_token`` is accepted (and ignored) so that callers can build either client alike.
        super().__init__(corp_id, secret, base_url, token_provider=token_provider, timeout=timeout, session=session)
        self.agent_id = agent_id
        self.token = WeComTokenAPI(self)
        self.message = WeComMessageAPI(self)
        self.media = WeComMediaAPI(self)
        self.jssdk = WeComJSSDKAPI(self)
        from .wecom_agent import AgentMenuAPI, WeComOAuthAPI
        from .wecom_contacts import ContactsAPI

        self.contacts = ContactsAPI(self)  # departments, members, tags (client/wecom_contacts.py)
        self.menu = AgentMenuAPI(self)
        self.oauth = WeComOAuthAPI(self)

    @property
    def corp_id(self) -> str:
        return self.app_id

    def __repr__(self):
        return f"<WeComClient corp_id={self.corp_id!r} agent_id={self.agent_id!r} base_url={self.base_url!r}>"
