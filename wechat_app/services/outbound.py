"""Outbound operations shared by the admin, the commands, the tasks and the callback side.

Queueing validates first (nothing invalid is queued) and enqueues the delivery task on commit.
Delivery (``deliver``) is idempotent: a worker *claims* a message with one conditional UPDATE
(queued, or sending with an expired lease -> sending with a new lease), so two runs of the same
task never both send, and a message left "sending" by a crashed worker is taken over once its
lease expires. Template sends carry the idempotency key as WeChat's ``client_msg_id``, so even a
resend whose first answer was lost does not reach the user twice.

Outcomes: sent; permanent errors (43004, 40003, 45015, ...) fail at once with the reason;
transient ones (-1, timeouts, 5xx) retry with exponential backoff up to OUTBOUND_MAX_ATTEMPTS;
quota errors (45009, 45047) wait OUTBOUND_QUOTA_DELAY and retry without limit.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from ..client import WeChatAPIError, WeChatPayloadError, custom_message, template_data, template_keywords
from ..conf import app_settings
from ..models import Campaign, Follower, OutboundMessage, Template
from .tokens import get_cache, get_client

logger = logging.getLogger("wechat_app.outbound")
Status = OutboundMessage.Status


# --- queueing -------------------------------------------------------------------------------------
def _enqueue(message_id: int) -> None:
    from ..tasks import deliver_message

    deliver_message.delay_on_commit(message_id)


def _create(account, *, idempotency_key: str | None, **fields) -> OutboundMessage:
    """Create the row and enqueue its delivery on commit; an existing key returns that row."""
    key = idempotency_key or None
    if key is not None:
        existing = OutboundMessage.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            message = OutboundMessage.objects.create(account=account, **fields,
                                                     **({"idempotency_key": key} if key else {}))
            _enqueue(message.pk)
    except IntegrityError:  # the same key raced in from another caller: that row wins
        return OutboundMessage.objects.get(idempotency_key=key)
    return message


def queue_custom(account, openid: str, kind: str, content: dict, *, idempotency_key: str | None = None):
    """Validate and queue a customer-service message; return its OutboundMessage.

    Raises ``ValidationError`` (nothing queued) when WeChat would refuse the message.
    https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html
    """
    if kind == OutboundMessage.Kind.TEMPLATE:
        raise ValidationError("Use queue_template for template messages.")
    try:
        body = custom_message(openid, kind, content)
    except WeChatPayloadError as err:
        raise ValidationError(err.errmsg) from err
    return _create(account, idempotency_key=idempotency_key, kind=kind, to_user=openid, payload=body[kind])


def get_template(account, template_id: str) -> Template:
    try:
        return Template.objects.get(account=account, template_id=template_id, active=True)
    except Template.DoesNotExist:
        raise ValidationError(f"Unknown template {template_id!r} for {account}; sync the templates first "
                              f"(admin action or sync_templates).") from None


def template_payload(template: Template, data: dict, url: str | None = None, miniprogram: dict | None = None):
    """Validate data against the template's keywords; return the stored payload."""
    try:
        normalized = template_data(data, template.keywords)
    except WeChatPayloadError as err:
        raise ValidationError(err.errmsg) from err
    if url and not str(url).startswith(("http://", "https://")):
        raise ValidationError("The link must be an http(s) URL.")
    if miniprogram and (not isinstance(miniprogram, dict) or not miniprogram.get("appid")):
        raise ValidationError("A mini program needs an appid (and optionally a pagepath).")
    payload = {"template_id": template.template_id, "data": normalized}
    if url:
        payload["url"] = url
    if miniprogram:
        payload["miniprogram"] = {k: v for k, v in miniprogram.items() if k in ("appid", "pagepath")}
    return payload


def queue_template(account, openid: str, template_id: str, data: dict, *, url: str | None = None,
                   miniprogram: dict | None = None, idempotency_key: str | None = None):
    """Validate against the synced template and queue a template message.
    https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html"""
    if not openid:
        raise ValidationError("A recipient openid is required.")
    template = get_template(account, template_id)
    payload = template_payload(template, data, url, miniprogram)
    return _create(account, idempotency_key=idempotency_key, kind=OutboundMessage.Kind.TEMPLATE,
                   to_user=openid, template=template, payload=payload)


def reply_to_custom(reply) -> list[tuple[str, dict]]:
    """Customer-service messages ``(kind, content)`` carrying a passive reply's content."""
    kind = reply.type
    if kind == "text":
        return [("text", {"content": reply.content})]
    if kind in ("image", "voice"):
        return [(kind, {"media_id": reply.media_id})]
    if kind == "video":
        return [("video", {k: v for k, v in {"media_id": reply.media_id, "title": reply.title,
                                              "description": reply.description}.items() if v})]
    if kind == "music":
        return [("music", {k: v for k, v in {
            "musicurl": reply.music_url, "hqmusicurl": reply.hq_music_url or reply.music_url,
            "thumb_media_id": reply.thumb_media_id, "title": reply.title,
            "description": reply.description}.items() if v})]
    if kind == "news":  # customer-service news carry one article each
        return [("news", {"articles": [{"title": a.title, "description": a.description, "url": a.url,
                                        "picurl": a.pic_url}]}) for a in reply.articles]
    raise ValidationError(f"A {kind!r} reply cannot be sent as a customer-service message.")


def send_reply_later(account, openid: str, reply, *, idempotency_key: str | None = None) -> list[OutboundMessage]:
    """The 5-second rule: deliver a late passive reply as customer-service message(s).

    ``idempotency_key`` (for example the inbound message's dedupe key) keeps WeChat's retries
    of the same inbound message from sending the late reply twice.
    """
    parts = reply_to_custom(reply)
    return [queue_custom(account, openid, kind, content,
                         idempotency_key=f"{idempotency_key}:{i}" if idempotency_key else None)
            for i, (kind, content) in enumerate(parts)]


# --- delivery -------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What a delivery attempt did; ``retry_in`` is set when the task should run again."""

    status: str
    retry_in: float | None = None


def backoff(attempt: int) -> float:
    base = float(app_settings.OUTBOUND_RETRY_DELAY)
    delay = min(float(app_settings.OUTBOUND_RETRY_MAX_DELAY), base * 2 ** max(0, attempt - 1))
    return delay * random.uniform(0.75, 1.25)


def claim(message_id: int) -> bool:
    """Take a message for sending (atomic conditional UPDATE); False if not claimable now."""
    now = timezone.now()
    claimable = Q(status=Status.QUEUED) | Q(status=Status.SENDING, lease_until__lt=now)
    return bool(OutboundMessage.objects.filter(claimable, pk=message_id).update(
        status=Status.SENDING, lease_until=now + timedelta(seconds=app_settings.OUTBOUND_LEASE),
        attempts=F("attempts") + 1, next_attempt_at=None, updated_at=now))


def _finish(message: OutboundMessage, **fields) -> None:
    fields.setdefault("lease_until", None)
    fields["updated_at"] = timezone.now()
    # Only the holder of the claim writes the result.
    OutboundMessage.objects.filter(pk=message.pk, status=Status.SENDING).update(**fields)


def deliver(message_id: int, client=None) -> Outcome:
    """Send one outbound message if it is still to be sent; see the module docstring."""
    if not claim(message_id):
        status = OutboundMessage.objects.filter(pk=message_id).values_list("status", flat=True).first()
        # Sent, failed, cancelled: done. Sending: another worker holds it (or the sweeper will
        # take it over after the lease). Missing: deleted meanwhile.
        return Outcome(status or "missing")
    message = OutboundMessage.objects.select_related("account", "campaign").get(pk=message_id)
    campaign = message.campaign
    if campaign is not None and campaign.status != Campaign.Status.RUNNING:
        if campaign.status == Campaign.Status.CANCELLED:
            _finish(message, status=Status.CANCELLED, attempts=F("attempts") - 1)
            return Outcome(Status.CANCELLED)
        _finish(message, status=Status.QUEUED, attempts=F("attempts") - 1)  # paused: resume re-queues it
        return Outcome("paused")
    client = client or get_client(message.account)
    try:
        if message.kind == OutboundMessage.Kind.TEMPLATE:
            # client_msg_id: WeChat drops a second send of the same key (lost answers, crashes).
            p = message.payload
            msgid = client.message.template.send(message.to_user, p["template_id"], p["data"], url=p.get("url"),
                                                 miniprogram=p.get("miniprogram"),
                                                 client_msg_id=message.idempotency_key)
        else:
            client.message.custom.send(message.to_user, message.kind, message.payload)
            msgid = None
    except WeChatAPIError as err:
        return _failed_attempt(message, err)
    except Exception as err:  # a bug or an unexpected answer: keep the message, retry later
        logger.exception("delivery of outbound message %s crashed", message.pk)
        return _failed_attempt(message, WeChatAPIError(None, f"{type(err).__name__}: {err}", "deliver"))
    _finish(message, status=Status.SENT, msgid=msgid, sent_at=timezone.now(), errcode=0, errmsg="")
    return Outcome(Status.SENT)


def _failed_attempt(message: OutboundMessage, err: WeChatAPIError) -> Outcome:
    errmsg = err.errmsg[:1000]
    if err.is_quota:
        delay = float(app_settings.OUTBOUND_QUOTA_DELAY)
        _finish(message, status=Status.QUEUED, errcode=err.errcode, errmsg=errmsg,
                next_attempt_at=timezone.now() + timedelta(seconds=delay))
        return Outcome(Status.QUEUED, delay)
    retryable = err.is_transient or err.is_token_error
    if retryable and message.attempts < app_settings.OUTBOUND_MAX_ATTEMPTS:
        delay = backoff(message.attempts)
        _finish(message, status=Status.QUEUED, errcode=err.errcode, errmsg=errmsg,
                next_attempt_at=timezone.now() + timedelta(seconds=delay))
        return Outcome(Status.QUEUED, delay)
    # Permanent (43004, 40003, 45015, ...), unknown codes, or out of attempts: fail with the reason.
    reason = errmsg if not retryable else f"{errmsg} (gave up after {message.attempts} attempts)"
    _finish(message, status=Status.FAILED, errcode=err.errcode, errmsg=reason)
    logger.info("outbound message %s failed: %s", message.pk, err)
    return Outcome(Status.FAILED)


def due_message_ids(limit: int = 1000) -> list[int]:
    """Messages to (re)deliver now: retries that are due, enqueues that were lost, claims whose
    worker died. The sweeper task sends them; ``deliver`` makes duplicates harmless."""
    now = timezone.now()
    stale = now - timedelta(seconds=max(60, app_settings.OUTBOUND_LEASE))
    running = Q(campaign__isnull=True) | Q(campaign__status=Campaign.Status.RUNNING)
    due = (Q(status=Status.QUEUED, next_attempt_at__lte=now)
           | Q(status=Status.QUEUED, next_attempt_at__isnull=True, created_at__lt=stale)
           | Q(status=Status.SENDING, lease_until__lt=now))
    return list(OutboundMessage.objects.filter(due & running).order_by("id").values_list("id", flat=True)[:limit])


def resend(message: OutboundMessage) -> OutboundMessage:
    """Queue a failed or cancelled message again (admin action); attempts restart."""
    if message.status not in (Status.FAILED, Status.CANCELLED):
        raise ValidationError(f"Only failed or cancelled messages can be resent (this one is {message.status}).")
    with transaction.atomic():
        OutboundMessage.objects.filter(pk=message.pk).update(status=Status.QUEUED, attempts=0, errcode=None,
                                                             errmsg="", next_attempt_at=None)
        _enqueue(message.pk)
    message.refresh_from_db()
    return message


# --- templates ------------------------------------------------------------------------------------
def sync_templates(account) -> dict[str, int]:
    """Mirror the account's private templates; templates gone from WeChat become inactive."""
    remote = get_client(account).template.get_all_private()
    seen = []
    for item in remote:
        Template.objects.update_or_create(account=account, template_id=item["template_id"], defaults={
            "title": item.get("title", "")[:255], "content": item.get("content", ""),
            "example": item.get("example", ""), "keywords": template_keywords(item.get("content", "")),
            "primary_industry": item.get("primary_industry", "")[:64],
            "deputy_industry": item.get("deputy_industry", "")[:64], "raw": item, "active": True})
        seen.append(item["template_id"])
    gone = Template.objects.filter(account=account, active=True).exclude(template_id__in=seen).update(active=False)
    return {"synced": len(seen), "deactivated": gone}


# --- rate limit -----------------------------------------------------------------------------------
def acquire_send_slot(account_id: int, per_second: int) -> None:
    """Block until this account may send one more message this second (shared by all workers)."""
    if not per_second:
        return
    cache = get_cache()
    while True:
        now = time.time()
        key = f"{app_settings.CACHE_PREFIX}:rate:{account_id}:{int(now)}"
        cache.add(key, 0, 5)
        try:
            count = cache.incr(key)
        except ValueError:  # the window's key expired between add and incr
            continue
        if count <= per_second:
            return
        time.sleep(max(0.001, int(now) + 1 - time.time()))


# --- campaigns ------------------------------------------------------------------------------------
def create_campaign(account, name: str, template_id: str, data: dict, *, audience: str = Campaign.Audience.LIST,
                    openids: Iterable[str] = (), tag_id: int | None = None, url: str = "",
                    miniprogram: dict | None = None, rate_limit: int | None = None) -> Campaign:
    """Validate and save a draft campaign (start it with ``start_campaign``)."""
    template = get_template(account, template_id)
    template_payload(template, data, url, miniprogram)
    openids = list(dict.fromkeys(o for o in openids if o))
    if audience == Campaign.Audience.LIST and not openids:
        raise ValidationError("A list campaign needs at least one openid.")
    if audience == Campaign.Audience.TAG and tag_id is None:
        raise ValidationError("A tag campaign needs a tag id.")
    if audience not in Campaign.Audience.values:
        raise ValidationError(f"Unknown audience {audience!r}.")
    return Campaign.objects.create(account=account, name=name, template=template, data=data, url=url or "",
                                   miniprogram=miniprogram, audience=audience, openids=openids, tag_id=tag_id,
                                   rate_limit=rate_limit)


def campaign_recipients(campaign: Campaign) -> Iterable[str]:
    if campaign.audience == Campaign.Audience.LIST:
        return campaign.openids
    client = get_client(campaign.account)
    if campaign.audience == Campaign.Audience.TAG:
        return client.tag.iter_tag_users(campaign.tag_id)
    synced = Follower.objects.filter(account=campaign.account, subscribed=True)
    if synced.exists():
        return synced.order_by("id").values_list("openid", flat=True).iterator()
    return client.user.iter_followers()


def start_campaign(campaign: Campaign) -> int:
    """Create one queued message per recipient (once) and fan out chunk tasks; return the total."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status not in (Campaign.Status.DRAFT, Campaign.Status.PAUSED):
            raise ValidationError(f"The campaign is {campaign.get_status_display().lower()}; only drafts and "
                                  "paused campaigns can be started.")
        if campaign.status == Campaign.Status.DRAFT:
            payload = template_payload(campaign.template, campaign.data, campaign.url, campaign.miniprogram)
            batch = []
            for openid in campaign_recipients(campaign):
                batch.append(OutboundMessage(
                    account=campaign.account, campaign=campaign, template=campaign.template, kind="template",
                    to_user=openid, payload=payload, idempotency_key=f"campaign:{campaign.pk}:{openid}"))
                if len(batch) >= 1000:
                    OutboundMessage.objects.bulk_create(batch, ignore_conflicts=True)
                    batch = []
            OutboundMessage.objects.bulk_create(batch, ignore_conflicts=True)
            campaign.total = campaign.messages.count()
            campaign.started_at = timezone.now()
        campaign.status = Campaign.Status.RUNNING
        campaign.save(update_fields=["status", "total", "started_at"])
        transaction.on_commit(lambda: enqueue_campaign_chunks(campaign.pk))
    return campaign.total


def enqueue_campaign_chunks(campaign_id: int) -> int:
    from ..tasks import deliver_campaign_chunk

    ids = list(OutboundMessage.objects.filter(campaign_id=campaign_id, status=Status.QUEUED)
               .order_by("id").values_list("id", flat=True))
    size = max(1, int(app_settings.CAMPAIGN_CHUNK_SIZE))
    for start in range(0, len(ids), size):
        deliver_campaign_chunk.delay(campaign_id, ids[start:start + size])
    if not ids:
        finish_campaign_if_done(campaign_id)
    return len(ids)


def deliver_chunk(campaign_id: int, message_ids: list[int]) -> dict[str, int]:
    """Send a chunk of a campaign, rate-limited; stop when the campaign is paused or cancelled."""
    from ..tasks import deliver_message

    campaign = Campaign.objects.select_related("account").get(pk=campaign_id)
    per_second = campaign.rate_limit or app_settings.CAMPAIGN_RATE_LIMIT
    client = get_client(campaign.account)
    tally: dict[str, int] = {}
    for i, message_id in enumerate(message_ids):
        if i % 20 == 0 and Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first() \
                != Campaign.Status.RUNNING:
            break
        acquire_send_slot(campaign.account_id, per_second)
        outcome = deliver(message_id, client)
        if outcome.retry_in is not None:
            deliver_message.apply_async((message_id,), countdown=outcome.retry_in)
        tally[outcome.status] = tally.get(outcome.status, 0) + 1
    finish_campaign_if_done(campaign_id)
    return tally


def finish_campaign_if_done(campaign_id: int) -> bool:
    if OutboundMessage.objects.filter(campaign_id=campaign_id, status__in=[Status.QUEUED, Status.SENDING]).exists():
        return False
    return bool(Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.RUNNING).update(
        status=Campaign.Status.DONE, finished_at=timezone.now()))


def pause_campaign(campaign: Campaign) -> None:
    if not Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.RUNNING).update(
            status=Campaign.Status.PAUSED):
        raise ValidationError("Only a running campaign can be paused.")


def cancel_campaign(campaign: Campaign) -> int:
    """Cancel: queued recipients become cancelled (messages being sent finish); return how many."""
    with transaction.atomic():
        if not Campaign.objects.filter(pk=campaign.pk, status__in=[
                Campaign.Status.DRAFT, Campaign.Status.RUNNING, Campaign.Status.PAUSED]).update(
                status=Campaign.Status.CANCELLED, finished_at=timezone.now()):
            raise ValidationError("Only a draft, running or paused campaign can be cancelled.")
        return OutboundMessage.objects.filter(campaign=campaign, status=Status.QUEUED).update(
            status=Status.CANCELLED, updated_at=timezone.now())


def handle_template_job_finish(account, message) -> int:
    """Record a TEMPLATESENDJOBFINISH report (``message``: protocol.Message) on the message it is
    about; return how many rows were updated (0 for a msgid we did not send).
    https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html#6"""
    msgid = message.param.get("msg_id") or message.raw.get("MsgID") or message.raw.get("MsgId")
    try:
        msgid = int(msgid)
    except (TypeError, ValueError):
        return 0
    status = str(message.param.get("status") or message.raw.get("Status") or "")[:64]
    return OutboundMessage.objects.filter(account=account, msgid=msgid).update(delivery_status=status,
                                                                              updated_at=timezone.now())


# --- followers ------------------------------------------------------------------------------------
def _aware(epoch) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(epoch), tz=dt_timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def follower_subscribed(account, openid: str, at: int | None = None) -> Follower:
    follower, _ = Follower.objects.update_or_create(account=account, openid=openid, defaults={
        "subscribed": True, "subscribe_time": _aware(at) or timezone.now(), "unsubscribed_at": None})
    return follower


def follower_unsubscribed(account, openid: str, at: int | None = None) -> Follower:
    follower, _ = Follower.objects.update_or_create(account=account, openid=openid, defaults={
        "subscribed": False, "unsubscribed_at": _aware(at) or timezone.now()})
    return follower


def _follower_fields(info: dict) -> dict:
    subscribed = bool(info.get("subscribe"))
    return {"subscribed": subscribed, "subscribe_time": _aware(info.get("subscribe_time")),
            "unionid": info.get("unionid", "")[:128], "language": info.get("language", "")[:16],
            "remark": info.get("remark", "")[:64], "tags": info.get("tagid_list") or [],
            "subscribe_scene": info.get("subscribe_scene", "")[:64], "raw": info, "synced_at": timezone.now()}


def sync_followers(account, progress=None) -> dict[str, int]:
    """Page /cgi-bin/user/get and batch-fetch user info (100 per call) into Follower rows.

    Followers the sync did not see are marked unsubscribed. ``progress(done, total)`` is called
    after each batch.
    """
    client = get_client(account)
    batch_size = client.user.BATCH
    total = None
    done, seen, batch = 0, set(), []

    def flush():
        nonlocal done
        infos = client.user.batchget(batch)
        existing = {f.openid: f for f in Follower.objects.filter(account=account, openid__in=batch)}
        creates, updates = [], []
        for info in infos:
            fields = _follower_fields(info)
            follower = existing.get(info["openid"])
            if follower is None:
                creates.append(Follower(account=account, openid=info["openid"], **fields))
            else:
                for name, value in fields.items():
                    setattr(follower, name, value)
                follower.updated_at = timezone.now()
                updates.append(follower)
        with transaction.atomic():
            Follower.objects.bulk_create(creates, ignore_conflicts=True)
            if updates:
                Follower.objects.bulk_update(updates, list(_follower_fields({}).keys()) + ["updated_at"])
        done += len(batch)
        batch.clear()
        if progress:
            progress(done, total or done)

    started = timezone.now()
    next_openid = ""
    while True:
        page = client.user.get(next_openid)
        total = int(page.get("total") or 0)
        openids = (page.get("data") or {}).get("openid") or []
        for openid in openids:
            if openid in seen:
                continue
            seen.add(openid)
            batch.append(openid)
            if len(batch) >= batch_size:
                flush()
        next_openid = page.get("next_openid") or ""
        if not openids or not next_openid or len(seen) >= total:
            break
    if batch:
        flush()
    # Whoever the complete listing did not include has unsubscribed.
    # (updated_at: a subscribe event during the sync also counts as seen.)
    unsubscribed = Follower.objects.filter(account=account, subscribed=True, updated_at__lt=started).update(
        subscribed=False, unsubscribed_at=timezone.now())
    return {"total": total, "synced": done, "unsubscribed": unsubscribed}


def sync_followers_progress(account_id: int) -> dict | None:
    return get_cache().get(f"{app_settings.CACHE_PREFIX}:followers_sync:{account_id}")


def set_sync_progress(account_id: int, **state) -> None:
    get_cache().set(f"{app_settings.CACHE_PREFIX}:followers_sync:{account_id}", state, 3600)
