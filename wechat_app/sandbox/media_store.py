"""The sandbox's media: temporary media (3 days), permanent material, and "user media".

Kept apart from ``state.py`` so that the material endpoints (``material.py``) stay in their own
modules; ``SandboxState.reset`` makes a fresh ``MediaStore``. No Django here.

WeChat's limits (checked by the endpoints, each with its own code):
https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/Adding_Permanent_Assets.html
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

# kind -> (largest size in bytes, allowed file extensions)
MEDIA_LIMITS: dict[str, tuple[int, tuple[str, ...]]] = {
    "image": (10 * 1024 * 1024, ("bmp", "png", "jpeg", "jpg", "gif")),
    "voice": (2 * 1024 * 1024, ("mp3", "wma", "wav", "amr")),
    "video": (10 * 1024 * 1024, ("mp4",)),
    "thumb": (64 * 1024, ("jpg", "jpeg")),
}
TEMPORARY_MEDIA_TTL = 3 * 24 * 3600  # temporary media (and what users send) live three days
BATCHGET_TYPES = ("image", "voice", "video", "news")


@dataclass
class StoredMedia:
    media_id: str
    kind: str
    data: bytes
    filename: str = ""
    content_type: str = "application/octet-stream"
    created_at: float = field(default_factory=time.time)
    permanent: bool = False
    title: str = ""         # videos: description.title
    introduction: str = ""  # videos: description.introduction
    url: str = ""           # images: the mmbiz URL WeChat returns

    def expired(self, now: float | None = None) -> bool:
        return not self.permanent and (now or time.time()) - self.created_at > TEMPORARY_MEDIA_TTL

    def list_item(self) -> dict[str, Any]:
        item = {"media_id": self.media_id, "name": self.filename, "update_time": int(self.created_at)}
        if self.kind in ("image", "video"):
            item["url"] = self.url
        return item


def new_media_id() -> str:
    # Real media ids are 64 characters of [A-Za-z0-9_-].
    return secrets.token_urlsafe(48)[:64]


class MediaStore:
    """Media of every app by media id; ``daily_quota`` limits add_material per app (45009)."""

    def __init__(self):
        self.items: dict[str, dict[str, StoredMedia]] = {}  # app id -> media id -> media
        self.adds_today: dict[str, int] = {}
        self.daily_quota: int | None = None  # None: unlimited

    def put(self, app_id: str, kind: str, data: bytes, *, filename: str = "", content_type: str = "",
            permanent: bool = False, media_id: str | None = None, **extra) -> StoredMedia:
        media = StoredMedia(media_id or new_media_id(), kind, bytes(data), filename,
                            content_type or "application/octet-stream", permanent=permanent, **extra)
        if permanent and kind == "image" and not media.url:
            media.url = f"http://mmbiz.qpic.cn/sandbox/{media.media_id[:22]}/0?wx_fmt=png"
        self.items.setdefault(app_id, {})[media.media_id] = media
        return media

    def get(self, app_id: str, media_id: str, *, permanent: bool) -> StoredMedia | None:
        media = self.items.get(app_id, {}).get(media_id)
        if media is None or media.permanent != permanent or media.expired():
            return None
        return media

    def delete(self, app_id: str, media_id: str) -> bool:
        media = self.items.get(app_id, {}).get(media_id)
        if media is None or not media.permanent:
            return False
        del self.items[app_id][media_id]
        return True

    def permanent(self, app_id: str, kind: str) -> list[StoredMedia]:
        found = [m for m in self.items.get(app_id, {}).values() if m.permanent and m.kind == kind]
        return sorted(found, key=lambda m: (-m.created_at, m.media_id))

    def counts(self, app_id: str) -> dict[str, int]:
        return {f"{kind}_count": len(self.permanent(app_id, kind)) for kind in BATCHGET_TYPES}
