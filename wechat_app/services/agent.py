"""The agent gateway: hand conversations to an agent runtime, deliver them, send its replies.

An account's ``AgentSettings`` say whether (``mode``: off, callback, inbox) and which messages
(``scope``: the ones no rule answered — plus rules whose reply is ``{"type": "agent"}`` — or
every user message) go to the agent. The callback calls ``hand_off`` once per inbound message
(``services/inbound.py``); the event row is unique per (account, dedupe key), so WeChat's
retries of a message make one event.

- **callback**: ``deliver(event_pk)`` (the ``deliver_agent_event`` task) POSTs the event JSON to
  the callback URL with ``Authorization: Bearer <shared secret>``, records every attempt, retries
  non-2xx answers and network errors with back-off, and parks the event as failed after the
  account's attempt limit (``retry`` puts it back);
- **inbox**: the agent lists events, ``claim``s one (a worker id and a lease; exclusive under
  concurrency: a conditional UPDATE, ``select_for_update(skip_locked=True)`` where the database
  has it), then ``complete``s or ``fail``s it; a lease that ends first returns the event to
  pending (``release_expired``).

The agent replies through ``send`` (text and files; files from http(s) URLs or under
``AGENT_FILE_ROOT``) and ``typing``, which go through the account's channel
(``channels.for_account``).
"""
from __future__ import annotations

import logging
import mimetypes
import os
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from .. import channels
from ..conf import app_settings
from ..models import AgentDeliveryAttempt, AgentEvent, AgentSendTask, AgentSettings
from .enqueue import enqueue

logger = logging.getLogger("wechat_app.agent")
Status = AgentEvent.Status

# file_type of the seed's /send items -> OutgoingFile.kind
FILE_TYPES = {1: "image", 2: "video", 3: "voice", 4: "file"}
VOICE_EXTENSIONS = (".mp3", ".silk", ".amr", ".ogg")
MAX_ITEMS = 20
MAX_TEXT_CHARS = 4000


class AgentError(Exception):
    """A request the gateway refuses (bad input, wrong state); ``code`` names the reason."""

    def __init__(self, message: str, code: str = "invalid", status: int = 400):
        super().__init__(message)
        self.code, self.status = code, status


# --- settings, cached with the account ----------------------------------------------------------
def settings_for(account) -> AgentSettings | None:
    """The account's agent settings when it hands anything over, else None.

    The callback's accounts are loaded with their settings (``services.accounts`` selects them
    with the account, and saving them bumps the accounts version), so this costs no query there.
    """
    try:
        agent = account.agent_settings
    except ObjectDoesNotExist:
        return None
    return agent if agent is not None and agent.active else None


def wants(account, message, *, unanswered: bool, agent_rule: bool) -> bool:
    """Whether ``message`` goes to the agent: a rule said so, or the scope covers it."""
    agent = settings_for(account)
    if agent is None or message.type == "event":
        return False
    return agent_rule or agent.scope == AgentSettings.Scope.ALL or unanswered


# --- handing off -------------------------------------------------------------------------------
def event_payload(event: AgentEvent, request=None) -> dict[str, Any]:
    """The JSON the agent receives (the seed's event shape)."""
    return {"type": "message", "account_id": event.account.name, "event_id": event.event_id,
            "chat_id": event.chat_id, "user_id": event.user_id, "text": event.text,
            "context_token": event.context_token, "chat_type": event.chat_type,
            "attachments": event_attachments(event, request), "raw": event.raw or {}}


def _media_ids(events) -> set[int]:
    return {item.get("incoming_media_id") for event in events for item in (event.attachments or [])
            if isinstance(item, dict) and isinstance(item.get("incoming_media_id"), int)}


def incoming_rows(events) -> dict:
    """pk -> ``IncomingMedia`` of the files the events name (one query for a page of events)."""
    from ..models import IncomingMedia

    ids = _media_ids(events)
    if not ids:
        return {}
    accounts = {event.account_id for event in events}
    return {row.pk: row for row in IncomingMedia.objects.filter(pk__in=ids, account_id__in=accounts)}


def event_attachments(event: AgentEvent, request=None, rows: dict | None = None) -> list[dict]:
    """The event's attachments as they are now: a file stored since the hand-off (the
    ``FETCH_INCOMING_MEDIA`` fetch runs after it) gains its status, size and local path; with a
    ``request`` the REST URLs are absolute."""
    from .media import incoming_attachment

    items = list(event.attachments or [])
    if not _media_ids([event]):
        return items
    rows = rows if rows is not None else incoming_rows([event])
    result = []
    for item in items:
        row = rows.get(item.get("incoming_media_id")) if isinstance(item, dict) else None
        if row is None or row.account_id != event.account_id:
            result.append(item)
        else:
            result.append({**item, **incoming_attachment(row, request=request, file_name=item.get("file_name", ""))})
    return result


def _message_text(message) -> str:
    if message.text:
        return message.text
    param = message.param or {}
    if message.type == "location":
        return f"[location] {param.get('label') or ''} ({param.get('lat')}, {param.get('lng')})"
    if message.type == "link":
        return f"[link] {param.get('title') or ''} {param.get('url') or ''}".strip()
    if message.type == "file":
        return f"[file] {param.get('title') or ''}".strip()
    return f"[{message.type}]"


def message_attachments(message, account=None) -> list[dict]:
    """The media of an Official Account (or WeCom) message, for the agent: its kind and WeChat
    media id, the picture URL WeChat gives for images (``pic_url``), and with
    ``FETCH_INCOMING_MEDIA`` the stored file as every channel's attachments show it
    (``services.media.incoming_attachment``: the REST ``url`` of its bytes, fetched with an API
    token, and the local ``path`` once fetched). The file's row is made here (once per message:
    the fetch finds it), so the event can name it before the fetch has run."""
    from .media import incoming_attachment, media_fields, record_incoming

    param = message.param or {}
    kind = {"image": "image", "voice": "voice", "video": "video", "shortvideo": "video"}.get(message.type)
    if kind is None or not param.get("media_id"):
        return []
    item = {"kind": kind, "type": message.type, "media_id": param["media_id"], "url": None, "path": None}
    if param.get("pic_url"):
        item["pic_url"] = param["pic_url"]
    if param.get("format"):
        item["format"] = param["format"]
    fields = media_fields(message)
    if account is not None and fields is not None and app_settings.FETCH_INCOMING_MEDIA:
        from .inbound import _log_dedupe_key

        row = record_incoming(account.pk, _log_dedupe_key(message.dedupe_key), **fields)
        item.update(incoming_attachment(row))
    return [item]


def hand_off_exists(account, dedupe_key: str) -> bool:
    """Whether the message of ``dedupe_key`` (the log's) has its event already."""
    return AgentEvent.objects.filter(account=account, dedupe_key=dedupe_key).exists()


def hand_off(account, message, *, context_token: str = "", attachments=(), chat_type: str = "direct"):
    """Create the message's agent event (once per dedupe key) and queue its delivery.

    Returns the event (the existing one when this message was handed over already), or None when
    the account has no agent.
    """
    from .inbound import _log_dedupe_key

    agent = settings_for(account)
    if agent is None:
        return None
    delivery = (AgentEvent.Delivery.CALLBACK if agent.mode == AgentSettings.Mode.CALLBACK
                else AgentEvent.Delivery.INBOX)
    event = AgentEvent(account=account, dedupe_key=_log_dedupe_key(message.dedupe_key), delivery=delivery,
                       chat_id=message.uid, user_id=message.uid, text=_message_text(message),
                       context_token=context_token or "", chat_type=chat_type,
                       attachments=list(attachments) or message_attachments(message, account),
                       raw=message.to_dict())
    try:
        with transaction.atomic():
            event.save(force_insert=True)
            if delivery == AgentEvent.Delivery.CALLBACK:
                pk = event.pk
                transaction.on_commit(lambda: start_delivery(pk))
    except IntegrityError:  # a retry of the same message raced past the cache: one event
        return AgentEvent.objects.filter(account=account, dedupe_key=event.dedupe_key).first()
    return event


# --- callback delivery -------------------------------------------------------------------------
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _delivery_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="wechat-agent")
    return _pool


def _deliver_in_thread(event_pk: int) -> None:
    try:
        deliver(event_pk)
    except Exception:  # the row stays pending or delivering; the beat's resume takes it up again
        logger.exception("delivering agent event %s failed", event_pk)
    finally:
        connections.close_all()  # this worker thread's own connections


def start_delivery(event_pk: int) -> None:
    """Deliver a new callback event without making WeChat's answer wait for the agent: a Celery
    worker with a broker; a thread of this process without one (eager mode, in tests, runs the
    task in place)."""
    from .. import tasks
    from .enqueue import has_broker

    app = tasks.deliver_agent_event.app
    if not app.conf.task_always_eager and not has_broker(app):
        _delivery_pool().submit(_deliver_in_thread, event_pk)
        return
    enqueue("deliver_agent_event", event_pk, on_commit=False)



@dataclass
class Outcome:
    status: str
    retry_in: float | None = None


def backoff(attempt: int) -> float:
    base = float(app_settings.AGENT_RETRY_DELAY)
    delay = min(float(app_settings.AGENT_RETRY_MAX_DELAY), base * 2 ** max(0, attempt - 1))
    return delay * random.uniform(0.75, 1.25)


def _lease_seconds() -> float:
    return float(app_settings.AGENT_CALLBACK_TIMEOUT) * 2 + 30


def claim_delivery(event_pk: int) -> bool:
    """Take a callback event for one POST (a conditional UPDATE): pending and due, or a delivery
    whose worker died (lease over)."""
    now = timezone.now()
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return bool(AgentEvent.objects.filter(
        Q(status=Status.PENDING) & due | Q(status=Status.DELIVERING, lease_until__lt=now),
        pk=event_pk, delivery=AgentEvent.Delivery.CALLBACK,
    ).update(status=Status.DELIVERING, attempts=F("attempts") + 1, next_attempt_at=None,
             lease_until=now + timedelta(seconds=_lease_seconds()), updated_at=now))


def _post(url: str, secret: str, payload: dict) -> tuple[int | None, str]:
    headers = {"Content-Type": "application/json", "User-Agent": "wechat-app-agent-gateway"}
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
    try:
        response = requests.post(url, json=payload, headers=headers, timeout=float(app_settings.AGENT_CALLBACK_TIMEOUT),
                                 allow_redirects=False)
    except requests.RequestException as err:
        return None, f"{type(err).__name__}: {err}"[:1000]
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"HTTP {response.status_code}: {response.text[:500]}"


def deliver(event_pk: int) -> Outcome:
    """POST one callback event if it is due; record the attempt; return what happened."""
    if not claim_delivery(event_pk):
        status = AgentEvent.objects.filter(pk=event_pk).values_list("status", flat=True).first()
        return Outcome(status or "missing")
    event = AgentEvent.objects.select_related("account", "account__agent_settings").get(pk=event_pk)
    try:
        agent = event.account.agent_settings
    except ObjectDoesNotExist:
        agent = None
    if agent is None or agent.mode != AgentSettings.Mode.CALLBACK or not agent.callback_url:
        reason = "the account's agent delivery is no longer a callback"
        AgentEvent.objects.filter(pk=event_pk, status=Status.DELIVERING).update(
            status=Status.FAILED, error=reason, lease_until=None, finished_at=timezone.now(), updated_at=timezone.now())
        return Outcome(Status.FAILED)
    started = time.perf_counter()
    code, error = _post(agent.callback_url, agent.shared_secret, event_payload(event))
    duration = (time.perf_counter() - started) * 1000
    AgentDeliveryAttempt.objects.create(event=event, number=event.attempts, status_code=code, error=error,
                                        duration_ms=duration)
    now = timezone.now()
    mine = AgentEvent.objects.filter(pk=event_pk, status=Status.DELIVERING)
    if not error:
        mine.update(status=Status.COMPLETED, error="", lease_until=None, finished_at=now, updated_at=now,
                    note=f"delivered by callback (HTTP {code})")
        return Outcome(Status.COMPLETED)
    if event.attempts >= agent.max_attempts:
        logger.info("agent event %s parked as failed after %s attempts: %s", event.event_id, event.attempts, error)
        mine.update(status=Status.FAILED, error=f"{error} (gave up after {event.attempts} attempts)",
                    lease_until=None, finished_at=now, updated_at=now)
        return Outcome(Status.FAILED)
    delay = backoff(event.attempts)
    mine.update(status=Status.PENDING, error=error, lease_until=None, updated_at=now,
                next_attempt_at=now + timedelta(seconds=delay))
    return Outcome(Status.PENDING, delay)


def due_event_ids(limit: int = 1000) -> list[int]:
    """Callback events to (re)deliver now: due retries, lost enqueues, deliveries of dead workers."""
    now = timezone.now()
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return list(AgentEvent.objects.filter(
        Q(status=Status.PENDING) & due | Q(status=Status.DELIVERING, lease_until__lt=now),
        delivery=AgentEvent.Delivery.CALLBACK).order_by("id").values_list("pk", flat=True)[:limit])


def resume() -> int:
    """Beat: re-enqueue due callback deliveries; return inbox claims whose lease ended."""
    release_expired()
    ids = due_event_ids()
    for pk in ids:
        enqueue("deliver_agent_event", pk, on_commit=False)
    return len(ids)


def retry(event: AgentEvent) -> AgentEvent:
    """Put a failed (or completed) event back: pending, attempts counted afresh, delivered again."""
    now = timezone.now()
    updated = AgentEvent.objects.filter(pk=event.pk, status__in=[Status.FAILED, Status.COMPLETED]).update(
        status=Status.PENDING, attempts=0, next_attempt_at=None, lease_until=None, worker_id="", error="",
        finished_at=None, updated_at=now)
    if not updated:
        raise AgentError(f"Event {event.pk} is {event.status}: only failed or completed events can be retried.",
                         "wrong_state", 409)
    if event.delivery == AgentEvent.Delivery.CALLBACK:
        pk = event.pk
        transaction.on_commit(lambda: start_delivery(pk))
    event.refresh_from_db()
    return event


# --- the inbox ---------------------------------------------------------------------------------
def release_expired() -> int:
    """Return claims whose lease ended to pending (their worker died or gave up)."""
    now = timezone.now()
    return AgentEvent.objects.filter(status=Status.CLAIMED, lease_until__lt=now).update(
        status=Status.PENDING, worker_id="", lease_until=None, updated_at=now)


def _lease(lease_seconds) -> int:
    if lease_seconds in (None, ""):
        return int(app_settings.AGENT_DEFAULT_LEASE)
    try:
        lease = int(lease_seconds)
    except (TypeError, ValueError):
        raise AgentError("lease_seconds must be a whole number of seconds.") from None
    if not 1 <= lease <= int(app_settings.AGENT_MAX_LEASE):
        raise AgentError(f"lease_seconds must be from 1 to {app_settings.AGENT_MAX_LEASE}.")
    return lease


def _worker(worker_id) -> str:
    if not isinstance(worker_id, str) or not worker_id.strip() or len(worker_id) > 128:
        raise AgentError("worker_id is required (1 to 128 characters).")
    return worker_id.strip()


def _claimable(now) -> Q:
    return Q(status=Status.PENDING) | Q(status=Status.CLAIMED, lease_until__lt=now)


def claim(event: AgentEvent, worker_id: str, lease_seconds=None) -> AgentEvent:
    """Claim one inbox event for ``worker_id``: exactly one of competing workers gets it (the
    UPDATE's condition is re-checked on the locked row)."""
    worker, lease = _worker(worker_id), _lease(lease_seconds)
    now = timezone.now()
    claimed = AgentEvent.objects.filter(_claimable(now), pk=event.pk, delivery=AgentEvent.Delivery.INBOX).update(
        status=Status.CLAIMED, worker_id=worker, claimed_at=now, lease_until=now + timedelta(seconds=lease),
        attempts=F("attempts") + 1, updated_at=now)
    event.refresh_from_db()
    if not claimed:
        holder = f" by {event.worker_id}" if event.status == Status.CLAIMED else ""
        raise AgentError(f"Event {event.pk} is {event.status}{holder}; it cannot be claimed.", "not_claimable", 409)
    return event


def claim_next(accounts_qs, worker_id: str, lease_seconds=None, account=None) -> AgentEvent | None:
    """Claim the oldest pending inbox event (of ``account``, else of any account in
    ``accounts_qs``) for ``worker_id``; None when there is none. Competing workers skip each
    other's rows (``SKIP LOCKED`` where supported; elsewhere the next candidate is tried)."""
    worker, lease = _worker(worker_id), _lease(lease_seconds)
    release_expired()
    candidates = AgentEvent.objects.filter(status=Status.PENDING, delivery=AgentEvent.Delivery.INBOX,
                                           account__in=accounts_qs)
    if account is not None:
        candidates = candidates.filter(account=account)
    candidates = candidates.order_by("created_at", "id")
    if connection.features.has_select_for_update_skip_locked:
        with transaction.atomic():
            row = candidates.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True).first()
            if row is None:
                return None
            now = timezone.now()
            AgentEvent.objects.filter(pk=row).update(
                status=Status.CLAIMED, worker_id=worker, claimed_at=now, lease_until=now + timedelta(seconds=lease),
                attempts=F("attempts") + 1, updated_at=now)
        return AgentEvent.objects.select_related("account").get(pk=row)
    for _round in range(10):
        ids = list(candidates.values_list("pk", flat=True)[:10])
        if not ids:
            return None
        for pk in ids:
            now = timezone.now()
            if AgentEvent.objects.filter(pk=pk, status=Status.PENDING).update(
                    status=Status.CLAIMED, worker_id=worker, claimed_at=now,
                    lease_until=now + timedelta(seconds=lease), attempts=F("attempts") + 1, updated_at=now):
                return AgentEvent.objects.select_related("account").get(pk=pk)
    return None


def _finish(event: AgentEvent, status: str, worker_id, **fields) -> AgentEvent:
    now = timezone.now()
    mine = AgentEvent.objects.filter(pk=event.pk, status=Status.CLAIMED)
    if worker_id:
        mine = mine.filter(worker_id=worker_id)
    done = mine.update(status=status, lease_until=None, finished_at=now, updated_at=now, **fields)
    event.refresh_from_db()
    if not done:
        if event.status == Status.CLAIMED:
            raise AgentError(f"Event {event.pk} is claimed by {event.worker_id}, not {worker_id}.", "not_yours", 409)
        raise AgentError(f"Event {event.pk} is {event.status}: claim it first.", "not_claimed", 409)
    return event


def complete(event: AgentEvent, note: str = "", worker_id: str | None = None) -> AgentEvent:
    """Mark a claimed event done (``note``: what the agent did)."""
    return _finish(event, Status.COMPLETED, worker_id, note=str(note or "")[:4000], error="")


def fail(event: AgentEvent, error: str = "", worker_id: str | None = None) -> AgentEvent:
    """Mark a claimed event failed with the agent's ``error`` (``retry`` puts it back)."""
    return _finish(event, Status.FAILED, worker_id, error=str(error or "failed")[:4000])


def release(event: AgentEvent) -> AgentEvent:
    """An operator returns a claimed (or stuck delivering) event to pending."""
    now = timezone.now()
    if not AgentEvent.objects.filter(pk=event.pk, status__in=[Status.CLAIMED, Status.DELIVERING]).update(
            status=Status.PENDING, worker_id="", lease_until=None, next_attempt_at=None, updated_at=now):
        raise AgentError(f"Event {event.pk} is {event.status}: only claimed events can be released.",
                         "wrong_state", 409)
    if event.delivery == AgentEvent.Delivery.CALLBACK:
        pk = event.pk
        transaction.on_commit(lambda: start_delivery(pk))
    event.refresh_from_db()
    return event


# --- replying ------------------------------------------------------------------------------------
def _file_root() -> str | None:
    root = app_settings.AGENT_FILE_ROOT
    return os.path.realpath(os.fspath(root)) if root else None


def local_path(url: str) -> str:
    """The real path of a ``file://`` URL or absolute path, refused unless under AGENT_FILE_ROOT."""
    path = unquote(urlsplit(url).path) if url.startswith("file://") else url
    root = _file_root()
    if root is None:
        raise AgentError("Sending local files is off (AGENT_FILE_ROOT is not set); use an http(s) URL.",
                         "path_refused", 400)
    if "\0" in path or not os.path.isabs(path):
        raise AgentError("A local file must be an absolute path.", "path_refused", 400)
    real = os.path.realpath(path)
    if os.path.commonpath([real, root]) != root:
        raise AgentError("That file is outside AGENT_FILE_ROOT.", "path_refused", 400)
    if not os.path.isfile(real):
        raise AgentError("No such file under AGENT_FILE_ROOT.", "file_not_found", 400)
    return real


def load_file(url: str) -> tuple[str, bytes, str]:
    """``(name, bytes, content type)`` of a file item's ``url``, within AGENT_MAX_FILE_SIZE."""
    limit = int(app_settings.AGENT_MAX_FILE_SIZE)
    if not isinstance(url, str) or not url:
        raise AgentError("A file item needs a url.", "missing_file")
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        try:
            with requests.get(url, stream=True, timeout=float(app_settings.AGENT_CALLBACK_TIMEOUT)) as response:
                if response.status_code != 200:
                    raise AgentError(f"Fetching the file answered HTTP {response.status_code}.", "file_unavailable")
                chunks, size = [], 0
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > limit:
                        raise AgentError(f"The file is larger than {limit} bytes.", "file_too_large")
                    chunks.append(chunk)
                content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        except requests.RequestException as err:
            raise AgentError(f"The file could not be fetched ({type(err).__name__}).", "file_unavailable") from None
        name = os.path.basename(unquote(urlsplit(url).path)) or "file"
        if "." not in name and content_type:  # WeChat's uploads are judged by the name's extension
            name += mimetypes.guess_extension(content_type) or ""
        return name, b"".join(chunks), content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    if scheme == "file" or url.startswith("/"):
        path = local_path(url)
        if os.path.getsize(path) > limit:
            raise AgentError(f"The file is larger than {limit} bytes.", "file_too_large")
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
        name = os.path.basename(path)
        return name, data, mimetypes.guess_type(name)[0] or "application/octet-stream"
    raise AgentError("url must be http(s)://, file:// or an absolute path.", "bad_url")


def validate_items(items) -> list[dict]:
    """The /send items, checked: text items and file items (file_type 1-4 and a url)."""
    if not isinstance(items, list) or not items:
        raise AgentError("items must be a non-empty list.")
    if len(items) > MAX_ITEMS:
        raise AgentError(f"At most {MAX_ITEMS} items per request.")
    checked = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise AgentError(f"item {number} must be an object.")
        kind = item.get("type")
        if kind == "text":
            text = item.get("text")
            if not isinstance(text, str) or not text.strip():
                raise AgentError(f"item {number}: a text item needs text.")
            if len(text) > MAX_TEXT_CHARS:
                raise AgentError(f"item {number}: text is longer than {MAX_TEXT_CHARS} characters.")
            checked.append({"type": "text", "text": text})
        elif kind == "file":
            file_type = item.get("file_type")
            if isinstance(file_type, bool) or file_type not in FILE_TYPES:
                raise AgentError(f"item {number}: unsupported file_type: {file_type!r} (1 image, 2 video, 3 voice, "
                                 "4 file).")
            url = item.get("url")
            if not isinstance(url, str) or not url:
                raise AgentError(f"item {number}: missing file item url.", "missing_file")
            if file_type == 3 and not urlsplit(url).path.lower().endswith(VOICE_EXTENSIONS):
                raise AgentError(f"item {number}: unsupported voice format (use {', '.join(VOICE_EXTENSIONS)}).")
            checked.append({"type": "file", "file_type": file_type, "url": url})
        else:
            raise AgentError(f"item {number}: type must be 'text' or 'file'.")
    return checked


def _to_user(to_user) -> str:
    if not isinstance(to_user, str) or not to_user or len(to_user) > 128:
        raise AgentError("to_user_id is required (at most 128 characters).")
    return to_user


def send(account, to_user_id: str, items, *, context_token: str = "", idempotency_key: str | None = None) -> dict:
    """Send the agent's reply items to a user through the account's channel.

    Everything is checked and every file loaded before anything is sent. Returns
    ``{"sent": [...]}``: per item what the channel did (for Official Accounts, the
    customer-service message queued, which the conversation view shows in the thread).
    """
    to_user = _to_user(to_user_id)
    checked = validate_items(items)
    channel = channels.for_account(account)
    loaded = []
    for item in checked:
        if item["type"] == "file":
            name, data, content_type = load_file(item["url"])
            loaded.append(channels.OutgoingFile(kind=FILE_TYPES[item["file_type"]], name=name, data=data,
                                                content_type=content_type))
        else:
            loaded.append(item["text"])
    results = []
    # "agent:" marks the agent's messages (the conversation view says who sent them); a given key
    # (a queued task's) makes a repeated run send nothing twice.
    request_key = idempotency_key or uuid.uuid4().hex
    for number, part in enumerate(loaded):
        key = f"agent:{request_key}:{number}"
        try:
            if isinstance(part, str):
                result = channel.send_text(account, to_user, part, context_token=context_token, idempotency_key=key)
            else:
                result = channel.send_file(account, to_user, part, context_token=context_token, idempotency_key=key)
        except (channels.ChannelError, ValidationError) as err:
            text = "; ".join(err.messages) if isinstance(err, ValidationError) else str(err)
            raise AgentError(text, "channel_refused", 400) from None
        _record_immediate_send(account, to_user, part, key, result)
        results.append(_describe(result))
    return {"sent": results}


def _record_immediate_send(account, to_user: str, part, key: str, result) -> None:
    """A channel that sends at once (iLink) leaves no queued message behind: record what the agent
    sent as a sent OutboundMessage, so that the conversation view shows it in the thread. Queued
    channels (Official Accounts, WeCom) answer their OutboundMessage rows and need nothing."""
    from ..models import OutboundMessage

    if isinstance(result, OutboundMessage) or (isinstance(result, list) and result
                                                 and all(isinstance(r, OutboundMessage) for r in result)):
        return
    Kind = OutboundMessage.Kind
    if isinstance(part, str):
        kind, payload = Kind.TEXT, {"content": part}
    else:
        kind = part.kind if part.kind in (Kind.IMAGE, Kind.VOICE, Kind.VIDEO) else Kind.FILE
        payload = {"file_name": part.name, "size": len(part.data), "content_type": part.content_type}
    now = timezone.now()
    OutboundMessage.objects.get_or_create(account=account, idempotency_key=key, defaults={
        "kind": kind, "to_user": to_user, "payload": payload, "status": OutboundMessage.Status.SENT,
        "attempts": 1, "sent_at": now})


def _describe(result) -> dict:
    from ..models import OutboundMessage

    if isinstance(result, OutboundMessage):
        return {"outbound_message": result.pk, "kind": result.kind, "status": result.status}
    if isinstance(result, list):
        return {"parts": [_describe(item) for item in result]}
    if isinstance(result, dict):
        return result
    return {"result": None if result is None else str(result)}


def typing(account, to_user_id: str, *, on: bool, context_token: str = "") -> None:
    to_user = _to_user(to_user_id)
    try:
        channels.for_account(account).typing(account, to_user, on=on, context_token=context_token)
    except channels.ChannelError as err:
        raise AgentError(str(err), "channel_refused", 400) from None


def queue_send(account, request: dict) -> AgentSendTask:
    """Check a /send request now and send it in a task; poll the returned task."""
    _to_user(request.get("to_user_id"))
    validate_items(request.get("items"))
    with transaction.atomic():
        task = AgentSendTask.objects.create(account=account, request=request)
        enqueue("agent_send", str(task.pk))
    return task


def run_send_task(task_id: str) -> str:
    """The ``agent_send`` task: send a queued request once and record the result."""
    if not AgentSendTask.objects.filter(pk=task_id, status=AgentSendTask.Status.QUEUED).update(
            status=AgentSendTask.Status.RUNNING, updated_at=timezone.now()):
        return "not queued"
    task = AgentSendTask.objects.select_related("account").get(pk=task_id)
    request = task.request
    try:
        result = send(task.account, request.get("to_user_id"), request.get("items"),
                      context_token=request.get("context_token") or "", idempotency_key=f"task:{task.pk}")
    except AgentError as err:
        AgentSendTask.objects.filter(pk=task_id).update(status=AgentSendTask.Status.FAILED, error=str(err),
                                                        updated_at=timezone.now())
        return AgentSendTask.Status.FAILED
    except Exception as err:  # keep the reason on the task; the traceback goes to the log
        logger.exception("agent send task %s failed", task_id)
        AgentSendTask.objects.filter(pk=task_id).update(status=AgentSendTask.Status.FAILED,
                                                        error=f"{type(err).__name__}: {err}"[:1000],
                                                        updated_at=timezone.now())
        return AgentSendTask.Status.FAILED
    AgentSendTask.objects.filter(pk=task_id).update(status=AgentSendTask.Status.DONE, result=result,
                                                    updated_at=timezone.now())
    return AgentSendTask.Status.DONE
