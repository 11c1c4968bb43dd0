"""Admin screens of the outbound side: messages (resend), templates (sync), campaigns
(progress bar, start, pause, cancel) and followers (sync, filters)."""
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..client import WeChatAPIError
from ..models import Campaign, Follower, OutboundMessage, Template
from ..services import outbound
from .access import AccountScopedAdminMixin, allowed_accounts
from .filters import AccountListFilter


@admin.register(OutboundMessage)
class OutboundMessageAdmin(AccountScopedAdminMixin, admin.ModelAdmin):
    list_display = ["id", "account", "kind", "to_user", "status", "attempts", "errcode", "delivery_status",
                    "campaign", "created_at", "sent_at"]
    list_filter = ["status", "kind", AccountListFilter, "delivery_status"]
    search_fields = ["to_user", "idempotency_key", "msgid", "errmsg"]
    list_select_related = ["account", "campaign"]
    readonly_fields = [f.name for f in OutboundMessage._meta.fields]
    actions = ["resend"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):  # queued through services (validated), not by hand
        return False

    @admin.action(description=_("Resend the selected failed or cancelled messages"))
    def resend(self, request, queryset):
        done = 0
        for message in queryset:
            try:
                outbound.resend(message)
                done += 1
            except ValidationError as err:
                self.message_user(request, f"#{message.pk}: {'; '.join(err.messages)}", messages.WARNING)
        self.message_user(request, f"{done} message(s) queued again.")


@admin.register(Template)
class TemplateAdmin(AccountScopedAdminMixin, admin.ModelAdmin):
    list_display = ["title", "template_id", "account", "keyword_list", "active", "synced_at"]
    list_filter = [AccountListFilter, "active"]
    search_fields = ["title", "template_id", "content"]
    readonly_fields = [f.name for f in Template._meta.fields] + ["keyword_list"]
    actions = ["sync"]

    def has_add_permission(self, request):  # templates come from WeChat
        return False

    @admin.display(description=_("keywords"))
    def keyword_list(self, obj):
        return ", ".join(obj.keywords)

    @admin.action(description=_("Sync templates from WeChat (accounts of the selected templates)"))
    def sync(self, request, queryset):
        mine = allowed_accounts(request.user)
        accounts = mine.filter(pk__in=queryset.values("account")) if queryset.exists() else mine.filter(enabled=True)
        for account in accounts:
            try:
                result = outbound.sync_templates(account)
                self.message_user(request, f"{account}: {result['synced']} synced, {result['deactivated']} gone.")
            except WeChatAPIError as err:
                self.message_user(request, f"{account}: {err}", messages.ERROR)

    def changelist_view(self, request, extra_context=None):
        # The sync action must work on an empty list (nothing synced yet): select-across none.
        if request.method == "POST" and request.POST.get("action") == "sync" and not request.POST.getlist(
                admin.helpers.ACTION_CHECKBOX_NAME):
            self.sync(request, Template.objects.none())
            from django.http import HttpResponseRedirect

            return HttpResponseRedirect(request.get_full_path())
        return super().changelist_view(request, extra_context)


@admin.register(Campaign)
class CampaignAdmin(AccountScopedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "account", "template", "audience", "status", "progress", "total", "created_at"]
    list_filter = ["status", AccountListFilter, "audience"]
    search_fields = ["name"]
    readonly_fields = ["status", "total", "progress", "started_at", "finished_at", "created_at"]
    actions = ["start", "pause", "cancel"]

    def get_readonly_fields(self, request, obj=None):
        if obj and obj.status != Campaign.Status.DRAFT:  # what was sent stays what it was
            return [f.name for f in Campaign._meta.fields] + ["progress"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        obj.full_clean()
        try:
            outbound.template_payload(obj.template, obj.data, obj.url, obj.miniprogram)
        except ValidationError as err:
            raise ValidationError({"data": err.messages}) from err
        super().save_model(request, obj, form, change)

    @admin.display(description=_("progress"))
    def progress(self, obj):
        counts = obj.counts()
        total = sum(counts.values()) or 1
        done = counts["sent"] + counts["failed"] + counts["cancelled"]
        html = format_html(
            '<progress value="{}" max="{}" style="width:10em"></progress> {}% — sent {}, failed {}, queued {}, '
            "cancelled {}", done, total, round(100 * done / total), counts["sent"], counts["failed"],
            counts["queued"] + counts["sending"], counts["cancelled"])
        reports = obj.delivery_counts()
        if reports:  # WeChat's final word on the sent ones (TEMPLATESENDJOBFINISH)
            html += format_html("<br>{}: {}", _("delivery reports"),
                                ", ".join(f"{status} {n}" for status, n in reports.items()))
        return html

    def _run(self, request, queryset, func, verb):
        for campaign in queryset:
            try:
                func(campaign)
                self.message_user(request, f"{campaign}: {verb}.")
            except (ValidationError, WeChatAPIError) as err:
                text = "; ".join(err.messages) if isinstance(err, ValidationError) else str(err)
                self.message_user(request, f"{campaign}: {text}", messages.ERROR)

    @admin.action(description=_("Start (or resume) the selected campaigns"))
    def start(self, request, queryset):
        self._run(request, queryset, outbound.start_campaign, "started")

    @admin.action(description=_("Pause the selected campaigns"))
    def pause(self, request, queryset):
        self._run(request, queryset, outbound.pause_campaign, "paused")

    @admin.action(description=_("Cancel the selected campaigns"))
    def cancel(self, request, queryset):
        self._run(request, queryset, outbound.cancel_campaign, "cancelled")


@admin.register(Follower)
class FollowerAdmin(AccountScopedAdminMixin, admin.ModelAdmin):
    list_display = ["openid", "account", "subscribed", "subscribe_time", "unsubscribed_at", "language",
                    "subscribe_scene", "synced_at"]
    list_filter = ["subscribed", AccountListFilter, "language", "subscribe_scene"]
    search_fields = ["openid", "unionid", "remark"]
    readonly_fields = [f.name for f in Follower._meta.fields]
    actions = ["sync"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Sync followers from WeChat (accounts of the selected followers)"))
    def sync(self, request, queryset):
        from ..tasks import sync_followers

        mine = set(allowed_accounts(request.user).values_list("pk", flat=True))
        for account_id in set(queryset.values_list("account_id", flat=True)) & mine:
            sync_followers.delay(account_id)
        self.message_user(request, "Follower sync queued; progress shows on this page.")

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        progress = {a.name: outbound.sync_followers_progress(a.pk) for a in allowed_accounts(request.user)}
        lines = [f"{name}: {p['status']} {p.get('done', 0)}/{p.get('total') or '?'}"
                 for name, p in progress.items() if p]
        if lines:
            self.message_user(request, "Follower sync — " + "; ".join(lines))
        return super().changelist_view(request, extra_context)
