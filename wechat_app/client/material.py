"""Temporary media and the permanent material library, bound to a ``WeChatClient``.

``client.media.upload("image", ("a.png", data))``, ``client.media.get(media_id)``;
``client.material.add("image", ("a.png", data))``, ``client.material.iter_items("image")``...
Binary answers come back as ``MediaContent`` (bytes + content type); errors as ``WeChatAPIError``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator

from .errors import WeChatPayloadError

DOC = "https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/"
UPLOAD_KINDS = ("image", "voice", "video", "thumb")
LIST_KINDS = ("image", "voice", "video", "news")


@dataclass
class MediaContent:
    """Bytes of a media file, as WeChat answered them."""

    data: bytes
    content_type: str
    filename: str = ""


def _content(response) -> MediaContent | dict[str, Any]:
    if isinstance(response, dict):  # a JSON answer: a video's link (video_url / down_url) or news
        return response
    disposition = response.headers.get("Content-Disposition", "")
    filename = disposition.split("filename=", 1)[1].strip('"; ') if "filename=" in disposition else ""
    content_type = response.headers.get("Content-Type", "application/octet-stream").split(";")[0].strip()
    return MediaContent(response.content, content_type, filename)


class _Group:
    def __init__(self, client):
        self._client = client


class MediaAPI(_Group):
    """Temporary media (three days). """ + DOC + "New_temporary_materials.html"

    def upload(self, kind: str, file) -> dict[str, Any]:
        """Upload ``file`` (a file object or ``(filename, bytes)``); ``{"type", "media_id", "created_at"}``."""
        if kind not in UPLOAD_KINDS:
            raise WeChatPayloadError("media kind is image, voice, video or thumb")
        return self._client.request("POST", "/cgi-bin/media/upload", params={"type": kind}, files={"media": file})

    def get(self, media_id: str) -> MediaContent | dict[str, Any]:
        """The bytes of temporary media (what users send too); a video answers ``{"video_url"}``."""
        return _content(self._client.request("GET", "/cgi-bin/media/get", params={"media_id": media_id}, raw=True))


class MaterialAPI(_Group):
    """Permanent material. """ + DOC + "Adding_Permanent_Assets.html"

    def add(self, kind: str, file, *, title: str = "", introduction: str = "") -> dict[str, Any]:
        """Add image, voice, video (``title`` required) or thumb material; ``{"media_id", "url"?}``."""
        if kind not in UPLOAD_KINDS:
            raise WeChatPayloadError("material kind is image, voice, video or thumb")
        data = None
        if kind == "video":
            if not title:
                raise WeChatPayloadError("a video needs a title")
            data = {"description": json.dumps({"title": title, "introduction": introduction}, ensure_ascii=False)}
        return self._client.request("POST", "/cgi-bin/material/add_material", params={"type": kind},
                                    data=data, files={"media": file})

    def get(self, media_id: str) -> MediaContent | dict[str, Any]:
        """Image/voice/thumb bytes; a video answers ``{"title", "description", "down_url"}``, news
        ``{"news_item": [...]}``. """ + DOC + "Getting_Permanent_Assets.html"
        return _content(self._client.request("POST", "/cgi-bin/material/get_material",
                                             json={"media_id": media_id}, raw=True))

    def delete(self, media_id: str) -> None:
        """""" + DOC + "Deleting_Permanent_Assets.html"
        self._client.request("POST", "/cgi-bin/material/del_material", json={"media_id": media_id})

    def count(self) -> dict[str, int]:
        """``{"image_count", "voice_count", "video_count", "news_count"}``."""
        return self._client.request("GET", "/cgi-bin/material/get_materialcount")

    def batchget(self, kind: str, offset: int = 0, count: int = 20) -> dict[str, Any]:
        """One page: ``{"total_count", "item_count", "item": [...]}``. """ + DOC + "Get_materials_list.html"
        if kind not in LIST_KINDS:
            raise WeChatPayloadError("material list kind is image, voice, video or news")
        return self._client.request("POST", "/cgi-bin/material/batchget_material",
                                    json={"type": kind, "offset": offset, "count": count})

    def iter_items(self, kind: str, page_size: int = 20) -> Iterator[dict[str, Any]]:
        """Every item of ``kind``, page by page (20 a page, WeChat's largest)."""
        offset = 0
        while True:
            page = self.batchget(kind, offset, page_size)
            items = page.get("item") or []
            yield from items
            offset += len(items)
            if not items or offset >= int(page.get("total_count") or 0):
                return
