"""One user's thread with an account: the message log rows and the operator's messages sent
between them, oldest first. Shared by the admin's conversation view and the REST API's
conversation endpoint, so both show the same thread."""
from __future__ import annotations

from django.core.paginator import Page, Paginator

from ..models import MessageLog, OutboundMessage

PER_PAGE = 100


def log_rows(account, openid: str):
    """The user's log rows, newest first (pages count back from the newest)."""
    return (MessageLog.objects.filter(account=account, user=openid).select_related("rule", "account")
            .prefetch_related("media").order_by("-created_at", "-id"))


def paginator(account, openid: str, per_page: int = PER_PAGE) -> Paginator:
    return Paginator(log_rows(account, openid), per_page)


def thread_items(account, openid: str, page: Page, turns) -> list[tuple[str, object]]:
    """The page's log rows (``turns``, oldest first) and the operator's messages sent in the same
    span, oldest first, as ``("log", MessageLog)`` / ``("sent", OutboundMessage)``."""
    sent = OutboundMessage.objects.filter(account=account, to_user=openid, campaign__isnull=True)
    if turns and page.has_next():  # older pages exist: start at this page's oldest message
        sent = sent.filter(created_at__gte=turns[0].created_at)
    if turns and page.has_previous():  # newer pages exist: stop at this page's newest message
        sent = sent.filter(created_at__lt=turns[-1].created_at)
    sent = list(sent.order_by("-created_at")[:200])
    items = [(log.created_at, 0, "log", log) for log in turns] + [(m.created_at, 1, "sent", m) for m in sent]
    return [(kind, obj) for _at, _order, kind, obj in sorted(items, key=lambda i: (i[0], i[1]))]


def thread(account, openid: str, page: Page) -> tuple[list, list[tuple[str, object]]]:
    """``(turns, items)`` of one page: its log rows oldest first, and the whole thread's items."""
    turns = list(reversed(page.object_list))
    return turns, thread_items(account, openid, page, turns)
