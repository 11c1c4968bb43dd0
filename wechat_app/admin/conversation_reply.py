"""Answering a user from the conversation view: a customer-service text message, allowed while
WeChat's 48-hour window is open, queued through the outbound service (a row first, then the
delivery task). The operator's messages show in the thread between the user's."""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.utils.translation import gettext as _

from ..models import OutboundMessage
from ..services import conversations, outbound
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


# The thread itself is shared with the REST API's conversation endpoint.
thread_items = conversations.thread_items


def reply_context(request, account, openid: str, form) -> dict:
    return {"reply_form": form, "can_reply": can_reply(request),
            "reply_window": outbound.customer_service_window(account, openid) if openid else None}
