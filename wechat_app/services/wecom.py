"""WeCom apps: app messages through the outbound queue, replies as app messages, files.

An app message (应用消息) is one ``OutboundMessage`` of kind ``wecom_app`` whatever the number of
recipients (WeCom takes up to 1000 members, 100 departments and 100 tags per call); it goes
through the same idempotent delivery as customer-service messages (Celery task, claim, retries,
statuses), and WeCom's answer is stored on it: ``wecom_msgid`` and the recipients WeCom could not
reach (``invalid_user`` / ``invalid_party`` / ``invalid_tag``). When none was reachable WeCom
answers 81013 and the message fails with them listed.
https://developer.work.weixin.qq.com/document/path/90236

Usage::

    from wechat_app.services import wecom
    wecom.queue_app_message(account, "text", {"content": "Meeting at 3"}, touser=["zhangsan"], toparty=[2])
"""
from __future__ import annotations

from django.core.exceptions import ValidationError

from ..client import WeChatPayloadError, app_message
from ..client.wecom import MEDIA_KINDS
from ..models import OutboundMessage
from .outbound import _create, reply_to_custom
from .tokens import get_client

Kind = OutboundMessage.Kind


def require_wecom(account) -> None:
    if account.channel != "wecom":
        raise ValidationError(f"{account} is not a WeCom app: app messages are sent by WeCom apps only.")


def recipients_summary(body: dict) -> str:
    """What ``to_user`` shows of an app message's recipients (at most 128 characters)."""
    parts = [body["touser"]] if body.get("touser") else []
    parts += [f"party:{body['toparty']}"] if body.get("toparty") else []
    parts += [f"tag:{body['totag']}"] if body.get("totag") else []
    summary = " ".join(parts)
    return summary if len(summary) <= 128 else summary[:125] + "..."


def queue_app_message(account, msgtype: str, content: dict, *, touser=None, toparty=None, totag=None,
                      safe: bool = False, idempotency_key: str | None = None, request_hash: str = "",
                      **options) -> OutboundMessage:
    """Validate and queue an app message of a WeCom app; return its OutboundMessage.

    ``touser`` / ``toparty`` / ``totag`` are lists of ids or "a|b" strings (``touser="@all"``:
    everyone the app can see); ``options``: ``enable_duplicate_check``, ``duplicate_check_interval``,
    ``enable_id_trans``. Raises ``ValidationError`` (nothing queued) for what WeCom would refuse.
    """
    require_wecom(account)
    try:
        body = app_message(account.agent_id, msgtype, content, touser=touser, toparty=toparty, totag=totag,
                           safe=safe, **options)
    except WeChatPayloadError as err:
        raise ValidationError(err.errmsg) from err
    return _create(account, idempotency_key=idempotency_key, kind=Kind.WECOM_APP, to_user=recipients_summary(body),
                   payload=body, request_hash=request_hash)


def reply_to_app_messages(reply) -> list[tuple[str, dict]]:
    """App messages ``(msgtype, content)`` carrying a passive reply's content (a rule's reply sent
    late, or by an agent): text and media as in a customer-service message; news in one message."""
    kind = reply.type
    if kind in ("text", "image", "voice", "video"):
        return reply_to_custom(reply)
    if kind == "news":  # an app message carries up to 8 articles, like the passive reply
        return [("news", {"articles": [{k: v for k, v in {"title": a.title, "description": a.description,
                                                           "url": a.url, "picurl": a.pic_url}.items() if v}
                                       for a in reply.articles]})]
    raise ValidationError(f"A {kind!r} reply cannot be sent as a WeCom app message.")


def send_reply_later(account, userid: str, reply, *, idempotency_key: str | None = None) -> list[OutboundMessage]:
    """A rule's reply to a member, sent as app message(s) (the 5-second rule, agent replies)."""
    return [queue_app_message(account, msgtype, content, touser=[userid],
                              idempotency_key=f"{idempotency_key}:{i}" if idempotency_key else None)
            for i, (msgtype, content) in enumerate(reply_to_app_messages(reply))]


def upload_media(account, kind: str, name: str, data: bytes) -> str:
    """Upload a file as temporary media (three days) of the app's corp; return its media_id."""
    require_wecom(account)
    if kind not in MEDIA_KINDS:
        raise ValidationError(f"A WeCom file is one of {', '.join(MEDIA_KINDS)} (not {kind!r}).")
    return get_client(account).media.upload(kind, (name, data))["media_id"]


def send_file(account, userid: str, kind: str, name: str, data: bytes, *,
              idempotency_key: str | None = None) -> OutboundMessage:
    """Upload a file, then queue it to a member as an app message of its kind. A repeat with the
    same ``idempotency_key`` returns the queued message without uploading again."""
    require_wecom(account)
    if idempotency_key:
        existing = OutboundMessage.objects.filter(account=account, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    media_id = upload_media(account, kind, name, data)
    return queue_app_message(account, kind, {"media_id": media_id}, touser=[userid], idempotency_key=idempotency_key)
