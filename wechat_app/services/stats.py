"""Message-log statistics for an account, computed by the database (SQLite and PostgreSQL).

Every figure is an aggregate query; percentiles use an ordered OFFSET query (nearest-rank method)
rather than fetching the latencies, so they work the same on every database.

The figures are about users: WeChat's own reports (``MessageLog.objects.system_events()``, such
as TEMPLATESENDJOBFINISH after each template send) stay in the log but are counted apart. A
message only the fallback rule answered (a top-level ``default`` rule: "Sorry?") is counted as
unanswered, not as answered by a rule.
"""
from __future__ import annotations

import math
from datetime import date, timedelta

from django.db.models import Count, Max, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from ..engine.spec import MatchKind
from ..models import MessageLog

# Answered by the fallback: a top-level default rule. A follow-up's default rule is the expected
# answer to the question its parent asked ("your name?" -> anything), so it does not count.
ANSWERED_BY_FALLBACK = Q(rule__match_kind=MatchKind.DEFAULT, rule__parent__isnull=True)
UNANSWERED = Q(status=MessageLog.Status.UNMATCHED) | ANSWERED_BY_FALLBACK
# Answered by a rule other than the fallback: a reply or a deliberate "no reply".
ANSWERED = Q(status__in=[MessageLog.Status.REPLIED, MessageLog.Status.NO_REPLY]) & ~ANSWERED_BY_FALLBACK


def _all_in_window(account, days: int):
    since = timezone.now() - timedelta(days=days)
    return MessageLog.objects.filter(account=account, created_at__gte=since)


def _window(account, days: int):
    """The users' messages of the last ``days`` days (WeChat's system events left out)."""
    return _all_in_window(account, days).from_users()


def messages_per_day(account, days: int = 30) -> dict:
    """``{"days": [date, ...], "series": {msg_type: [count per day]}}`` for the last ``days`` days
    (today included), days without messages counted as 0."""
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    start = timezone.make_aware(timezone.datetime.combine(first, timezone.datetime.min.time()))
    rows = (MessageLog.objects.filter(account=account, created_at__gte=start).from_users()
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
    """What users asked that no rule answered, or only the fallback rule did, grouped by text:
    ``[{"text", "n", "fallback" (how many of n the fallback answered), "users", "last"}]``."""
    return list(_window(account, days).filter(UNANSWERED).exclude(text="")
                .values("text").annotate(n=Count("pk"), fallback=Count("pk", filter=ANSWERED_BY_FALLBACK),
                                         users=Count("user", distinct=True), last=Max("created_at"))
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
    """The users' messages over the window: ``messages``, distinct ``users``, counts ``by_status``,
    ``answered`` by a rule other than the fallback (a reply or a deliberate "no reply"),
    ``fallback`` (answered by the fallback rule only), and ``system_events`` (WeChat's own
    reports, counted in none of the others)."""
    qs = _window(account, days)
    by_status = dict(qs.values_list("status").annotate(n=Count("pk")).order_by())
    answered = Q(status__in=[MessageLog.Status.REPLIED, MessageLog.Status.NO_REPLY])
    counts = qs.aggregate(answered=Count("pk", filter=ANSWERED),
                          fallback=Count("pk", filter=answered & ANSWERED_BY_FALLBACK))
    return {
        "messages": sum(by_status.values()),
        "users": qs.values("user").distinct().count(),
        "by_status": by_status,
        "answered": counts["answered"],
        "fallback": counts["fallback"],
        "system_events": _all_in_window(account, days).system_events().count(),
    }


def overview(account, days: int = 30) -> dict:
    """Every figure of the dashboard at once (the admin's dashboard and the REST API's stats):
    ``per_day``, ``top_rules``, ``unanswered``, ``totals``, ``latency`` and ``answer_rate`` (%)."""
    totals_ = totals(account, days)
    return {
        "days": days,
        "per_day": messages_per_day(account, days),
        "top_rules": top_rules(account, days),
        "unanswered": unmatched_messages(account, days),
        "totals": totals_,
        "latency": latency_percentiles(account, days),
        "answer_rate": round(100 * totals_["answered"] / totals_["messages"]) if totals_["messages"] else None,
    }
