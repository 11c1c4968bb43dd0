"""QR codes with scene tracking, and short keys: created through WeChat, counted from the log.

- ``create_qrcode(qr)`` asks /cgi-bin/qrcode/create for an unsaved, validated ``QRCode`` and
  saves it with WeChat's ticket and URL; ``png(qr)`` draws the code locally (segno) from that
  URL, the same picture WeChat's showqrcode serves, without a round trip.
- ``figures(qrcodes)`` counts what each code brought in from the message log: scans (SCAN events
  with the scene, plus subscribes through the code), new followers (subscribe events whose
  EventKey is ``qrscene_<scene>``) and distinct users. A retried event is one log row (its
  dedupe key is unique), so it counts once.
- ``link_rule(qr, reply)`` creates (or reuses) the event rule for SCAN + scene that answers the
  code; the engine gives subscribes with ``qrscene_<scene>`` to the same rule.
- ``shorten(account, long_data)`` / ``expand(account, short_key)``: genshorten / fetchshorten.
"""
from __future__ import annotations

import io
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import Lower
from django.utils import timezone

from ..models import MessageLog, QRCode, Rule, ShortLink
from .tokens import get_client

QRSCENE = "qrscene_"


def create_qrcode(qr: QRCode) -> QRCode:
    """Create the code on WeChat and save it (raises WeChatAPIError / WeChatTransportError; nothing
    is saved then). ``qr`` must have passed ``full_clean``."""
    request_qrcode(qr)
    qr.save()
    return qr


def request_qrcode(qr: QRCode) -> QRCode:
    """Ask WeChat for the code and fill ``ticket``, ``url``, ``scene`` and ``expires_at`` (unsaved)."""
    client = get_client(qr.account)
    scene = qr.scene_id if qr.scene_id is not None else qr.scene_str
    permanent = qr.kind == QRCode.Kind.PERMANENT
    answer = client.qrcode.create(scene, expire_seconds=qr.expire_seconds, permanent=permanent)
    qr.ticket = str(answer["ticket"])
    qr.url = str(answer.get("url") or "")
    qr.scene = qr.scene_value
    if not permanent:
        qr.expires_at = timezone.now() + timedelta(seconds=int(answer.get("expire_seconds") or qr.expire_seconds))
    return qr


def png(qr: QRCode, scale: int = 8) -> bytes:
    """The code as a PNG, drawn from its URL."""
    import segno

    out = io.BytesIO()
    segno.make(qr.url or qr.ticket, error="m").save(out, kind="png", scale=scale, border=2)
    return out.getvalue()


def scene_events(account_id, scene: str):
    """The log rows of events a code's scene brought: SCAN <scene> and subscribe qrscene_<scene>."""
    return (MessageLog.objects.filter(account_id=account_id, msg_type="event")
            .annotate(_event=Lower("event"))
            .filter(Q(_event="scan", event_key=scene) | Q(_event="subscribe", event_key=QRSCENE + scene)))


def figures(qr: QRCode) -> dict[str, int]:
    """``{"scans", "new_followers", "users"}`` of one code."""
    rows = scene_events(qr.account_id, qr.scene)
    totals = rows.aggregate(scans=Count("id"), new_followers=Count("id", filter=Q(_event="subscribe")),
                            users=Count("user", distinct=True))
    return {k: int(v or 0) for k, v in totals.items()}


def figures_for(qrcodes) -> dict[int, dict[str, int]]:
    """``figures`` of several codes (one query per account)."""
    result = {}
    by_account: dict[int, dict[str, int]] = {}
    for qr in qrcodes:
        by_account.setdefault(qr.account_id, {})[qr.scene] = qr.pk
        result[qr.pk] = {"scans": 0, "new_followers": 0, "users": 0}
    for account_id, scenes in by_account.items():
        keys = list(scenes) + [QRSCENE + s for s in scenes]
        rows = (MessageLog.objects.filter(account_id=account_id, msg_type="event", event_key__in=keys)
                .annotate(_event=Lower("event")).filter(_event__in=("scan", "subscribe"))
                .values("_event", "event_key").annotate(n=Count("id"), users=Count("user", distinct=True)))
        for row in rows:
            key, event = row["event_key"], row["_event"]
            if event == "subscribe" and key.startswith(QRSCENE):
                scene = key[len(QRSCENE):]
            elif event == "scan":
                scene = key
            else:
                continue
            pk = scenes.get(scene)
            if pk is None:
                continue
            result[pk]["scans"] += row["n"]
            result[pk]["users"] += row["users"]  # an upper bound across the two events
            if event == "subscribe":
                result[pk]["new_followers"] += row["n"]
    return result


def link_rule(qr: QRCode, reply: str) -> Rule:
    """The event rule (SCAN + the code's scene) answering ``reply``; linked to the code."""
    with transaction.atomic():
        rule = Rule.objects.filter(account=qr.account, match_kind="event", match_value__iexact="SCAN",
                                   match_key=qr.scene, parent__isnull=True).first()
        if rule is None:
            if not reply.strip():
                raise ValueError("give the reply text of the new rule")
            base = f"QR code {qr.name}"[:90]
            name, n = base, 1
            while Rule.objects.filter(account=qr.account, name=name).exists():
                n += 1
                name = f"{base} ({n})"
            rule = Rule(account=qr.account, name=name, match_kind="event", match_value="SCAN", match_key=qr.scene,
                        replies=[{"type": "text", "content": reply.strip()}])
            rule.full_clean()
            rule.save()
        qr.rule = rule
        qr.save(update_fields=["rule"])
    return rule


def shorten(account, long_data: str, expire_seconds: int = 2592000) -> ShortLink:
    """A saved ``ShortLink`` with WeChat's short key for ``long_data``."""
    link = ShortLink(account=account, long_data=long_data, expire_seconds=expire_seconds)
    link.full_clean(exclude=["short_key"])
    link.short_key = get_client(account).shorturl.generate(long_data, expire_seconds)
    link.expires_at = timezone.now() + timedelta(seconds=expire_seconds)
    link.save()
    return link


def expand(account, short_key: str) -> dict:
    """WeChat's ``{"long_data", "create_time", "expire_seconds"}`` for a short key."""
    return get_client(account).shorturl.fetch(short_key)


def shorten_qrcode_url(qr: QRCode) -> ShortLink:
    link = shorten(qr.account, qr.url)
    qr.short_key = link.short_key
    qr.save(update_fields=["short_key"])
    return link
