"""Media: the files users send (fetched from WeChat into storage) and the permanent material library.

Used by the admin, the REST API, the tasks and ``manage.py wechat_material``. Files live in the
storage ``WECHAT_APP["MEDIA_STORAGE"]`` under ``MEDIA_PATH_PREFIX/<account id>/...``; they are
private (the admin serves them after checking the account).
https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/Get_temporary_materials.html
"""
from __future__ import annotations

import io
import logging
import os
import random
import re
import threading
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone as dt_timezone

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import IntegrityError, connections, transaction
from django.db.models import Q
from django.utils import timezone

from ..client import WeChatAPIError
from ..client.material import MediaContent
from ..conf import app_settings
from ..models import IncomingMedia, Material, MessageLog
from .enqueue import enqueue
from .tokens import get_client

logger = logging.getLogger("wechat_app.media")

INCOMING_TYPES = ("image", "voice", "video", "shortvideo")
# kind -> (largest size in bytes, allowed extensions), WeChat's limits for permanent material.
UPLOAD_LIMITS: dict[str, tuple[int, tuple[str, ...]]] = {
    "image": (10 * 1024 * 1024, ("bmp", "png", "jpeg", "jpg", "gif")),
    "voice": (2 * 1024 * 1024, ("mp3", "wma", "wav", "amr")),
    "video": (10 * 1024 * 1024, ("mp4",)),
    "thumb": (64 * 1024, ("jpg", "jpeg")),
}
VOICE_MAX_SECONDS = 60
# What the first bytes of each format look like: a renamed file is refused before upload.
_SIGNATURES = {
    "png": (b"\x89PNG\r\n\x1a\n",), "jpg": (b"\xff\xd8\xff",), "jpeg": (b"\xff\xd8\xff",),
    "gif": (b"GIF87a", b"GIF89a"), "bmp": (b"BM",), "wav": (b"RIFF",), "amr": (b"#!AMR",),
    "wma": (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11",), "mp3": (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"),
}
_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/bmp": ".bmp",
               "audio/amr": ".amr", "audio/mpeg": ".mp3", "audio/wav": ".wav", "audio/x-ms-wma": ".wma",
               "audio/speex": ".speex", "video/mp4": ".mp4"}
_CONTENT_TYPES = {"bmp": "image/bmp", "png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg",
                  "gif": "image/gif", "mp3": "audio/mpeg", "wma": "audio/x-ms-wma", "wav": "audio/wav",
                  "amr": "audio/amr", "mp4": "video/mp4"}


def storage():
    return storages[app_settings.MEDIA_STORAGE]


def _path(account_id: int, area: str, name: str) -> str:
    prefix = str(app_settings.MEDIA_PATH_PREFIX).strip("/")
    return f"{prefix}/{account_id}/{area}/{name}"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)[:80] or "media"


# --- incoming media --------------------------------------------------------------------------------
def media_fields(message) -> dict[str, str] | None:
    """``{"msg_type", "media_id", "thumb_media_id"}`` of a media message (a protocol ``Message`` or
    its ``to_dict()``), None for other messages."""
    msg_type = getattr(message, "type", None) or (message.get("type") if isinstance(message, dict) else None)
    if msg_type not in INCOMING_TYPES:
        return None
    param = getattr(message, "param", None)
    if param is None and isinstance(message, dict):
        param = message.get("param") or {}
    media_id = str((param or {}).get("media_id") or "")
    if not media_id:
        return None
    return {"msg_type": msg_type, "media_id": media_id[:128],
            "thumb_media_id": str(param.get("thumb_media_id") or "")[:128]}


def message_logged(account, message, log) -> None:
    """The callback logged ``message`` (``reply_sent``): queue the fetch of its media once.

    The row is written by the task (not here: the callback's answer must not wait on it), and the
    unique (account, dedupe_key) makes a second queueing harmless.
    """
    if not app_settings.FETCH_INCOMING_MEDIA or log is None:
        return
    fields = media_fields(message)
    if fields is None:
        return
    args = (account.pk, log.dedupe_key, fields["msg_type"], fields["media_id"], fields["thumb_media_id"])
    from .. import tasks
    from .enqueue import runs_here

    if runs_here(tasks.fetch_incoming_media.app):
        # No worker (eager mode, no broker): fetch in a thread of this process, so that the
        # callback answers WeChat now rather than after a download.
        transaction.on_commit(lambda: _local_pool().submit(_in_thread, enqueue, "fetch_incoming_media", *args,
                                                           on_commit=False))
    else:
        enqueue("fetch_incoming_media", *args)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _local_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wechat-media")
    return _pool


def _in_thread(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except Exception:  # the row stays pending for the sweeper
        logger.exception("fetching incoming media in-process failed")
    finally:
        connections.close_all()  # this thread's own connections


def record_incoming(account_id: int, dedupe_key: str, msg_type: str, media_id: str,
                    thumb_media_id: str = "") -> IncomingMedia:
    """The ``IncomingMedia`` row of a logged message, created once (races end in the same row)."""
    existing = IncomingMedia.objects.filter(account_id=account_id, dedupe_key=dedupe_key).first()
    if existing is not None:
        return existing
    log_id = MessageLog.objects.filter(account_id=account_id, dedupe_key=dedupe_key).values_list(
        "pk", flat=True).first()
    try:
        with transaction.atomic():
            return IncomingMedia.objects.create(account_id=account_id, dedupe_key=dedupe_key, log_id=log_id,
                                                msg_type=msg_type, media_id=media_id, thumb_media_id=thumb_media_id)
    except IntegrityError:
        return IncomingMedia.objects.get(account_id=account_id, dedupe_key=dedupe_key)


def fetch_backoff(attempt: int) -> float:
    base = float(app_settings.OUTBOUND_RETRY_DELAY)
    delay = min(float(app_settings.OUTBOUND_RETRY_MAX_DELAY), base * 2 ** max(0, attempt - 1))
    return delay * random.uniform(0.75, 1.25)


@dataclass
class FetchOutcome:
    status: str
    retry_in: float | None = None


def _claim(media_pk: int, now) -> bool:
    """Take the row for one fetch (atomically): a row being fetched by a live worker, or done,
    or failed for good, is left alone."""
    lease = now + timedelta(seconds=float(app_settings.OUTBOUND_LEASE))
    due = Q(status=IncomingMedia.Status.PENDING) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    stale = Q(status=IncomingMedia.Status.FETCHING, lease_until__lt=now)
    return bool(IncomingMedia.objects.filter(due | stale, pk=media_pk).update(
        status=IncomingMedia.Status.FETCHING, lease_until=lease))


def fetch_incoming(media_pk: int, client=None) -> FetchOutcome:
    """Fetch one row's file into storage (idempotent: a done row is not fetched again)."""
    now = timezone.now()
    if not _claim(media_pk, now):
        row = IncomingMedia.objects.filter(pk=media_pk).only("status").first()
        return FetchOutcome(row.status if row else "missing")
    media = IncomingMedia.objects.select_related("account").get(pk=media_pk)
    attempts = media.attempts + 1
    try:
        if media.account.channel == "ilink":  # the CDN, decrypted (services/ilink.py)
            from .ilink import ILinkError, download_media

            try:
                content = download_media(media)
            except ILinkError as err:
                raise WeChatAPIError(None, str(err), "GET /cdn/download") from None
        else:
            client = client or get_client(media.account)
            content = _download(client, media.media_id)
    except WeChatAPIError as err:
        retry = (err.errcode is None or err.is_transient or err.is_quota or err.is_token_error) \
            and attempts < int(app_settings.MEDIA_FETCH_MAX_ATTEMPTS)
        fields = {"attempts": attempts, "error": str(err)[:2000], "lease_until": None}
        if retry:
            delay = fetch_backoff(attempts)
            fields.update(status=IncomingMedia.Status.PENDING, next_attempt_at=now + timedelta(seconds=delay))
        else:
            delay = None
            fields.update(status=IncomingMedia.Status.FAILED, next_attempt_at=None)
        IncomingMedia.objects.filter(pk=media_pk).update(**fields)
        logger.warning("fetching %s media %s failed (attempt %d): %s", media.msg_type, media.media_id[:16],
                       attempts, err)
        return FetchOutcome(fields["status"], delay)
    extension = _EXTENSIONS.get(content.content_type, "") or _extension_of(media)
    day = now.strftime("%Y/%m/%d")
    name = storage().save(_path(media.account_id, "incoming", f"{day}/{_safe(media.media_id)}{extension}"),
                          ContentFile(content.data))
    IncomingMedia.objects.filter(pk=media_pk).update(
        status=IncomingMedia.Status.DONE, path=name, size=len(content.data),
        content_type=content.content_type[:100], error="", attempts=attempts, lease_until=None,
        next_attempt_at=None, fetched_at=now)
    if media.log_id is None:
        log_id = MessageLog.objects.filter(account_id=media.account_id, dedupe_key=media.dedupe_key).values_list(
            "pk", flat=True).first()
        if log_id:
            IncomingMedia.objects.filter(pk=media_pk).update(log_id=log_id)
    return FetchOutcome(IncomingMedia.Status.DONE)


def _extension_of(media: IncomingMedia) -> str:
    """A file's own extension (iLink files carry their name), safe for a storage path."""
    name = ""
    if media.msg_type == "file":
        log = MessageLog.objects.filter(account_id=media.account_id, dedupe_key=media.dedupe_key).only(
            "message").first()
        name = str((((log.message if log else None) or {}).get("param") or {}).get("file_name") or "")
    extension = os.path.splitext(name)[1].lower()
    return extension if re.fullmatch(r"\.[a-z0-9]{1,8}", extension) else ""


def _download(client, media_id: str) -> MediaContent:
    """The bytes of temporary media; videos answer with a link that is downloaded (size-capped)."""
    from ..client.errors import WeChatTransportError

    limit = int(app_settings.MEDIA_MAX_FETCH_SIZE)
    got = client.media.get(media_id)
    if isinstance(got, MediaContent):
        if len(got.data) > limit:
            raise WeChatTransportError(None, f"media larger than MEDIA_MAX_FETCH_SIZE ({limit} bytes)",
                                       "GET /cgi-bin/media/get", maybe_applied=False)
        return got
    url = got.get("video_url") or got.get("down_url")
    if not url:
        raise WeChatTransportError(None, "media/get answered neither bytes nor a video_url", "GET /cgi-bin/media/get")
    try:
        with client.session.get(url, stream=True, timeout=client.timeout) as response:
            response.raise_for_status()
            chunks, size = [], 0
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise WeChatTransportError(None, f"video larger than MEDIA_MAX_FETCH_SIZE ({limit} bytes)",
                                               "GET video_url")
                chunks.append(chunk)
            content_type = response.headers.get("Content-Type", "video/mp4").split(";")[0].strip()
    except WeChatTransportError:
        raise
    except Exception as err:  # requests' errors: retried like any transport failure
        raise WeChatTransportError(None, type(err).__name__, "GET video_url") from None
    return MediaContent(b"".join(chunks), content_type)


def due_incoming_ids(limit: int = 200) -> list[int]:
    now = timezone.now()
    due = Q(status=IncomingMedia.Status.PENDING) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    stale = Q(status=IncomingMedia.Status.FETCHING, lease_until__lt=now)
    return list(IncomingMedia.objects.filter(due | stale).order_by("pk").values_list("pk", flat=True)[:limit])


def record_unqueued(limit: int = 500) -> int:
    """Rows for media messages logged in the last three days that have none yet (logged through
    the log buffer or the spool while nothing was queued): the sweeper's safety net."""
    if not app_settings.FETCH_INCOMING_MEDIA:
        return 0
    since = timezone.now() - timedelta(days=3)
    created = 0
    logs = MessageLog.objects.filter(msg_type__in=INCOMING_TYPES, created_at__gte=since, media__isnull=True)
    for log in logs.only("pk", "account_id", "dedupe_key", "message")[:limit]:
        fields = media_fields(log.message or {})
        if fields is None:
            continue
        # a row queued before its log row was written (log buffer, spool) is linked to it now
        if IncomingMedia.objects.filter(account_id=log.account_id, dedupe_key=log.dedupe_key).update(log_id=log.pk):
            continue
        record_incoming(log.account_id, log.dedupe_key, **fields)
        created += 1
    return created


def incoming_attachment(row: IncomingMedia, *, request=None, file_name: str = "") -> dict:
    """One stored incoming file as an agent sees it (the agent gateway's attachments, whatever the
    channel): its type, fetch status, file name, content type, size, the REST URL of its bytes
    (``incoming-media/{id}/file/``, fetched with an API token; absolute when ``request`` is given)
    and the local path when it is stored on this host's file system (None otherwise, or not
    fetched yet)."""
    from django.urls import NoReverseMatch, reverse

    try:
        url = reverse("wechat_app:incomingmedia-file", args=[row.pk])
    except NoReverseMatch:  # the project does not mount the REST API
        url = None
    if url and request is not None:
        url = request.build_absolute_uri(url)
    path = None
    if row.status == IncomingMedia.Status.DONE and row.path:
        try:
            path = storage().path(row.path)
        except NotImplementedError:  # a remote storage
            path = None
    return {"type": row.msg_type, "status": row.status, "file_name": file_name, "content_type": row.content_type,
            "size": row.size, "url": url, "path": path, "incoming_media_id": row.pk}


def incoming_attachments(account_id: int, dedupe_key: str, *, request=None, file_name: str = "") -> list[dict]:
    """The stored files of one logged message (account and log dedupe key) as attachments
    (``incoming_attachment``)."""
    return [incoming_attachment(row, request=request, file_name=file_name)
            for row in IncomingMedia.objects.filter(account_id=account_id, dedupe_key=dedupe_key)]


def incoming_for_logs(logs) -> dict[int, IncomingMedia]:
    """log pk -> its ``IncomingMedia``, for a page of log rows (one query)."""
    logs = [log for log in logs if log.msg_type in INCOMING_TYPES]
    if not logs:
        return {}
    keys = {(log.account_id, log.dedupe_key): log.pk for log in logs}
    rows = IncomingMedia.objects.filter(account_id__in={a for a, _ in keys}, dedupe_key__in={k for _, k in keys})
    return {keys[(row.account_id, row.dedupe_key)]: row for row in rows if (row.account_id, row.dedupe_key) in keys}


# --- the material library ---------------------------------------------------------------------------
def validate_upload(kind: str, filename: str, data: bytes) -> str:
    """Check WeChat's limits before uploading; return the content type. Raises ``ValidationError``
    with a message for people (type, extension, size, format, voice length)."""
    if kind not in UPLOAD_LIMITS:
        raise ValidationError(f"The type must be one of {', '.join(UPLOAD_LIMITS)}, not {kind!r}.")
    limit, extensions = UPLOAD_LIMITS[kind]
    extension = os.path.splitext(filename or "")[1].lower().lstrip(".")
    if extension not in extensions:
        raise ValidationError(f"A {kind} must be a {'/'.join(extensions)} file; {filename!r} is not.")
    if not data:
        raise ValidationError("The file is empty.")
    if len(data) > limit:
        raise ValidationError(f"A {kind} may be at most {_size(limit)} on WeChat; this file is {_size(len(data))}.")
    signatures = _SIGNATURES.get(extension)
    if extension == "mp4":
        valid = data[4:8] == b"ftyp"
    else:
        valid = signatures is None or data.startswith(signatures)
    if extension == "wav" and valid:
        valid = data[8:12] == b"WAVE"
    if not valid:
        raise ValidationError(f"The file is not a valid {extension} file (its content does not match its name).")
    if extension == "wav":
        try:
            with wave.open(io.BytesIO(data)) as audio:
                seconds = audio.getnframes() / float(audio.getframerate() or 1)
        except (wave.Error, EOFError) as err:
            raise ValidationError(f"The wav file cannot be read: {err}.") from None
        if seconds > VOICE_MAX_SECONDS:
            raise ValidationError(f"A voice may last at most {VOICE_MAX_SECONDS} s; this one lasts {seconds:.0f} s.")
    return _CONTENT_TYPES[extension]


def _size(n: int) -> str:
    return f"{n // 1024} KB" if n < 1024 * 1024 else f"{n / (1024 * 1024):.0f} MB"


def upload_material(account, kind: str, filename: str, data: bytes, *, title: str = "", introduction: str = "",
                    client=None) -> Material:
    """Validate, add to WeChat's library, keep a local copy, and mirror it as a ``Material`` row."""
    content_type = validate_upload(kind, filename, data)
    if kind == "video" and not title.strip():
        raise ValidationError("A video needs a title.")
    client = client or get_client(account)
    answer = client.material.add(kind, (os.path.basename(filename), data), title=title.strip(),
                                 introduction=introduction)
    media_id = answer["media_id"]
    name = storage().save(_path(account.pk, "material", f"{_safe(media_id)}{os.path.splitext(filename)[1].lower()}"),
                          ContentFile(data))
    now = timezone.now()
    material, _ = Material.objects.update_or_create(account=account, media_id=media_id, defaults={
        "kind": kind, "name": os.path.basename(filename)[:255], "title": title.strip()[:255],
        "introduction": introduction, "url": answer.get("url", "")[:1024], "update_time": now,
        "raw": {k: v for k, v in answer.items() if k != "errcode"}, "local_path": name, "size": len(data),
        "content_type": content_type, "synced_at": now})
    return material


def delete_material(material: Material, client=None) -> None:
    """Delete on WeChat (already gone there, 40007, is fine), then the local copy and the row."""
    try:
        (client or get_client(material.account)).material.delete(material.media_id)
    except WeChatAPIError as err:
        if err.errcode != 40007:
            raise
    if material.local_path:
        try:
            storage().delete(material.local_path)
        except OSError:
            logger.warning("could not delete %s", material.local_path)
    material.delete()


def sync_materials(account, client=None, *, fetch_copies: int = 50) -> dict[str, int]:
    """Mirror the account's library (images, voices, videos, news) from WeChat.

    Returns WeChat's counts plus ``created``, ``updated``, ``deleted`` and ``copied`` (images
    whose local copy was fetched, at most ``fetch_copies`` per sync). Thumbs are not listed by
    WeChat and are kept.
    """
    client = client or get_client(account)
    counts = dict(client.material.count())
    result = {**counts, "created": 0, "updated": 0, "deleted": 0, "copied": 0}
    now = timezone.now()
    for kind in ("image", "voice", "video", "news"):
        seen = set()
        for item in client.material.iter_items(kind):
            media_id = str(item.get("media_id") or "")[:128]
            if not media_id:
                continue
            seen.add(media_id)
            updated = item.get("update_time")
            defaults = {"kind": kind, "name": str(item.get("name") or "")[:255], "url": str(item.get("url") or "")[:1024],
                        "raw": item, "synced_at": now,
                        "update_time": datetime.fromtimestamp(int(updated), tz=dt_timezone.utc) if updated else None}
            if kind == "news":
                articles = (item.get("content") or {}).get("news_item") or []
                defaults["title"] = str(articles[0].get("title", "") if articles else "")[:255]
            _, created = Material.objects.update_or_create(account=account, media_id=media_id, defaults=defaults)
            result["created" if created else "updated"] += 1
        gone = Material.objects.filter(account=account, kind=kind).exclude(media_id__in=seen)
        for material in gone:
            if material.local_path:
                storage().delete(material.local_path)
        result["deleted"] += gone.delete()[0]
    for material in Material.objects.filter(account=account, kind="image", local_path="")[:fetch_copies]:
        try:
            got = client.material.get(material.media_id)
        except WeChatAPIError as err:
            logger.warning("no local copy of material %s: %s", material.media_id[:16], err)
            continue
        if isinstance(got, MediaContent):
            ext = os.path.splitext(material.name)[1].lower() or _EXTENSIONS.get(got.content_type, "")
            material.local_path = storage().save(_path(account.pk, "material", f"{_safe(material.media_id)}{ext}"),
                                                 ContentFile(got.data))
            material.size, material.content_type = len(got.data), got.content_type[:100]
            material.save(update_fields=["local_path", "size", "content_type"])
            result["copied"] += 1
    return result


def material_choices(account_id, kinds) -> list[tuple[str, str]]:
    """``(media_id, label)`` of an account's materials of ``kinds``, newest first (the pickers)."""
    rows = Material.objects.filter(account_id=account_id, kind__in=list(kinds)).values_list(
        "media_id", "kind", "name", "title")[:500]
    return [(media_id, f"{kind}: {title or name or media_id[:12]}") for media_id, kind, name, title in rows]
