"""Endpoint groups, each bound to a ``WeChatClient`` (``client.user.info(openid)``).

Each method is one WeChat endpoint; the docstring links its documentation page.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any, Iterator
from urllib.parse import urldefrag

from .errors import WeChatPayloadError
from .messages import custom_message, template_message

DOC = "https://developers.weixin.qq.com/doc/offiaccount/"


class BaseGroup:
    def __init__(self, client):
        self._client = client

    def _get(self, path: str, **params):
        return self._client.request("GET", path, params=params)

    def _post(self, path: str, body: Any, **params):
        return self._client.request("POST", path, params=params, json=body)


class TokenAPI(BaseGroup):
    """Access tokens. ``fetch()`` asks WeChat; the token provider decides when to call it."""

    def fetch(self, force_refresh: bool = False) -> tuple[str, int]:
        """Return ``(access_token, expires_in)`` from stable_token (default) or the classic endpoint."""
        if self._client.use_stable_token:
            return self.fetch_stable(force_refresh)
        return self.fetch_classic()

    def fetch_stable(self, force_refresh: bool = False) -> tuple[str, int]:
        """/cgi-bin/stable_token: shared token, not invalidated by other callers.
        https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/getStableAccessToken.html"""
        body = {"grant_type": "client_credential", "appid": self._client.app_id,
                "secret": self._client.secret, "force_refresh": bool(force_refresh)}
        data = self._client.request("POST", "/cgi-bin/stable_token", json=body, with_token=False)
        return data["access_token"], int(data["expires_in"])

    def fetch_classic(self) -> tuple[str, int]:
        """/cgi-bin/token: a new token each call, which revokes the previous one.
        https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html"""
        params = {"grant_type": "client_credential", "appid": self._client.app_id, "secret": self._client.secret}
        data = self._client.request("GET", "/cgi-bin/token", params=params, with_token=False)
        return data["access_token"], int(data["expires_in"])


class MenuAPI(BaseGroup):
    """Custom menus. """ + DOC + "Custom_Menus/Creating_Custom-Defined_Menu.html"

    def create(self, menu: dict[str, Any]):
        return self._post("/cgi-bin/menu/create", menu)

    def get(self):
        return self._get("/cgi-bin/menu/get")

    def delete(self):
        return self._get("/cgi-bin/menu/delete")

    def get_current(self):
        return self._get("/cgi-bin/get_current_selfmenu_info")

    def add_conditional(self, menu: dict[str, Any]) -> str:
        """Create a conditional (personalized) menu; returns WeChat's ``menuid``."""
        return str(self._post("/cgi-bin/menu/addconditional", menu)["menuid"])

    def delete_conditional(self, menuid: str):
        return self._post("/cgi-bin/menu/delconditional", {"menuid": str(menuid)})

    def try_match(self, user_id: str) -> dict[str, Any]:
        """The menu a follower (openid or WeChat id) sees: ``{"button": [...]}``."""
        answer = self._post("/cgi-bin/menu/trymatch", {"user_id": user_id})
        menu = answer.get("menu", answer)  # documented as {"button": [...]}; some answers nest it
        return {"button": menu.get("button") or []}


class CustomMessageAPI(BaseGroup):
    """Customer-service messages (within 48 h of the user's last interaction).
    https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html"""

    def send(self, openid: str, kind: str, content: dict[str, Any]):
        return self._post("/cgi-bin/message/custom/send", custom_message(openid, kind, content))

    def send_text(self, openid: str, content: str):
        return self.send(openid, "text", {"content": content})

    def send_image(self, openid: str, media_id: str):
        return self.send(openid, "image", {"media_id": media_id})

    def send_voice(self, openid: str, media_id: str):
        return self.send(openid, "voice", {"media_id": media_id})

    def send_video(self, openid: str, media_id: str, thumb_media_id: str, title: str = "", description: str = ""):
        return self.send(openid, "video", {"media_id": media_id, "thumb_media_id": thumb_media_id,
                                           "title": title, "description": description})

    def send_news(self, openid: str, title: str, url: str, description: str = "", picurl: str = ""):
        article = {"title": title, "url": url, "description": description, "picurl": picurl}
        return self.send(openid, "news", {"articles": [article]})

    def send_menu(self, openid: str, items: list[dict[str, str]], head: str = "", tail: str = ""):
        return self.send(openid, "msgmenu", {"head_content": head, "list": items, "tail_content": tail})

    def typing(self, openid: str, on: bool = True):
        """Show (or hide) "typing..." to the user for up to 15 s."""
        return self._post("/cgi-bin/message/custom/typing",
                          {"touser": openid, "command": "Typing" if on else "CancelTyping"})


class TemplateMessageAPI(BaseGroup):
    """Template messages. """ + DOC + "Message_Management/Template_Message_Interface.html"

    def send(self, openid: str, template_id: str, data: dict[str, Any], *, url: str | None = None,
             miniprogram: dict[str, str] | None = None, client_msg_id: str | None = None) -> int:
        """Send; return WeChat's msgid. ``client_msg_id`` makes a resend within 10 min a no-op."""
        body = template_message(openid, template_id, data, url=url, miniprogram=miniprogram,
                                client_msg_id=client_msg_id)
        return int(self._post("/cgi-bin/message/template/send", body)["msgid"])


class MessageAPI:
    def __init__(self, client):
        self.custom = CustomMessageAPI(client)
        self.template = TemplateMessageAPI(client)


class TemplateAPI(BaseGroup):
    """The account's private templates."""

    def get_all_private(self) -> list[dict[str, Any]]:
        return self._get("/cgi-bin/template/get_all_private_template").get("template_list", [])

    def delete(self, template_id: str):
        return self._post("/cgi-bin/template/del_private_template", {"template_id": template_id})


class UserAPI(BaseGroup):
    """Followers. """ + DOC + "User_Management/Getting_a_User_List.html"

    BATCH = 100  # user/info/batchget takes at most 100 openids

    def get(self, next_openid: str = "") -> dict[str, Any]:
        return self._get("/cgi-bin/user/get", next_openid=next_openid)

    def iter_followers(self, next_openid: str = "") -> Iterator[str]:
        """Every follower's openid, paging with ``next_openid`` (stops once ``total`` is reached)."""
        seen = 0
        while True:
            page = self.get(next_openid)
            openids = (page.get("data") or {}).get("openid") or []
            yield from openids
            seen += len(openids)
            next_openid = page.get("next_openid") or ""
            if not openids or not next_openid or seen >= int(page.get("total") or 0):
                return

    def info(self, openid: str, lang: str = "zh_CN") -> dict[str, Any]:
        return self._get("/cgi-bin/user/info", openid=openid, lang=lang)

    def batchget(self, openids: list[str], lang: str = "zh_CN") -> list[dict[str, Any]]:
        """User info for up to 100 openids."""
        if not 1 <= len(openids) <= self.BATCH:
            raise WeChatPayloadError(f"batchget takes 1 to {self.BATCH} openids, not {len(openids)}")
        body = {"user_list": [{"openid": o, "lang": lang} for o in openids]}
        return self._post("/cgi-bin/user/info/batchget", body).get("user_info_list", [])

    def update_remark(self, openid: str, remark: str):
        return self._post("/cgi-bin/user/info/updateremark", {"openid": openid, "remark": remark})


class TagAPI(BaseGroup):
    """User tags. """ + DOC + "User_Management/User_Tag_Management.html"

    def get(self) -> list[dict[str, Any]]:
        return self._get("/cgi-bin/tags/get").get("tags", [])

    def create(self, name: str) -> dict[str, Any]:
        return self._post("/cgi-bin/tags/create", {"tag": {"name": name}})["tag"]

    BATCH = 50  # batchtagging / batchuntagging take at most 50 openids
    BLACKLIST_BATCH = 20  # batchblacklist / batchunblacklist take at most 20

    def update(self, tag_id: int, name: str):
        """Rename a tag (not the system tags 0, 1, 2: 45058)."""
        return self._post("/cgi-bin/tags/update", {"tag": {"id": int(tag_id), "name": name}})

    def delete(self, tag_id: int):
        """Delete a tag. WeChat refuses a tag of more than 100,000 followers (45057): untag them
        first (``untag_users`` in batches), then delete."""
        return self._post("/cgi-bin/tags/delete", {"tag": {"id": int(tag_id)}})

    def _batch(self, path: str, tag_id: int, openids: list[str]):
        if not 1 <= len(openids) <= self.BATCH:
            raise WeChatPayloadError(f"a tagging batch takes 1 to {self.BATCH} openids, not {len(openids)}")
        return self._post(path, {"tagid": int(tag_id), "openid_list": list(openids)})

    def tag_users(self, tag_id: int, openids: list[str]):
        """Tag up to 50 followers (45059: a follower has 20 tags already)."""
        return self._batch("/cgi-bin/tags/members/batchtagging", tag_id, openids)

    def untag_users(self, tag_id: int, openids: list[str]):
        return self._batch("/cgi-bin/tags/members/batchuntagging", tag_id, openids)

    def get_user_tags(self, openid: str) -> list[int]:
        """The tag ids of one follower."""
        return [int(t) for t in self._post("/cgi-bin/tags/getidlist", {"openid": openid}).get("tagid_list") or []]

    def iter_blacklist(self) -> Iterator[str]:
        """Every blacklisted openid (pages of 10,000)."""
        begin = ""
        while True:
            page = self._post("/cgi-bin/tags/members/getblacklist", {"begin_openid": begin})
            openids = (page.get("data") or {}).get("openid") or []
            yield from openids
            begin = page.get("next_openid") or ""
            if not openids or not begin:
                return

    def _blacklist(self, path: str, openids: list[str]):
        if not 1 <= len(openids) <= self.BLACKLIST_BATCH:
            raise WeChatPayloadError(f"a blacklist batch takes 1 to {self.BLACKLIST_BATCH} openids, not {len(openids)}")
        return self._post(path, {"openid_list": list(openids)})

    def blacklist(self, openids: list[str]):
        return self._blacklist("/cgi-bin/tags/members/batchblacklist", openids)

    def unblacklist(self, openids: list[str]):
        return self._blacklist("/cgi-bin/tags/members/batchunblacklist", openids)

    def iter_tag_users(self, tag_id: int) -> Iterator[str]:
        next_openid = ""
        while True:
            page = self._post("/cgi-bin/user/tag/get", {"tagid": tag_id, "next_openid": next_openid})
            openids = (page.get("data") or {}).get("openid") or []
            yield from openids
            next_openid = page.get("next_openid") or ""
            if not openids or not next_openid:
                return


class QRCodeAPI(BaseGroup):
    """Parametric QR codes. """ + DOC + "Account_Management/Generating_a_Parametric_QR_Code.html"

    def create(self, scene: int | str, expire_seconds: int | None = 2592000, permanent: bool = False):
        is_str = isinstance(scene, str)
        action = ("QR_LIMIT_" if permanent else "QR_") + ("STR_SCENE" if is_str else "SCENE")
        body: dict[str, Any] = {"action_name": action,
                                "action_info": {"scene": {"scene_str" if is_str else "scene_id": scene}}}
        if not permanent:
            body["expire_seconds"] = expire_seconds
        return self._post("/cgi-bin/qrcode/create", body)


    def show_url(self, ticket: str) -> str:
        """Where the image of a code is (showqrcode takes no access token). WeChat serves it on
        mp.weixin.qq.com; a client pointed elsewhere (the sandbox) asks its own base URL."""
        from urllib.parse import quote

        from .hosts import WECHAT_API_BASE_URLS

        host = "https://mp.weixin.qq.com" if self._client.base_url in WECHAT_API_BASE_URLS else self._client.base_url
        return f"{host}/cgi-bin/showqrcode?ticket={quote(ticket, safe='')}"

    def fetch_image(self, ticket: str) -> bytes:
        """The code's image (JPEG or PNG bytes) from showqrcode."""
        response = self._client.request("GET", "", params=None, with_token=False, raw=True,
                                        url=self.show_url(ticket))
        if isinstance(response, dict):  # JSON: WeChat refused the ticket without an errcode
            raise WeChatPayloadError("showqrcode answered JSON, not an image")
        return response.content


class ShortURLAPI(BaseGroup):
    """Short keys for long data (genshorten / fetchshorten, replacing long2short).
    https://developers.weixin.qq.com/doc/offiaccount/Account_Management/KEY_Shortener.html"""

    MAX_LONG_DATA = 4096      # bytes
    MAX_EXPIRE = 30 * 86400   # seconds

    def generate(self, long_data: str, expire_seconds: int = 2592000) -> str:
        """Return the ``short_key`` for ``long_data`` (at most 4 KB) kept ``expire_seconds``."""
        if not long_data or len(long_data.encode("utf-8")) > self.MAX_LONG_DATA:
            raise WeChatPayloadError(f"long_data is 1 to {self.MAX_LONG_DATA} bytes")
        if not 1 <= int(expire_seconds) <= self.MAX_EXPIRE:
            raise WeChatPayloadError(f"expire_seconds is 1 to {self.MAX_EXPIRE}")
        body = {"long_data": long_data, "expire_seconds": int(expire_seconds)}
        return str(self._post("/cgi-bin/shorturl/genshorten", body)["short_key"])

    def fetch(self, short_key: str) -> dict[str, Any]:
        """``{"long_data", "create_time", "expire_seconds"}`` of a short key."""
        return self._post("/cgi-bin/shorturl/fetchshorten", {"short_key": short_key})


class OAuthAPI(BaseGroup):
    """Web authorization (网页授权) for H5 pages: the /sns endpoints. They authenticate with the
    app secret or the user's own OAuth access token, never with the account's access token.
    https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html"""

    SCOPES = ("snsapi_base", "snsapi_userinfo")

    def exchange_code(self, code: str) -> dict[str, Any]:
        """``{"access_token", "expires_in", "refresh_token", "openid", "scope", ["unionid"]}``.
        A code is good once, for 5 minutes (40029 invalid, 40163 used, 42003 expired)."""
        params = {"appid": self._client.app_id, "secret": self._client.secret, "code": code,
                  "grant_type": "authorization_code"}
        return self._client.request("GET", "/sns/oauth2/access_token", params=params, with_token=False)

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        params = {"appid": self._client.app_id, "grant_type": "refresh_token", "refresh_token": refresh_token}
        return self._client.request("GET", "/sns/oauth2/refresh_token", params=params, with_token=False)

    def userinfo(self, access_token: str, openid: str, lang: str = "zh_CN") -> dict[str, Any]:
        """The user's profile (snsapi_userinfo only)."""
        params = {"access_token": access_token, "openid": openid, "lang": lang}
        return self._client.request("GET", "/sns/userinfo", params=params, with_token=False)

    def check(self, access_token: str, openid: str) -> bool:
        """Whether an OAuth access token is still valid for ``openid`` (/sns/auth)."""
        from .errors import WeChatAPIError

        try:
            self._client.request("GET", "/sns/auth", params={"access_token": access_token, "openid": openid},
                                 with_token=False)
        except WeChatAPIError:
            return False
        return True


class JSSDKAPI(BaseGroup):
    """JS-SDK tickets. """ + DOC + "OA_Web_Apps/JS-SDK.html"

    def fetch_ticket(self, kind: str = "jsapi") -> tuple[str, int]:
        data = self._get("/cgi-bin/ticket/getticket", type=kind)
        return data["ticket"], int(data["expires_in"])


def jssdk_signature(ticket: str, url: str, noncestr: str | None = None, timestamp: int | None = None) -> dict:
    """The ``wx.config`` signature for a page URL (its fragment removed), with its inputs.

    sha1 of ``jsapi_ticket=..&noncestr=..&timestamp=..&url=..`` (keys in that order).
    https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html#62
    """
    noncestr = noncestr or secrets.token_hex(8)
    timestamp = int(timestamp if timestamp is not None else time.time())
    page = urldefrag(url)[0]
    plain = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={page}"
    return {"nonceStr": noncestr, "timestamp": timestamp, "url": page,
            "signature": hashlib.sha1(plain.encode("utf-8")).hexdigest()}
