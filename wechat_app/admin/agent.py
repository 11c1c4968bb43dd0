"""The agent gateway in the admin: each account's agent events (pending, claimed, completed,
failed), their callback attempts, and the operator's retry and release actions."""
from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..models import AgentDeliveryAttempt, AgentEvent
from ..services import agent
from .access import AccountScopedAdminMixin
from .filters import AccountListFilter


class AgentDeliveryAttemptInline(admin.TabularInline):
    model = AgentDeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["number", "created_at", "status_code", "duration_ms", "error"]
    readonly_fields = fields
    verbose_name = _("callback attempt")
    verbose_name_plural = _("callback attempts")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AgentEvent)
class AgentEventAdmin(AccountScopedAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "account", "user_id", "short_text", "delivery", "status", "attempts", "worker_id",
                    "error_short"]
    list_filter = [AccountListFilter, "status", "delivery"]
    search_fields = ["user_id", "text", "event_id"]
    date_hierarchy = "created_at"
    inlines = [AgentDeliveryAttemptInline]
    actions = ["retry_events", "release_events"]
    fields = ["account", "event_id", "delivery", "status", "user_id", "chat_type", "text", "attachments",
              "context_token", "worker_id", "claimed_at", "lease_until", "attempts", "next_attempt_at", "note",
              "error", "created_at", "updated_at", "finished_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account")

    def has_add_permission(self, request, *args):
        return False

    @admin.display(description=_("text"))
    def short_text(self, obj):
        return obj.text if len(obj.text) <= 60 else obj.text[:57] + "…"

    @admin.display(description=_("error"))
    def error_short(self, obj):
        return obj.error if len(obj.error) <= 60 else obj.error[:57] + "…"

    def _apply(self, request, queryset, func, done_message):
        done = refused = 0
        for event in queryset:
            if not self.has_change_permission(request, event):
                refused += 1
                continue
            try:
                func(event)
                done += 1
            except agent.AgentError:
                refused += 1
        if done or not refused:  # "0 events …" when none of the selection was the user's to change
            self.message_user(request, done_message(done), messages.SUCCESS if done else messages.WARNING)
        if refused:
            self.message_user(request, ngettext("%(n)d event was not in a state for this.",
                                                "%(n)d events were not in a state for this.", refused) % {"n": refused},
                              messages.WARNING)

    @admin.action(description=_("Retry the selected failed events"), permissions=["change"])
    def retry_events(self, request, queryset):
        self._apply(request, queryset, agent.retry, lambda n: ngettext(
            "%(n)d event put back to pending.", "%(n)d events put back to pending.", n) % {"n": n})

    @admin.action(description=_("Release the selected claimed events"), permissions=["change"])
    def release_events(self, request, queryset):
        self._apply(request, queryset, agent.release, lambda n: ngettext(
            "%(n)d event released.", "%(n)d events released.", n) % {"n": n})
