"""Answering a user from the conversation view: a customer-service text message, allowed while
WeChat's 48-hour window is open, queued through the outbound service (a row first, then the
delivery task). The operator's messages show in the thread between the user's."""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.utils.translation import gettext as _

from ..models import OutboundMessage
from ..services import outbound
from .access import can_in_some_account
from .outbound_forms import ReplyForm, clean_openid


def can_reply(request) -> bool:
    """Replying queues an outbound message: the add permission on outbound messages (the
    account's access is checked by the view)."""
    return can_in_some_account(request.user, "add", OutboundMessage)


def handle_reply(request, account, openid: str):
    """POST: queue the reply and redirect back to the thread (PRG); an invalid form is returned
    to be shown with its errors. GET: a fresh form."""
    if request.method != "POST":
        return ReplyForm(account=account)
    if not can_reply(request):
        raise PermissionDenied
    form = ReplyForm(request.POST, account=account)
    if not form.is_valid():
        return form
    try:
        clean_openid(openid)
        message = outbound.reply_as_operator(account, openid, form.cleaned_data["text"],
                                             idempotency_key=f"reply:{form.cleaned_data['key']}",
                                             kf_account=form.cleaned_data.get("kf_account") or None)
    except ValidationError as err:
        form.add_error(None, err)
        return form
    messages.success(request, _("Reply queued (#%(id)s); it shows below with its delivery status.")
                     % {"id": message.pk})
    return HttpResponseRedirect(request.get_full_path())


def thread_items(account, openid: str, page, turns) -> list[tuple[str, object]]:
    """The page's log rows and the operator's messages sent in the same span, oldest first, as
    ``("log", MessageLog)`` / ``("sent", OutboundMessage)``."""
    sent = OutboundMessage.objects.filter(account=account, to_user=openid, campaign__isnull=True)
    if turns and page.has_next():  # older pages exist: start at this page's oldest message
        sent = sent.filter(created_at__gte=turns[0].created_at)
    if turns and page.has_previous():  # newer pages exist: stop at this page's newest message
        sent = sent.filter(created_at__lt=turns[-1].created_at)
    sent = list(sent.order_by("-created_at")[:200])
    items = [(log.created_at, 0, "log", log) for log in turns] + [(m.created_at, 1, "sent", m) for m in sent]
    return [(kind, obj) for _at, _order, kind, obj in sorted(items, key=lambda i: (i[0], i[1]))]


def reply_context(request, account, openid: str, form) -> dict:
    return {"reply_form": form, "can_reply": can_reply(request),
            "reply_window": outbound.customer_service_window(account, openid) if openid else None}
