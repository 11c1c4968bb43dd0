"""Message-log statistics for an account, computed by the database (SQLite and PostgreSQL).

Every figure is an aggregate query; percentiles use an ordered OFFSET query (nearest-rank method)
rather than fetching the latencies, so they work the same on every database.
"""
from __future__ import annotations

import math
from datetime import date, timedelta

from django.db.models import Count, Max
from django.db.models.functions import TruncDate
from django.utils import timezone

from ..models import MessageLog


def _window(account, days: int):
    since = timezone.now() - timedelta(days=days)
    return MessageLog.objects.filter(account=account, created_at__gte=since)


def messages_per_day(account, days: int = 30) -> dict:
    """``{"days": [date, ...], "series": {msg_type: [count per day]}}`` for the last ``days`` days
    (today included), days without messages counted as 0."""
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    start = timezone.make_aware(timezone.datetime.combine(first, timezone.datetime.min.time()))
    rows = (MessageLog.objects.filter(account=account, created_at__gte=start)
            .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
            .values("day", "msg_type").annotate(n=Count("pk")).order_by())
    day_list = [first + timedelta(days=i) for i in range(days)]
    position = {d: i for i, d in enumerate(day_list)}
    series: dict[str, list[int]] = {}
    for row in rows:
        day = row["day"]
        if isinstance(day, str):  # some backends hand dates back as text
            day = date.fromisoformat(day[:10])
        if day not in position:
            continue
        series.setdefault(row["msg_type"], [0] * days)[position[day]] += row["n"]
    return {"days": day_list, "series": dict(sorted(series.items(), key=lambda kv: -sum(kv[1])))}


def top_rules(account, days: int = 30, limit: int = 10) -> list[dict]:
    """The rules that answered most often: ``[{"rule_id", "rule_name", "n", "last"}]``."""
    return list(_window(account, days).exclude(rule_name="")
                .values("rule_id", "rule_name").annotate(n=Count("pk"), last=Max("created_at"))
                .order_by("-n", "rule_name")[:limit])


def unmatched_messages(account, days: int = 30, limit: int = 20) -> list[dict]:
    """What users asked that no rule answered, grouped by text: ``[{"text", "n", "users", "last"}]``."""
    return list(_window(account, days).filter(status=MessageLog.Status.UNMATCHED).exclude(text="")
                .values("text").annotate(n=Count("pk"), users=Count("user", distinct=True),
                                         last=Max("created_at"))
                .order_by("-n", "-last")[:limit])


def latency_percentiles(account, days: int = 30, percentiles=(50, 95)) -> dict:
    """Reply latency percentiles in ms (nearest rank), ``{"n": count, 50: ms, 95: ms}``."""
    qs = _window(account, days).filter(latency_ms__isnull=False)
    count = qs.count()
    result: dict = {"n": count}
    ordered = qs.order_by("latency_ms").values_list("latency_ms", flat=True)
    for p in percentiles:
        if not count:
            result[p] = None
            continue
        rank = max(1, math.ceil(p / 100 * count))
        result[p] = ordered[rank - 1]
    return result


def totals(account, days: int = 30) -> dict:
    """Counts by status over the window, plus distinct users."""
    qs = _window(account, days)
    by_status = dict(qs.values_list("status").annotate(n=Count("pk")).order_by())
    return {
        "messages": sum(by_status.values()),
        "users": qs.values("user").distinct().count(),
        "by_status": by_status,
    }
