"""The message log: read-only, filtered to the user's accounts, with a per-user conversation view."""
from __future__ import annotations

import json

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from ..models import MessageLog
from ..services import conversations
from . import conversation_reply
from .access import AccountScopedAdminMixin, allowed_account_ids, get_account_or_404
from .filters import AccountListFilter, RuleListFilter, SenderFilter, refuse_nul
from .media import incoming_media_html
from .rules import describe_reply

STATUS_CLASSES = {"replied": "ok", "no_reply": "muted", "unmatched": "warn", "error": "err", "received": "muted",
                  "deferred": "ok"}
MESSAGE_ICONS = {"image": "🖼", "voice": "🎤", "video": "🎬", "shortvideo": "🎬", "location": "📍", "link": "🔗",
                 "file": "📄"}


def describe_message(log) -> str:
    """One line for what was received: the text, ``⚡ EVENT · key`` (``⚙`` for WeChat's system
    events, with their status), or the type of a media message."""
    if log.msg_type == "event":
        if log.is_system_event:
            status = ((log.message or {}).get("param") or {}).get("status") or ""
            return f"⚙ {log.event}" + (f" · {status}" if status else "")
        return f"⚡ {log.event}" + (f" · {log.event_key}" if log.event_key else "")
    icon = MESSAGE_ICONS.get(log.msg_type, "")
    if log.text:
        return f"{icon} {log.text}".strip()
    param = (log.message or {}).get("param") or {}
    detail = param.get("label") or param.get("title") or ""
    return f"{icon} [{log.msg_type}]" + (f" {detail}" if detail else "")


def _incoming(log):
    """The log row's ``IncomingMedia`` (prefetched), or None."""
    if log.msg_type not in ("image", "voice", "video", "shortvideo"):
        return None
    rows = list(log.media.all())
    return rows[0] if rows else None


def format_latency(ms) -> str:
    return "—" if ms is None else f"{ms:.1f} ms"


@admin.register(MessageLog)
class MessageLogAdmin(AccountScopedAdminMixin, admin.ModelAdmin):
    # Sized for a 1366 px screen with the sidebar and the filters open: the message type shows as
    # an icon in the message, the rule under its reply, the account under the user (when the user
    # sees several), retries in the status; the time is short (the full one is its tooltip).
    list_display = ["received", "user_link", "message_display", "reply_display", "status_display",
                    "latency_display"]
    list_display_links = ["received"]
    list_filter = [AccountListFilter, SenderFilter, "msg_type", ("created_at", admin.DateFieldListFilter),
                   RuleListFilter, "status", "encrypted"]
    list_select_related = ["account", "rule"]
    search_fields = ["user", "text", "event_key"]
    search_help_text = _("Search by user (openid) or message text.")
    date_hierarchy = "created_at"
    list_per_page = 50
    show_full_result_count = False  # counting a big log on every page is slow
    readonly_fields = ["account", "created_at", "user", "msg_type", "event", "event_key", "text", "media_preview",
                       "msg_id",
                       "dedupe_key", "status_display", "rule_display", "reply_preview", "latency_display",
                       "retry_count", "encrypted", "error", "message", "raw_xml", "reply_json", "reply_xml"]
    fieldsets = [
        (None, {"fields": [("account", "created_at"), ("user", "msg_type"), ("event", "event_key"), "text",
                           "media_preview",
                           ("status_display", "rule_display"), "reply_preview",
                           ("latency_display", "retry_count", "encrypted"), "error"]}),
        (_("Raw"), {"fields": ["msg_id", "dedupe_key", "message", "raw_xml", "reply_json", "reply_xml"],
                    "classes": ["collapse"]}),
    ]

    class Media:
        css = {"all": ["wechat_app/css/console.css"]}

    def has_add_permission(self, request, *args):
        return False

    def get_queryset(self, request):
        # The media users sent (a picture, a voice, a video) show in the list and the thread.
        return super().get_queryset(request).prefetch_related("media")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # The log is the record of what happened; only superusers may prune it.
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def get_list_display(self, request):
        columns = super().get_list_display(request)
        if len(allowed_account_ids(request.user)) > 1 and not request.GET.get(self.account_filter_parameter):
            columns = ["user_and_account" if name == "user_link" else name for name in columns]
        return columns

    @admin.display(description=_("received"), ordering="created_at")
    def received(self, log):
        local = timezone.localtime(log.created_at)
        today = timezone.localdate()
        if local.date() == today:
            short = local.strftime("%H:%M:%S")
        elif local.year == today.year:
            short = local.strftime("%m-%d %H:%M")
        else:
            short = local.strftime("%Y-%m-%d")
        return format_html('<time datetime="{}" title="{}">{}</time>', local.isoformat(),
                           local.strftime("%Y-%m-%d %H:%M:%S %Z"), short)

    @admin.display(description=_("user"), ordering="user")
    def user_link(self, log):
        url = reverse("admin:wechat_app_messagelog_conversation", args=[log.account_id]) + "?" + urlencode(
            {"user": log.user})
        # Openids share their first letters: the start and the end tell them apart.
        user = log.user if len(log.user) <= 12 else f"{log.user[:6]}…{log.user[-4:]}"
        return format_html('<a href="{}" title="{} · {}">{}</a>', url, log.user, _("Conversation"), user)

    @admin.display(description=_("user · account"), ordering="user")
    def user_and_account(self, log):
        return format_html('{}<div class="wx-sub">{}</div>', self.user_link(log), log.account.name)

    @admin.display(description=_("message"))
    def message_display(self, log):
        text = Truncator(describe_message(log)).chars(80)
        incoming = _incoming(log)
        if incoming is not None:
            return format_html('{}<div class="wx-log-media">{}</div>', text, incoming_media_html(incoming, 72))
        if log.is_system_event:
            return format_html('<span class="wx-system" title="{}">{}</span>',
                               _("A report WeChat sends about its own work, not a user's message"), text)
        return text

    @admin.display(description=_("reply · rule"), ordering="rule_name")
    def reply_display(self, log):
        reply = Truncator(describe_reply(log.reply)).chars(80) if log.reply else "—"
        rule_name = log.rule_name or (log.rule.name if log.rule_id else "")
        if not rule_name:
            return reply
        if log.rule_id:
            rule = format_html('<a href="{}">{}</a>', reverse("admin:wechat_app_rule_change", args=[log.rule_id]),
                               rule_name)
        else:
            rule = rule_name
        return format_html('{}<div class="wx-sub">{} {}</div>', reply, _("rule"), rule)

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, log):
        if log.is_system_event:
            pill = format_html('<span class="wx-status wx-status-sys" title="{}">{}</span>',
                               _("WeChat's own report (status: %(status)s)") % {"status": log.get_status_display()},
                               _("system"))
        else:
            pill = format_html('<span class="wx-status wx-status-{}">{}</span>',
                               STATUS_CLASSES.get(log.status, "muted"), log.get_status_display())
        if log.retry_count:
            return format_html('{} <span class="wx-retries" title="{}">↻{}</span>', pill,
                               _("WeChat retried this delivery"), log.retry_count)
        return pill

    @admin.display(description=_("latency"), ordering="latency_ms")
    def latency_display(self, log):
        return format_latency(log.latency_ms)

    # ---- the entry page ----------------------------------------------------------------------------
    @admin.display(description=_("rule"))
    def rule_display(self, log):
        if log.rule_id:
            return format_html('<a href="{}">{}</a>', reverse("admin:wechat_app_rule_change", args=[log.rule_id]),
                               log.rule_name or log.rule.name)
        return log.rule_name or "—"

    @admin.display(description=_("reply"))
    def reply_preview(self, log):
        """The reply as the WeChat user saw it (text, news cards, music...), not its JSON."""
        if not log.reply and log.status in (MessageLog.Status.ERROR, MessageLog.Status.DEFERRED):
            return log.get_status_display()  # not "no reply": the error, or a reply still to come
        return format_html('<div class="wx-reply-preview wx-msg-bot">{}</div>', render_to_string(
            "admin/wechat_app/rule/_reply_bubble.html", {"reply": log.reply, "account": log.account_id}))

    @admin.display(description=_("media"))
    def media_preview(self, log):
        """The picture, voice (with WeChat's recognition text) or video the user sent."""
        incoming = _incoming(log)
        if incoming is None:
            return "—"
        recognition = ((log.message or {}).get("param") or {}).get("recognition") or ""
        html = incoming_media_html(incoming, 360)
        if recognition:
            html = format_html('{}<div class="wx-sub">{} {}</div>', html, _("Recognized:"), recognition)
        return html

    @admin.display(description=_("reply (JSON)"))
    def reply_json(self, log):
        if log.reply is None:
            return "—"
        return format_html("<pre>{}</pre>", json.dumps(log.reply, ensure_ascii=False, indent=2))

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
        page = conversations.paginator(account, user).get_page(request.GET.get("page"))
        turns, items = conversations.thread(account, user, page)  # the REST API shows the same thread
        for log in turns:
            incoming = _incoming(log)
            log.media_html = incoming_media_html(incoming, 240) if incoming is not None else ""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts, "title": _("Conversation with %(user)s") % {"user": user},
            "account": account, "user_id": user, "page": page, "turns": turns, "media": self.media,
            "items": items,
            **conversation_reply.reply_context(request, account, user, reply_form),
        }
        return TemplateResponse(request, "admin/wechat_app/messagelog/conversation.html", context)
