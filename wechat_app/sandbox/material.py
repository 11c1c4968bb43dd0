"""Sandbox endpoints of temporary media and the permanent material library.

``/cgi-bin/media/upload`` and ``/cgi-bin/media/get`` (temporary, three days),
``/cgi-bin/material/add_material | get_material | del_material | get_materialcount |
batchget_material``, with WeChat's limits and codes: 40004 invalid media type, 40005 invalid
file type, 40006 file too large, 40007 invalid media_id, 41005 media data missing, 45009 daily
quota (``POST /_sandbox/media/quota``). ``POST /_sandbox/media`` stores "user media" (what a user
sends) that a pushed image/voice/video message can reference by its MediaId.
https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/Get_materials_list.html
"""
from __future__ import annotations

import base64
import json
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from .media_store import BATCHGET_TYPES, MEDIA_LIMITS, StoredMedia
from .server import RawBody, admin, api
from .state import SandboxError

CONTENT_TYPES = {"bmp": "image/bmp", "png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg",
                 "gif": "image/gif", "mp3": "audio/mpeg", "wma": "audio/x-ms-wma", "wav": "audio/wav",
                 "amr": "audio/amr", "mp4": "video/mp4"}


def parse_multipart(content_type: str, raw: bytes) -> dict[str, tuple[str, bytes]]:
    """Form fields of a multipart/form-data body: name -> (filename, bytes)."""
    if not content_type.startswith("multipart/form-data"):
        return {}
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1")
                                                  + b"\r\n\r\n" + raw)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[name] = (part.get_filename() or "", part.get_payload(decode=True) or b"")
    return fields


def _checked_upload(handler, query, raw) -> tuple[str, str, bytes, dict[str, tuple[str, bytes]]]:
    kind = query.get("type") or ""
    if kind not in MEDIA_LIMITS:
        raise SandboxError(40004)
    fields = parse_multipart(handler.headers.get("Content-Type", ""), raw)
    filename, data = fields.get("media", ("", b""))
    if not data:
        raise SandboxError(41005)
    limit, extensions = MEDIA_LIMITS[kind]
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in extensions:
        raise SandboxError(40005)
    if len(data) > limit:
        raise SandboxError(40006)
    return kind, filename, data, fields


def _body(raw) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        body = json.loads(raw or b"")
    except ValueError:
        raise SandboxError(47001) from None
    if not isinstance(body, dict):
        raise SandboxError(47001)
    return body


def _raw(media: StoredMedia) -> RawBody:
    return RawBody(media.data, media.content_type, media.filename or media.media_id)


@api("POST", "/cgi-bin/media/upload")
def _media_upload(handler, query, raw, app_id):
    kind, filename, data, _ = _checked_upload(handler, query, raw)
    extension = filename.rsplit(".", 1)[-1].lower()
    with handler.state.lock:
        media = handler.state.media.put(app_id, kind, data, filename=filename,
                                        content_type=CONTENT_TYPES.get(extension, ""))
    key = "thumb_media_id" if kind == "thumb" else "media_id"
    return {"type": kind, key: media.media_id, "created_at": int(media.created_at)}


@api("GET", "/cgi-bin/media/get")
def _media_get(handler, query, raw, app_id):
    with handler.state.lock:
        media = handler.state.media.get(app_id, query.get("media_id", ""), permanent=False)
    if media is None:
        raise SandboxError(40007)
    if media.kind == "video":  # WeChat answers a temporary video with a download link
        return {"video_url": f"{_base(handler)}/_sandbox/media/download?app_id={app_id}&media_id={media.media_id}"}
    return _raw(media)


@api("POST", "/cgi-bin/material/add_material")
def _add_material(handler, query, raw, app_id):
    kind, filename, data, fields = _checked_upload(handler, query, raw)
    extra = {}
    if kind == "video":
        try:
            description = json.loads(fields.get("description", ("", b""))[1] or b"")
        except ValueError:
            description = None
        if not isinstance(description, dict) or not description.get("title"):
            raise SandboxError(47001, "video needs a description with a title")
        extra = {"title": str(description["title"]), "introduction": str(description.get("introduction", ""))}
    state = handler.state
    with state.lock:
        store = state.media
        if store.daily_quota is not None and store.adds_today.get(app_id, 0) >= store.daily_quota:
            raise SandboxError(45009)
        store.adds_today[app_id] = store.adds_today.get(app_id, 0) + 1
        extension = filename.rsplit(".", 1)[-1].lower()
        media = store.put(app_id, kind, data, filename=filename, content_type=CONTENT_TYPES.get(extension, ""),
                          permanent=True, **extra)
    answer = {"media_id": media.media_id}
    if kind == "image":
        answer["url"] = media.url
    return answer


@api("POST", "/cgi-bin/material/get_material")
def _get_material(handler, query, raw, app_id):
    body = _body(raw)
    with handler.state.lock:
        media = handler.state.media.get(app_id, str(body.get("media_id", "")), permanent=True)
    if media is None:
        raise SandboxError(40007)
    if media.kind == "video":
        return {"title": media.title, "description": media.introduction,
                "down_url": f"{_base(handler)}/_sandbox/media/download?app_id={app_id}&media_id={media.media_id}"}
    return _raw(media)


@api("POST", "/cgi-bin/material/del_material")
def _del_material(handler, query, raw, app_id):
    body = _body(raw)
    with handler.state.lock:
        if not handler.state.media.delete(app_id, str(body.get("media_id", ""))):
            raise SandboxError(40007)
    return {"errcode": 0, "errmsg": "ok"}


@api("GET", "/cgi-bin/material/get_materialcount")
def _material_count(handler, query, raw, app_id):
    with handler.state.lock:
        return handler.state.media.counts(app_id)


@api("POST", "/cgi-bin/material/batchget_material")
def _batchget(handler, query, raw, app_id):
    body = _body(raw)
    kind = body.get("type")
    if kind not in BATCHGET_TYPES:
        raise SandboxError(40004)
    try:
        offset, count = int(body.get("offset", 0)), int(body.get("count", 20))
    except (TypeError, ValueError):
        raise SandboxError(47001) from None
    if offset < 0 or not 1 <= count <= 20:
        raise SandboxError(47001, "count must be between 1 and 20")
    with handler.state.lock:
        items = handler.state.media.permanent(app_id, kind)
    page = [m.list_item() for m in items[offset:offset + count]]
    return {"total_count": len(items), "item_count": len(page), "item": page}


def _base(handler) -> str:
    host, port = handler.server.server_address[:2]
    return f"http://{host}:{port}"


# --- inspection / control ----------------------------------------------------------------------
@admin("POST", "/media")
def _put_user_media(server, query, body):
    """Store media a user "sent": ``{"app_id", "kind", "data_base64", "filename"?, "content_type"?,
    "media_id"?}`` -> ``{"media_id"}``; push a message with that MediaId to have it fetched."""
    kind = body.get("kind", "image")
    if kind not in MEDIA_LIMITS:
        raise ValueError(f"kind must be one of {', '.join(MEDIA_LIMITS)}")
    data = base64.b64decode(body["data_base64"])
    with server.state.lock:
        server.state._app(body["app_id"])
        media = server.state.media.put(body["app_id"], kind, data, filename=body.get("filename", ""),
                                       content_type=body.get("content_type", ""), media_id=body.get("media_id"))
    return {"media_id": media.media_id}


@admin("GET", "/media")
def _list_media(server, query, body):
    with server.state.lock:
        items = server.state.media.items.get(query.get("app_id", ""), {}).values()
        return {"media": [{"media_id": m.media_id, "kind": m.kind, "size": len(m.data), "filename": m.filename,
                           "permanent": m.permanent} for m in items]}


@admin("GET", "/media/download")
def _download(server, query, body):
    with server.state.lock:
        media = server.state.media.items.get(query.get("app_id", ""), {}).get(query.get("media_id", ""))
    if media is None:
        raise ValueError("no such media")
    return _raw(media)


@admin("POST", "/media/quota")
def _quota(server, query, body):
    with server.state.lock:
        quota = body.get("daily_quota")
        server.state.media.daily_quota = None if quota is None else int(quota)
        if body.get("reset_count"):
            server.state.media.adds_today.clear()
    return {"daily_quota": server.state.media.daily_quota}
