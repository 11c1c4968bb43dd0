"""Mass send (群发): validate, refuse beyond the account's quota, send once, record WeChat's report.

- ``create_mass`` validates everything WeChat would refuse (kind, content, audience) and saves a
  draft; ``queue_mass`` checks the quota under a lock on the account row (subscription accounts:
  1 a day; service accounts: 4 a month) *before* anything is sent, marks the row queued and
  enqueues ``send_mass``.
- ``send_mass`` claims the row (queued, or sending with an expired lease) with one conditional
  UPDATE, so two runs of the task never both call WeChat; the call carries the row's
  ``clientmsgid``, so a call whose answer was lost, made again, is answered 45065 "clientmsgid
  exist" with the first send's ``msg_id`` and reaches nobody twice.
- ``handle_mass_job_finish`` records MASSSENDJOBFINISH (total, filter, sent, error counts) once:
  a retried push changes nothing; a report that comes before the ``msg_id`` is recorded waits in
  the cache and is applied when it is.

Template campaigns (services.outbound) are for transactional notices; WeChat forbids marketing
by template message: mass send is for marketing.
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Batch_Sends_and_Originality_Checks.html
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ..client import WeChatAPIError, WeChatPayloadError, WeChatTransportError
from ..client.mass import mass_body
from ..conf import app_settings
from ..models import Account, MassMessage, Tag
from .enqueue import enqueue
from .tokens import get_cache, get_client

logger = logging.getLogger("wechat_app.mass")
Status = MassMessage.Status

# (sends, period) per account type, as WeChat allows them.
QUOTAS = {Account.Kind.SUBSCRIPTION: (1, "day"), Account.Kind.SERVICE: (4, "month")}
COUNTED = (Status.QUEUED, Status.SENDING, Status.SUBMITTED, Status.DONE, Status.DELETED)
LEASE = timedelta(seconds=120)
REPORT_WAIT = 3600
MAX_ATTEMPTS = 8
EXPLAINED = {
    45028: "the account has no mass-send quota left (WeChat's count)",
    45065: "a mass send with this clientmsgid exists",
    45159: "WeChat has no such tag (sync the tags)",
    40130: "a mass send by openid needs at least two openids",
    40032: "too many openids (at most 10,000)",
    40007: "WeChat does not know this media id",
    48001: "the account may not use mass send (it needs WeChat verification)",
}


def explain(err: WeChatAPIError) -> str:
    reason = EXPLAINED.get(err.errcode or 0)
    return f"{reason} ({err.errcode})" if reason else str(err)


# --- the quota ------------------------------------------------------------------------------------------
@dataclass
class Quota:
    limit: int
    period: str  # "day" | "month"
    used: int
    since: object  # the period's start (aware datetime)

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)

    def describe(self) -> str:
        return f"{self.used} of {self.limit} mass send(s) used this {self.period}"


def quota(account, now=None) -> Quota:
    """The account's mass-send quota and its use in the current day or month (local time)."""
    limit, period = QUOTAS.get(account.kind, QUOTAS[Account.Kind.SERVICE])
    local = timezone.localtime(now or timezone.now())
    since = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        since = since.replace(day=1)
    used = MassMessage.objects.filter(account=account, status__in=COUNTED, queued_at__gte=since).count()
    return Quota(limit, period, used, since)


# --- validation and drafts ------------------------------------------------------------------------------
OPENID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def clean_openid(value) -> str:
    value = value.strip() if isinstance(value, str) else ""
    if not OPENID_RE.match(value):
        raise ValidationError({"openid": f"An openid is 1 to 128 letters, digits, '-' or '_' (got {value[:40]!r})."})
    return value


def clean_openids(openids) -> list[str]:
    if not isinstance(openids, list) or not all(isinstance(o, str) for o in openids):
        raise ValidationError({"openids": "A list of openids."})
    openids = list(dict.fromkeys(o.strip() for o in openids if o.strip()))
    bad = [o for o in openids if not OPENID_RE.match(o)]
    if bad:
        raise ValidationError({"openids": f"Not an openid: {', '.join(repr(b[:40]) for b in bad[:5])}"})
    return openids


def validate(mass: MassMessage) -> None:
    """Raise ``ValidationError`` (by field) for anything WeChat would refuse."""
    errors = {}
    if mass.audience == MassMessage.Audience.TAG:
        if mass.tag is None:
            errors["tag"] = "A mass send to a tag needs a tag."
        elif mass.tag.account_id != mass.account_id:
            errors["tag"] = "The tag belongs to another account."
    try:
        mass_body(mass.kind, mass.content or {}, to_all=mass.audience == MassMessage.Audience.ALL,
                  tag_id=mass.tag.tag_id if mass.tag else None,
                  openids=mass.openids if mass.audience == MassMessage.Audience.LIST else None,
                  send_ignore_reprint=mass.send_ignore_reprint, clientmsgid=mass.clientmsgid)
    except WeChatPayloadError as err:
        text = str(err)
        errors.setdefault("openids" if "openid" in text else "content", text)
    if errors:
        raise ValidationError(errors)


def create_mass(account, *, name: str, kind: str, content: dict, audience: str = MassMessage.Audience.TAG,
                tag: Tag | None = None, openids: list[str] | None = None, send_ignore_reprint: bool = False,
                created_by=None) -> MassMessage:
    mass = MassMessage(account=account, name=name, kind=kind, content=content or {}, audience=audience,
                       tag=tag if audience == MassMessage.Audience.TAG else None,
                       openids=clean_openids(openids or []) if audience == MassMessage.Audience.LIST else [],
                       send_ignore_reprint=send_ignore_reprint, created_by=created_by)
    mass.full_clean(exclude=["created_by"])
    validate(mass)
    mass.save()
    return mass


# --- sending --------------------------------------------------------------------------------------------
def queue_mass(mass: MassMessage) -> MassMessage:
    """Send a draft: refused (``ValidationError``) beyond the account's quota, before WeChat is called."""
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=mass.account_id)  # one quota check at a time
        mass = MassMessage.objects.select_for_update().get(pk=mass.pk)
        if mass.status != Status.DRAFT:
            raise ValidationError(f"Only a draft can be sent; this one is {mass.get_status_display().lower()}.")
        validate(mass)
        current = quota(account)
        if current.left <= 0:
            kind = account.get_kind_display()
            raise ValidationError(
                f"{account.name} has used its mass sends: {current.describe()} (a {kind} may send "
                f"{current.limit} a {current.period}). Nothing was sent.")
        mass.status, mass.queued_at = Status.QUEUED, timezone.now()
        if mass.tag is not None:
            mass.tag_id_sent = mass.tag.tag_id
        mass.save(update_fields=["status", "queued_at", "tag_id_sent"])
        enqueue("send_mass", mass.pk)
    return mass


@dataclass
class SendOutcome:
    status: str
    retry_in: float | None = None


def _claim(mass_id: int):
    """Take the row for one send with one conditional UPDATE (queued, or sending with an expired
    lease): of two runs at once, one gets it; return it, or None."""
    now = timezone.now()
    # Queued and due (a retry waits until ``lease_until``), or left sending by a crashed worker.
    claimable = (Q(status=Status.QUEUED) & (Q(lease_until__isnull=True) | Q(lease_until__lte=now))) | Q(
        status=Status.SENDING, lease_until__lt=now)
    if not MassMessage.objects.filter(claimable, pk=mass_id).update(
            status=Status.SENDING, lease_until=now + LEASE, attempts=F("attempts") + 1):
        return None
    return MassMessage.objects.select_related("account").get(pk=mass_id)


def send_mass(mass_id: int, client=None) -> SendOutcome:
    """Send a queued mass message once (idempotent: a second run, or a retry whose first answer
    was lost, sends nothing more)."""
    mass = _claim(mass_id)
    if mass is None:
        current = MassMessage.objects.filter(pk=mass_id).values_list("status", flat=True).first()
        return SendOutcome(current or "missing")
    client = client or get_client(mass.account)
    try:
        if mass.audience == MassMessage.Audience.LIST:
            answer = client.mass.send(mass.openids, mass.kind, mass.content,
                                      send_ignore_reprint=mass.send_ignore_reprint, clientmsgid=mass.clientmsgid)
        else:
            tag_id = mass.tag_id_sent if mass.audience == MassMessage.Audience.TAG else None
            answer = client.mass.send_all(mass.kind, mass.content, tag_id=tag_id,
                                          send_ignore_reprint=mass.send_ignore_reprint, clientmsgid=mass.clientmsgid)
    except WeChatAPIError as err:
        if err.errcode == 45065 and (err.payload or {}).get("msg_id"):
            # Sent before (its answer was lost): this is that send.
            return _record_submitted(mass, err.payload)
        return _record_failure(mass, err)
    except Exception as err:  # an unexpected answer: keep the row, retry later
        logger.exception("mass message %s crashed", mass.pk)
        return _record_failure(mass, WeChatTransportError(None, f"{type(err).__name__}: {err}", "send_mass"))
    return _record_submitted(mass, answer)


def _record_submitted(mass: MassMessage, answer: dict) -> SendOutcome:
    fields = {"status": Status.SUBMITTED, "msg_id": int(answer["msg_id"]), "sent_at": timezone.now(),
              "lease_until": None, "errcode": 0, "errmsg": ""}
    if answer.get("msg_data_id"):
        fields["msg_data_id"] = int(answer["msg_data_id"])
    MassMessage.objects.filter(pk=mass.pk, status=Status.SENDING).update(**fields)
    _apply_pending_report(mass.account_id, fields["msg_id"])
    return SendOutcome(Status.SUBMITTED)


def _record_failure(mass: MassMessage, err: WeChatAPIError) -> SendOutcome:
    retryable = isinstance(err, WeChatTransportError) or err.is_transient or err.is_token_error or (
        err.is_quota and err.errcode != 45028)
    if retryable and mass.attempts < MAX_ATTEMPTS:
        delay = min(float(app_settings.OUTBOUND_RETRY_DELAY) * 2 ** (mass.attempts - 1), 600.0)
        MassMessage.objects.filter(pk=mass.pk, status=Status.SENDING).update(
            status=Status.QUEUED, lease_until=timezone.now() + timedelta(seconds=delay), errcode=err.errcode,
            errmsg=str(err)[:1000])
        return SendOutcome(Status.QUEUED, delay)
    MassMessage.objects.filter(pk=mass.pk, status=Status.SENDING).update(
        status=Status.FAILED, lease_until=None, errcode=err.errcode, errmsg=explain(err)[:1000])
    logger.info("mass message %s failed: %s", mass.pk, err)
    return SendOutcome(Status.FAILED)


def due_mass_ids(limit: int = 100) -> list[int]:
    """Queued sends whose retry is due (or lost enqueues), and sends of crashed workers."""
    now = timezone.now()
    due = (Q(status=Status.QUEUED) & (Q(lease_until__isnull=True) | Q(lease_until__lte=now))) | Q(
        status=Status.SENDING, lease_until__lt=now)
    return list(MassMessage.objects.filter(due).values_list("pk", flat=True)[:limit])


# --- WeChat's report ----------------------------------------------------------------------------------
def _report_key(account_id: int, msg_id: int) -> str:
    return f"{app_settings.CACHE_PREFIX}:massjobfinish:{account_id}:{msg_id}"


def _apply_report(account_id: int, msg_id: int, report: dict) -> int:
    """Counts recorded once: only a row without a report yet is updated."""
    status = Status.DONE if str(report.get("wechat_status", "")).startswith("send success") else None
    fields = dict(report, reported_at=timezone.now())
    updated = MassMessage.objects.filter(account_id=account_id, msg_id=msg_id, reported_at__isnull=True).exclude(
        status=Status.DELETED).update(**fields, **({"status": status} if status else {}))
    if not updated:  # deleted meanwhile: the counts still belong to it
        updated = MassMessage.objects.filter(account_id=account_id, msg_id=msg_id, reported_at__isnull=True).update(
            **fields)
    return updated


def handle_mass_job_finish(account, message) -> int:
    """Record a MASSSENDJOBFINISH report (``message``: protocol.Message); return rows updated (0 for
    a repeated report, or one that waits for its ``msg_id``)."""
    try:
        msg_id = int(message.param.get("msg_id") or message.raw.get("MsgID") or message.raw.get("MsgId"))
    except (TypeError, ValueError):
        return 0
    param = message.param
    report = {"wechat_status": str(param.get("status") or "")[:64]}
    for name in ("total_count", "filter_count", "sent_count", "error_count"):
        value = param.get(name)
        if isinstance(value, int) and value >= 0:
            report[name] = value
    updated = _apply_report(account.pk, msg_id, report)
    if not updated and not MassMessage.objects.filter(account=account, msg_id=msg_id).exists():
        key = _report_key(account.pk, msg_id)
        get_cache().add(key, report, REPORT_WAIT)  # the first report wins
        updated = _apply_report(account.pk, msg_id, report)  # recorded in between
        if updated:
            get_cache().delete(key)
    return updated


def _apply_pending_report(account_id: int, msg_id: int) -> int:
    key = _report_key(account_id, msg_id)
    report = get_cache().get(key)
    if report is None:
        return 0
    get_cache().delete(key)
    return _apply_report(account_id, msg_id, report)


# --- preview, status, delete -----------------------------------------------------------------------------
def _call(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except WeChatPayloadError as err:
        raise ValidationError(str(err)) from err
    except WeChatAPIError as err:
        if isinstance(err, WeChatTransportError) or err.is_transient:
            raise
        raise ValidationError(f"WeChat refused: {explain(err)}") from err


def preview_mass(mass: MassMessage, openid: str) -> int:
    """Send the message to one follower (not counted in the quota); return WeChat's msg_id."""
    openid = clean_openid(openid)
    answer = _call(get_client(mass.account).mass.preview, openid, mass.kind, mass.content)
    return int(answer.get("msg_id") or 0)


WECHAT_STATUSES = {"SEND_SUCCESS": Status.DONE, "SEND_FAIL": Status.FAILED, "DELETE": Status.DELETED}


def refresh_status(mass: MassMessage) -> MassMessage:
    """/mass/get: WeChat's status of a submitted send."""
    if not mass.msg_id:
        raise ValidationError("This mass message has not been submitted to WeChat.")
    answer = _call(get_client(mass.account).mass.get, mass.msg_id)
    wechat = str(answer.get("msg_status") or "")
    fields = {"wechat_status": wechat[:64]} if not mass.reported_at else {}
    if wechat in WECHAT_STATUSES and mass.status in (Status.SUBMITTED, Status.DONE):
        fields["status"] = WECHAT_STATUSES[wechat]
    if fields:
        MassMessage.objects.filter(pk=mass.pk).update(**fields)
    mass.refresh_from_db()
    return mass


def delete_mass(mass: MassMessage, article_idx: int = 0) -> MassMessage:
    """/mass/delete: an mpnews or mpvideo send stops opening; the record stays (status deleted)."""
    if not mass.msg_id or mass.status not in (Status.SUBMITTED, Status.DONE):
        raise ValidationError("Only a mass message WeChat has sent can be deleted there.")
    if mass.kind not in (MassMessage.Kind.MPNEWS, MassMessage.Kind.MPVIDEO):
        raise ValidationError("WeChat deletes only articles (mpnews) and videos (mpvideo) once sent.")
    if not isinstance(article_idx, int) or not 0 <= article_idx <= 8:
        raise ValidationError("article_idx is 0 (all articles) to 8.")
    _call(get_client(mass.account).mass.delete, mass.msg_id, article_idx)
    MassMessage.objects.filter(pk=mass.pk).update(status=Status.DELETED)
    mass.refresh_from_db()
    return mass
