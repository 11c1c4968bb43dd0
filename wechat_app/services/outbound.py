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
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F, Q, Value
from django.db.models.expressions import RawSQL
from django.utils import timezone

from ..client import WeChatAPIError, WeChatPayloadError, custom_message, template_data, template_keywords
from ..conf import app_settings
from ..models import Campaign, Follower, OutboundMessage, Template
from .enqueue import enqueue
from .tokens import get_cache, get_client

logger = logging.getLogger("wechat_app.outbound")
Status = OutboundMessage.Status


# --- queueing -------------------------------------------------------------------------------------
def _create(account, *, idempotency_key: str | None, **fields) -> OutboundMessage:
    """Create the row and enqueue its delivery on commit; an existing key (of this account)
    returns that row."""
    key = idempotency_key or None
    if key is not None:
        existing = OutboundMessage.objects.filter(account=account, idempotency_key=key).first()
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            message = OutboundMessage.objects.create(account=account, **fields,
                                                     **({"idempotency_key": key} if key else {}))
            enqueue("deliver_message", message.pk)
        message.created_now = True  # the caller made it (not a repeat of an existing key)
    except IntegrityError:  # the same key raced in from another caller: that row wins
        return OutboundMessage.objects.get(account=account, idempotency_key=key)
    return message


def queue_custom(account, openid: str, kind: str, content: dict, *, idempotency_key: str | None = None,
                 request_hash: str = ""):
    """Validate and queue a customer-service message; return its OutboundMessage.

    Raises ``ValidationError`` (nothing queued) when WeChat would refuse the message.
    ``request_hash``: the REST API's fingerprint of the request, stored with the row.
    https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html
    """
    if kind == OutboundMessage.Kind.TEMPLATE:
        raise ValidationError("Use queue_template for template messages.")
    try:
        body = custom_message(openid, kind, content)
    except WeChatPayloadError as err:
        raise ValidationError(err.errmsg) from err
    payload = dict(body[kind])
    if "customservice" in body:  # sent as a kf account: kept for the delivery (custom_message reads it)
        payload["kf_account"] = body["customservice"]["kf_account"]
    return _create(account, idempotency_key=idempotency_key, kind=kind, to_user=openid, payload=payload,
                   request_hash=request_hash)


def get_template(account, template_id: str) -> Template:
    try:
        return Template.objects.get(account=account, template_id=template_id, active=True)
    except Template.DoesNotExist:
        raise ValidationError(f"Unknown template {template_id!r} for {account}; sync the templates first "
                              f"(manage.py wechat_sync templates --account {account.name}, or Sync in the admin's "
                              f"Templates page).") from None


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
                   miniprogram: dict | None = None, idempotency_key: str | None = None, request_hash: str = ""):
    """Validate against the synced template and queue a template message.
    https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html"""
    if not openid:
        raise ValidationError("A recipient openid is required.")
    template = get_template(account, template_id)
    payload = template_payload(template, data, url, miniprogram)
    return _create(account, idempotency_key=idempotency_key, kind=OutboundMessage.Kind.TEMPLATE,
                   to_user=openid, template=template, payload=payload, request_hash=request_hash)


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
    if account.channel == "wecom":  # a WeCom app answers with app messages
        from .wecom import send_reply_later as send_app_reply

        return send_app_reply(account, openid, reply, idempotency_key=idempotency_key)
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
    quota: bool = False  # refused for quota (45009, 45047...): later sends would be refused too


def backoff(attempt: int) -> float:
    base = float(app_settings.OUTBOUND_RETRY_DELAY)
    delay = min(float(app_settings.OUTBOUND_RETRY_MAX_DELAY), base * 2 ** max(0, attempt - 1))
    return delay * random.uniform(0.75, 1.25)


def _claimable(now) -> Q:
    """Rows a worker may take now: queued and due, or held by a claim whose lease expired."""
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return (Q(status=Status.QUEUED) & due) | Q(status=Status.SENDING, lease_until__lt=now)


def _claim_fields(now, claim_id: str) -> dict:
    return {"status": Status.SENDING, "claim": claim_id, "attempts": F("attempts") + 1, "next_attempt_at": None,
            "lease_until": now + timedelta(seconds=app_settings.OUTBOUND_LEASE), "updated_at": now}


def claim(message_id: int) -> str | None:
    """Take one message for sending (one conditional UPDATE); return the claim id, or None if
    it is not claimable now (sent, failed, held by a live claim, or waiting for its retry)."""
    now = timezone.now()
    claim_id = uuid.uuid4().hex
    claimed = OutboundMessage.objects.filter(Q(status=Status.QUEUED) | Q(status=Status.SENDING, lease_until__lt=now),
                                             pk=message_id).update(**_claim_fields(now, claim_id))
    return claim_id if claimed else None


def _finish(message_id: int, claim_id: str, **fields) -> int:
    """Record a result; only the holder of the claim writes (a taken-over claim writes nothing)."""
    fields.setdefault("lease_until", None)
    fields["updated_at"] = timezone.now()
    return OutboundMessage.objects.filter(pk=message_id, status=Status.SENDING, claim=claim_id).update(**fields)


def _attempt(client, message: OutboundMessage) -> tuple[Outcome, dict]:
    """Send ``message`` once; return the outcome and the fields to record."""
    if message.kind == OutboundMessage.Kind.WECOM_APP:
        return _attempt_app_message(client, message)
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
        return _failure(message, err)
    except Exception as err:  # a bug or an unexpected answer: keep the message, retry later
        logger.exception("delivery of outbound message %s crashed", message.pk)
        return _failure(message, WeChatAPIError(None, f"{type(err).__name__}: {err}", "deliver"))
    return Outcome(Status.SENT), {"status": Status.SENT, "msgid": msgid, "sent_at": timezone.now(),
                                  "errcode": 0, "errmsg": ""}


def _unreached(answer: dict | None) -> dict:
    """WeCom's invaliduser / invalidparty / invalidtag, as the message's fields."""
    answer = answer or {}
    return {"invalid_user": str(answer.get("invaliduser") or ""), "invalid_party": str(answer.get("invalidparty") or ""),
            "invalid_tag": str(answer.get("invalidtag") or "")}


def _attempt_app_message(client, message: OutboundMessage) -> tuple[Outcome, dict]:
    """Send a WeCom app message once; record WeCom's msgid and whom it could not reach."""
    try:
        answer = client.message.send_body(message.payload)
    except WeChatAPIError as err:
        outcome, fields = _failure(message, err)
        fields.update(_unreached(err.payload))  # 81013: no one was reachable, and who they were
        return outcome, fields
    except Exception as err:  # a bug or an unexpected answer: keep the message, retry later
        logger.exception("delivery of outbound message %s crashed", message.pk)
        return _failure(message, WeChatAPIError(None, f"{type(err).__name__}: {err}", "deliver"))
    return Outcome(Status.SENT), {"status": Status.SENT, "sent_at": timezone.now(), "errcode": 0, "errmsg": "",
                                  "wecom_msgid": str(answer.get("msgid") or "")[:128], **_unreached(answer)}


def _failure(message: OutboundMessage, err: WeChatAPIError) -> tuple[Outcome, dict]:
    errmsg = err.errmsg[:1000]
    if err.is_quota:
        delay = float(app_settings.OUTBOUND_QUOTA_DELAY)
        return Outcome(Status.QUEUED, delay, quota=True), {
            "status": Status.QUEUED, "errcode": err.errcode, "errmsg": errmsg,
            "next_attempt_at": timezone.now() + timedelta(seconds=delay)}
    retryable = err.is_transient or err.is_token_error
    if retryable and message.attempts < app_settings.OUTBOUND_MAX_ATTEMPTS:
        delay = backoff(message.attempts)
        return Outcome(Status.QUEUED, delay), {"status": Status.QUEUED, "errcode": err.errcode, "errmsg": errmsg,
                                               "next_attempt_at": timezone.now() + timedelta(seconds=delay)}
    # Permanent (43004, 40003, 45015, ...), unknown codes, or out of attempts: fail with the reason.
    reason = errmsg if not retryable else f"{errmsg} (gave up after {message.attempts} attempts)"
    logger.info("outbound message %s failed: %s", message.pk, err)
    return Outcome(Status.FAILED), {"status": Status.FAILED, "errcode": err.errcode, "errmsg": reason}


def deliver(message_id: int, client=None) -> Outcome:
    """Send one outbound message if it is still to be sent; see the module docstring."""
    claim_id = claim(message_id)
    if claim_id is None:
        status = OutboundMessage.objects.filter(pk=message_id).values_list("status", flat=True).first()
        # Sent, failed, cancelled: done. Sending: another worker holds it (or the sweeper will
        # take it over after the lease). Missing: deleted meanwhile.
        return Outcome(status or "missing")
    message = OutboundMessage.objects.select_related("account", "campaign").get(pk=message_id)
    campaign = message.campaign
    if campaign is not None and campaign.status != Campaign.Status.RUNNING:
        if campaign.status == Campaign.Status.CANCELLED:
            _finish(message.pk, claim_id, status=Status.CANCELLED, attempts=F("attempts") - 1)
            return Outcome(Status.CANCELLED)
        _finish(message.pk, claim_id, status=Status.QUEUED, attempts=F("attempts") - 1)  # paused: resume re-queues
        return Outcome("paused")
    outcome, fields = _attempt(client or get_client(message.account), message)
    if _finish(message.pk, claim_id, **fields) and fields.get("msgid"):
        apply_pending_reports(message.account_id, [fields["msgid"]])
    return outcome


def due_message_ids(limit: int = 1000) -> list[int]:
    """Single messages to (re)deliver now: retries that are due, enqueues that were lost, claims
    whose worker died. The sweeper task sends them; ``deliver`` makes duplicates harmless.
    Campaign messages are resumed per campaign (``due_campaign_ids``), rate-limited."""
    now = timezone.now()
    stale = now - timedelta(seconds=max(60, app_settings.OUTBOUND_LEASE))
    due = (Q(status=Status.QUEUED, next_attempt_at__lte=now)
           | Q(status=Status.QUEUED, next_attempt_at__isnull=True, created_at__lt=stale)
           | Q(status=Status.SENDING, lease_until__lt=now))
    return list(OutboundMessage.objects.filter(due, campaign__isnull=True).order_by("id")
                .values_list("id", flat=True)[:limit])


def resend(message: OutboundMessage) -> OutboundMessage:
    """Queue a failed or cancelled message again (admin action); attempts restart."""
    if message.status not in (Status.FAILED, Status.CANCELLED):
        raise ValidationError(f"Only failed or cancelled messages can be resent (this one is {message.status}).")
    with transaction.atomic():
        OutboundMessage.objects.filter(pk=message.pk).update(status=Status.QUEUED, attempts=0, errcode=None,
                                                             errmsg="", next_attempt_at=None, invalid_user="",
                                                             invalid_party="", invalid_tag="")
        enqueue("deliver_message", message.pk)
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
def acquire_send_slots(account_id: int, per_second: int, wanted: int = 1) -> int:
    """Block until this account may send more messages this second (a window shared by all
    workers); return how many it may send now (1..wanted). One cache round trip per call."""
    if not per_second:
        return wanted
    cache = get_cache()
    while True:
        now = time.time()
        key = f"{app_settings.CACHE_PREFIX}:rate:{account_id}:{int(now)}"
        try:
            count = cache.incr(key, wanted)
        except ValueError:  # first call of this second: create the window (5 s to live)
            cache.add(key, 0, 5)
            continue
        granted = min(wanted, per_second - (count - wanted))
        if granted > 0:
            return granted
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


def _create_recipients(campaign: Campaign, payload: dict, openids: list[str]) -> None:
    """One queued message per openid (an existing key is left alone).

    On PostgreSQL one ``INSERT ... SELECT FROM unnest(openids)``, every other column a constant
    taken from a model instance (so defaults and auto_now stay Django's); elsewhere bulk_create.
    Building 10,000 model instances costs more than sending to a tenth of them.
    """
    if not openids:
        return
    key_prefix = f"campaign:{campaign.pk}:"
    row = OutboundMessage(account=campaign.account, campaign=campaign, template=campaign.template, kind="template",
                          to_user="", payload=payload, idempotency_key="")
    if connection.vendor != "postgresql":
        rows = []
        for openid in openids:
            row = OutboundMessage(account=campaign.account, campaign=campaign, template=campaign.template,
                                  kind="template", to_user=openid, payload=payload, idempotency_key=key_prefix + openid)
            rows.append(row)
        OutboundMessage.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
        return
    qn = connection.ops.quote_name
    columns, values, params = [], [], []
    for field in OutboundMessage._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(qn(field.column))
        if field.name == "to_user":
            values.append("r.openid")
        elif field.name == "idempotency_key":
            values.append("%s || r.openid")
            params.append(key_prefix)
        else:
            values.append(f"%s::{field.cast_db_type(connection)}")
            params.append(field.get_db_prep_save(field.pre_save(row, add=True), connection))
    sql = (f"INSERT INTO {qn(OutboundMessage._meta.db_table)} ({', '.join(columns)}) "
           f"SELECT {', '.join(values)} FROM unnest(%s::text[]) AS r(openid) ON CONFLICT DO NOTHING")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, list(openids)])


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
                batch.append(openid)
                if len(batch) >= 10000:
                    _create_recipients(campaign, payload, batch)
                    batch = []
            _create_recipients(campaign, payload, batch)
            campaign.total = campaign.messages.count()
            campaign.started_at = timezone.now()
        campaign.status = Campaign.Status.RUNNING
        campaign.save(update_fields=["status", "total", "started_at"])
        transaction.on_commit(lambda: enqueue_campaign_chunks(campaign.pk))
    return campaign.total


def enqueue_campaign_chunks(campaign_id: int, lanes: int | None = None) -> int:
    """Start the campaign's delivery lanes: ``lanes`` (default CAMPAIGN_CONCURRENCY, at most one
    per chunk) chunk tasks, each re-enqueueing itself while work remains; return how many."""
    pending = OutboundMessage.objects.filter(campaign_id=campaign_id, status__in=[Status.QUEUED, Status.SENDING])
    if lanes is None:
        chunks = -(-pending.count() // max(1, int(app_settings.CAMPAIGN_CHUNK_SIZE)))
        lanes = min(max(1, int(app_settings.CAMPAIGN_CONCURRENCY)), chunks)
    for _ in range(lanes):
        enqueue("deliver_campaign_chunk", campaign_id, on_commit=False)  # callers run this on commit
    if not lanes:
        finish_campaign_if_done(campaign_id)
    return lanes


CLAIM_BATCH = 50  # rows claimed (and their results recorded) per UPDATE
SLOT_BLOCK = 10  # rate-limit slots taken per cache round trip


def claim_campaign_batch(campaign_id: int, limit: int) -> tuple[str, list[OutboundMessage]]:
    """Claim up to ``limit`` sendable messages of a campaign; return the claim id and the rows.

    The ids are picked with ``SELECT ... FOR UPDATE SKIP LOCKED`` (concurrent claimers take
    different rows; SQLite, without row locks, runs one writer at a time), then claimed with
    one conditional UPDATE. Two statements on purpose: PostgreSQL may re-run a ``LIMIT ... FOR
    UPDATE`` subquery inside an UPDATE and claim more than ``limit`` rows.
    """
    claim_id = uuid.uuid4().hex
    for _ in range(3):  # without row locks another claimer may win the picked rows: pick again
        now = timezone.now()
        with transaction.atomic():
            ids = list(OutboundMessage.objects.filter(_claimable(now), campaign_id=campaign_id).order_by("id")
                       .select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
            if not ids:
                return claim_id, []
            claimed = OutboundMessage.objects.filter(_claimable(now), pk__in=ids).update(
                **_claim_fields(now, claim_id))
        if claimed:
            rows = OutboundMessage.objects.filter(pk__in=ids, status=Status.SENDING, claim=claim_id).only(
                "id", "kind", "to_user", "payload", "idempotency_key", "attempts").order_by("id")
            return claim_id, list(rows)
    return claim_id, []


def _record_sent(account_id: int, claim_id: str, msgids: dict[int, int | None]) -> None:
    """Mark a batch sent with one UPDATE, each row with its own msgid; then apply the delivery
    reports that arrived first."""
    if not msgids:
        return
    now = timezone.now()
    known = [(pk, m) for pk, m in msgids.items() if m is not None]
    msgid = Value(None, output_field=models.BigIntegerField())
    if known:
        # A plain SQL CASE: a Case(When(...)) per row costs more Python than the UPDATE itself.
        column = connection.ops.quote_name(OutboundMessage._meta.pk.column)
        msgid = RawSQL(f"CASE {column} " + "WHEN %s THEN %s " * len(known) + "END",
                       [v for pair in known for v in pair], output_field=models.BigIntegerField())
    OutboundMessage.objects.filter(pk__in=list(msgids), status=Status.SENDING, claim=claim_id).update(
        status=Status.SENT, msgid=msgid, sent_at=now, errcode=0, errmsg="", lease_until=None, updated_at=now)
    apply_pending_reports(account_id, msgids.values())


def _release(claim_id: str, messages: list[OutboundMessage], next_attempt_at=None) -> None:
    """Give claimed but unsent messages back (their attempt did not happen)."""
    if messages:
        OutboundMessage.objects.filter(pk__in=[m.pk for m in messages], status=Status.SENDING,
                                       claim=claim_id).update(
            status=Status.QUEUED, attempts=F("attempts") - 1, lease_until=None, next_attempt_at=next_attempt_at,
            updated_at=timezone.now())


class _ReusedToken:
    """Hold the account's token for a few seconds instead of a cache read per message."""

    TTL = 5.0

    def __init__(self, provider):
        self.provider = provider
        self.token, self.until = None, 0.0

    def get_token(self, client):
        if self.token is None or time.monotonic() > self.until:
            self.token, self.until = self.provider.get_token(client), time.monotonic() + self.TTL
        return self.token

    def invalidate(self, client, token):
        self.token = None
        self.provider.invalidate(client, token)


@dataclass
class ChunkResult:
    """What a chunk did: counts by outcome, whether work remains for this lane (``more``), and
    when to look again for retries that are not due yet (``retry_in``)."""

    tally: dict[str, int]
    more: bool = False
    retry_in: float | None = None


def deliver_chunk(campaign_id: int) -> ChunkResult:
    """Send up to CAMPAIGN_CHUNK_SIZE messages of a running campaign, rate-limited per account.

    Messages are claimed CLAIM_BATCH at a time (one UPDATE) and their results recorded in one
    UPDATE per batch; the claim's lease covers the batch, so a worker that dies mid-batch leaves
    rows the next claimer takes over once the lease expires (template resends carry
    ``client_msg_id``: WeChat drops them). Stops when the campaign is paused or cancelled.
    """
    tally: dict[str, int] = {}
    campaign = Campaign.objects.select_related("account").filter(pk=campaign_id).first()
    if campaign is None:
        return ChunkResult(tally)
    per_second = campaign.rate_limit or app_settings.CAMPAIGN_RATE_LIMIT
    client = get_client(campaign.account)
    client.token_provider = _ReusedToken(client.token_provider)
    size = max(1, int(app_settings.CAMPAIGN_CHUNK_SIZE))
    lease = float(app_settings.OUTBOUND_LEASE)
    done, stopped, quota_delay = 0, False, None
    while done < size and not stopped:
        if Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first() != Campaign.Status.RUNNING:
            return ChunkResult(tally)
        claim_id, messages = claim_campaign_batch(campaign_id, min(CLAIM_BATCH, size - done))
        if not messages:
            break
        done += len(messages)
        send_until = time.monotonic() + lease * 0.8  # never send on a claim about to expire
        sent: dict[int, int | None] = {}
        slots = 0
        for i, message in enumerate(messages):
            if time.monotonic() > send_until:
                _release(claim_id, messages[i:])
                stopped = True
                break
            if not slots:
                slots = acquire_send_slots(campaign.account_id, per_second, min(SLOT_BLOCK, len(messages) - i))
            slots -= 1
            outcome, fields = _attempt(client, message)
            tally[outcome.status] = tally.get(outcome.status, 0) + 1
            if outcome.status == Status.SENT:
                sent[message.pk] = fields["msgid"]
                continue
            _finish(message.pk, claim_id, **fields)
            if outcome.quota:
                # Quota reached: the rest of the batch would be refused too; all wait together.
                _release(claim_id, messages[i + 1:], fields["next_attempt_at"])
                stopped, quota_delay = True, outcome.retry_in
                break
        _record_sent(campaign.account_id, claim_id, sent)
    if quota_delay is not None:
        return ChunkResult(tally, retry_in=quota_delay)
    if done >= size or (stopped and done):
        return ChunkResult(tally, more=True)
    if finish_campaign_if_done(campaign_id):
        return ChunkResult(tally)
    # Nothing to claim now: retries may be waiting for their time.
    nxt = OutboundMessage.objects.filter(campaign_id=campaign_id, status=Status.QUEUED,
                                         next_attempt_at__isnull=False).order_by("next_attempt_at") \
        .values_list("next_attempt_at", flat=True).first()
    if nxt is not None:
        return ChunkResult(tally, retry_in=max(0.0, (nxt - timezone.now()).total_seconds()))
    return ChunkResult(tally)


def due_campaign_ids() -> list[int]:
    """Running campaigns whose delivery must be resumed (the sweeper starts a lane for each):
    claims of a dead worker past their lease, retries that are due, or queued rows nobody has
    touched for a while (lost chunk tasks). Running campaigns with nothing left are finished."""
    now = timezone.now()
    stale = now - timedelta(seconds=max(60, app_settings.OUTBOUND_LEASE))
    due = []
    for campaign_id in Campaign.objects.filter(status=Campaign.Status.RUNNING).values_list("id", flat=True):
        rows = OutboundMessage.objects.filter(campaign_id=campaign_id)
        if (rows.filter(Q(status=Status.SENDING, lease_until__lt=now)
                        | Q(status=Status.QUEUED, next_attempt_at__lte=now)).exists()
                or (rows.filter(status=Status.QUEUED, next_attempt_at__isnull=True).exists()
                    and not rows.filter(updated_at__gte=stale).exists())):
            due.append(campaign_id)
        else:
            finish_campaign_if_done(campaign_id)
    return due


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


REPORT_WAIT = 3600  # seconds a delivery report waits for the msgid it is about to be recorded


def _report_key(account_id: int, msgid: int) -> str:
    return f"{app_settings.CACHE_PREFIX}:jobfinish:{account_id}:{msgid}"


def _apply_report(account_id: int, msgid: int, status: str) -> int:
    return OutboundMessage.objects.filter(account_id=account_id, msgid=msgid).update(
        delivery_status=status, updated_at=timezone.now())


def handle_template_job_finish(account, message) -> int:
    """Record a TEMPLATESENDJOBFINISH report (``message``: protocol.Message) on the message it is
    about (``success``, ``failed:user block``, ``failed: system failed``); return how many rows
    were updated.

    The report can arrive before the worker has recorded the msgid (a campaign records its
    results per batch): it then waits in the cache (REPORT_WAIT) and is applied when the msgid
    is recorded (``apply_pending_reports``). Trying again after parking it closes the race with
    a worker that recorded the msgid in between.
    https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html#6"""
    msgid = message.param.get("msg_id") or message.raw.get("MsgID") or message.raw.get("MsgId")
    try:
        msgid = int(msgid)
    except (TypeError, ValueError):
        return 0
    status = str(message.param.get("status") or message.raw.get("Status") or "")[:64]
    updated = _apply_report(account.pk, msgid, status)
    if not updated:
        key = _report_key(account.pk, msgid)
        get_cache().set(key, status, REPORT_WAIT)
        updated = _apply_report(account.pk, msgid, status)
        if updated:
            get_cache().delete(key)
    return updated


def apply_pending_reports(account_id: int, msgids: Iterable[int | None]) -> int:
    """Apply delivery reports that arrived before these msgids were recorded; return how many."""
    keys = {_report_key(account_id, m): m for m in msgids if m is not None}
    if not keys:
        return 0
    cache = get_cache()
    found = cache.get_many(list(keys))
    for key, status in found.items():
        _apply_report(account_id, keys[key], status)
    if found:
        cache.delete_many(list(found))
    return len(found)


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


def sync_followers_tracked(account, progress=None) -> dict[str, int]:
    """``sync_followers`` with its progress kept in the cache for the admin (``sync_followers_progress``);
    ``progress(done, total)`` is also called after each batch."""
    def track(done, total):
        set_sync_progress(account.pk, status="running", done=done, total=total)
        if progress:
            progress(done, total)

    set_sync_progress(account.pk, status="running", done=0, total=None)
    try:
        result = sync_followers(account, progress=track)
    except Exception as err:
        set_sync_progress(account.pk, status="failed", error=str(err)[:500])
        raise
    set_sync_progress(account.pk, status="done", done=result["synced"], total=result["total"])
    return result


def sync_followers_progress(account_id: int) -> dict | None:
    return get_cache().get(f"{app_settings.CACHE_PREFIX}:followers_sync:{account_id}")


def set_sync_progress(account_id: int, **state) -> None:
    get_cache().set(f"{app_settings.CACHE_PREFIX}:followers_sync:{account_id}", state, 3600)


# --- operator tools (admin): previews, tests, replies -----------------------------------------------
def render_template_message(template: Template, data: dict) -> str:
    """The template's text as the user will read it: ``{{name.DATA}}`` replaced by the values
    (a keyword without a value stays visible as ``{{name.DATA}}``)."""
    from ..client.messages import TEMPLATE_KEYWORD_RE

    def value(match):
        item = (data or {}).get(match.group(1))
        if isinstance(item, dict):
            item = item.get("value")
        return match.group(0) if item in (None, "") else str(item)

    return TEMPLATE_KEYWORD_RE.sub(value, template.content or "")


def send_campaign_test(campaign: Campaign, openid: str) -> OutboundMessage:
    """Queue the campaign's message to one user (a test before starting); it is not part of the
    campaign's recipients or figures."""
    return queue_template(campaign.account, openid, campaign.template.template_id, campaign.data,
                          url=campaign.url or None, miniprogram=campaign.miniprogram)


# WeChat lets an account send customer-service messages to a user for 48 hours after the user
# interacted: sent a message, followed, scanned a QR code or clicked one of these menu buttons.
# Other events (VIEW, LOCATION, reports such as TEMPLATESENDJOBFINISH) do not open the window.
CUSTOMER_SERVICE_WINDOW = timedelta(hours=48)
WINDOW_EVENTS = ("subscribe", "scan", "click", "scancode_push", "scancode_waitmsg")


@dataclass
class ReplyWindow:
    """Whether a customer-service message may reach ``openid`` now, and why (the last interaction)."""

    last_interaction: datetime | None
    closes_at: datetime | None

    @property
    def open(self) -> bool:
        return self.closes_at is not None and timezone.now() < self.closes_at


def customer_service_window(account, openid: str) -> ReplyWindow:
    """The 48-hour customer-service window of one user, from the message log.
    https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html"""
    from django.db.models.functions import Lower

    from ..models import MessageLog

    last = (MessageLog.objects.filter(account=account, user=openid).annotate(event_lower=Lower("event"))
            .filter(~Q(msg_type="event") | Q(event_lower__in=WINDOW_EVENTS))
            .order_by("-created_at").values_list("created_at", flat=True).first())
    return ReplyWindow(last, last + CUSTOMER_SERVICE_WINDOW if last else None)


def reply_as_operator(account, openid: str, text: str, *, idempotency_key: str | None = None,
                      kf_account: str | None = None) -> OutboundMessage:
    """Queue an operator's text reply to a user (customer-service message), sent as ``kf_account``
    when given; ``ValidationError`` when the 48-hour window is closed or WeChat would refuse the text."""
    window = customer_service_window(account, openid)
    if not window.open:
        raise ValidationError("The user has not written in the last 48 hours; WeChat refuses customer-service "
                              "messages outside that window (use a template message).")
    content = {"content": text, **({"kf_account": kf_account} if kf_account else {})}
    return queue_custom(account, openid, "text", content, idempotency_key=idempotency_key)
