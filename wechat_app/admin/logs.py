"""The message log: read-only, filtered to the user's accounts, with a per-user conversation view."""
from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from ..models import MessageLog
from . import conversation_reply
from .access import AccountScopedAdminMixin, get_account_or_404
from .filters import AccountListFilter, RuleListFilter, refuse_nul
from .rules import describe_reply

STATUS_CLASSES = {"replied": "ok", "no_reply": "muted", "unmatched": "warn", "error": "err", "received": "muted"}


def describe_message(log) -> str:
    if log.msg_type == "event":
        return f"⚡ {log.event}" + (f" · {log.event_key}" if log.event_key else "")
    if log.text:
        return log.text
    return f"[{log.msg_type}]"


@admin.register(MessageLog)
class MessageLogAdmin(AccountScopedAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "account", "user_link", "msg_type", "message_display", "rule_link",
                    "reply_display", "status_display", "latency_display", "retry_count"]
    list_display_links = ["created_at"]
    list_filter = [AccountListFilter, "msg_type", ("created_at", admin.DateFieldListFilter), RuleListFilter,
                   "status", "encrypted"]
    list_select_related = ["account", "rule"]
    search_fields = ["user", "text", "event_key"]
    search_help_text = _("Search by user (openid) or message text.")
    date_hierarchy = "created_at"
    list_per_page = 50
    show_full_result_count = False  # counting a big log on every page is slow
    readonly_fields = ["account", "created_at", "user", "msg_type", "event", "event_key", "text", "msg_id",
                       "dedupe_key", "status", "rule", "rule_name", "reply", "latency_ms", "retry_count",
                       "encrypted", "error", "message", "raw_xml", "reply_xml"]
    fieldsets = [
        (None, {"fields": [("account", "created_at"), ("user", "msg_type"), ("event", "event_key"), "text",
                           ("status", "rule", "rule_name"), "reply", ("latency_ms", "retry_count", "encrypted"),
                           "error"]}),
        (_("Raw"), {"fields": ["msg_id", "dedupe_key", "message", "raw_xml", "reply_xml"], "classes": ["collapse"]}),
    ]

    class Media:
        css = {"all": ["wechat_app/css/console.css"]}

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # The log is the record of what happened; only superusers may prune it.
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    @admin.display(description=_("user"), ordering="user")
    def user_link(self, log):
        url = reverse("admin:wechat_app_messagelog_conversation", args=[log.account_id]) + "?" + urlencode(
            {"user": log.user})
        return format_html('<a href="{}" title="{}">{}</a>', url, _("Conversation"), Truncator(log.user).chars(18))

    @admin.display(description=_("message"))
    def message_display(self, log):
        return Truncator(describe_message(log)).chars(60)

    @admin.display(description=_("rule"), ordering="rule_name")
    def rule_link(self, log):
        if log.rule_id:
            return format_html('<a href="{}">{}</a>', reverse("admin:wechat_app_rule_change", args=[log.rule_id]),
                               log.rule_name or log.rule.name)
        return log.rule_name or "—"

    @admin.display(description=_("reply"))
    def reply_display(self, log):
        if not log.reply:
            return "—"
        return Truncator(describe_reply(log.reply)).chars(50)

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, log):
        return format_html('<span class="wx-status wx-status-{}">{}</span>', STATUS_CLASSES.get(log.status, "muted"),
                           log.get_status_display())

    @admin.display(description=_("latency"), ordering="latency_ms")
    def latency_display(self, log):
        return "—" if log.latency_ms is None else f"{log.latency_ms:.0f} ms"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("conversation/<int:account_id>/", wrap(self.conversation_view),
                 name="wechat_app_messagelog_conversation"),
        ] + super().get_urls()

    def conversation_view(self, request, account_id):
        """One user's thread with the account, oldest first, as a chat."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        refuse_nul(request.GET)
        account = get_account_or_404(request, account_id)
        user = request.GET.get("user", "")
        reply_form = conversation_reply.handle_reply(request, account, user)  # the operator's answer
        if isinstance(reply_form, HttpResponse):
            return reply_form
        logs = (MessageLog.objects.filter(account=account, user=user).select_related("rule")
                .order_by("-created_at", "-id"))
        page = Paginator(logs, 100).get_page(request.GET.get("page"))
        turns = list(reversed(page.object_list))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts, "title": _("Conversation with %(user)s") % {"user": user},
            "account": account, "user_id": user, "page": page, "turns": turns, "media": self.media,
            "items": conversation_reply.thread_items(account, user, page, turns),
            **conversation_reply.reply_context(request, account, user, reply_form),
        }
        return TemplateResponse(request, "admin/wechat_app/messagelog/conversation.html", context)
