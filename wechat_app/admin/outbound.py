"""Admin screens of the outbound side: messages (read-only, resend), templates (sync), campaigns
(form with the template's keywords, preview, test send, start / pause / cancel, live progress)
and followers (sync, filters).

Every action and button declares the permission it needs (``has_<name>_permission``): Django's
model permission *and* access to the account (``access``). Buttons are POST forms with CSRF.
"""
from __future__ import annotations

import contextvars
import re

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import path, re_path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

from ..client import WeChatAPIError
from ..models import Campaign, Follower, OutboundMessage, Tag, Template
from ..services import audience, outbound
from ..services.enqueue import enqueue
from .access import AccountScopedAdminMixin, allowed_accounts, can_in_some_account, get_account_or_404
from .audience_forms import ACTION_USER, TEMPLATE_VS_MASS, FollowerActionForm, FollowerForm, TagListFilter, user_tags
from .filters import AccountListFilter
from .outbound_forms import CampaignForm, TestSendForm

ID_RE = re.compile(r"[0-9]{1,18}")  # str.isdigit() also accepts "²", which int() refuses
TAG_NAMES: contextvars.ContextVar = contextvars.ContextVar("wechat_follower_tag_names", default=None)
OUTBOUND_MEDIA_CSS = {"all": ["wechat_app/css/console.css", "wechat_app/css/outbound.css"]}


def _date(value) -> str:
    return date_format(localtime(value), "SHORT_DATETIME_FORMAT") if value else "—"


def _error_text(err) -> str:
    return "; ".join(err.messages) if isinstance(err, ValidationError) else str(err)


def _filtered_changelist(model_admin, account=None) -> str:
    url = reverse(f"admin:{model_admin.opts.app_label}_{model_admin.opts.model_name}_changelist")
    return url + (f"?account__id__exact={account.pk}" if account is not None else "")


def _sync_accounts(request):
    """The accounts a sync button acts on: the posted ``account`` (403 if not the user's), or
    every enabled account of the user."""
    account_id = request.POST.get("account", "")
    if account_id:
        if not ID_RE.fullmatch(account_id):
            raise PermissionDenied
        return get_account_or_404(request, int(account_id)), None
    return None, list(allowed_accounts(request.user).filter(enabled=True))


# --- outbound messages ----------------------------------------------------------------------------
@admin.register(OutboundMessage)
class OutboundMessageAdmin(AccountScopedAdminMixin, admin.ModelAdmin):
    """What was queued and what became of it: a record, read-only (messages change only through
    the services: delivery, resend). The claim and its lease are the workers' business."""

    # The key columns (status, the error, the delivery report) fit 1366 px with the sidebar open.
    list_display = ["id", "to_user", "kind", "status_display", "delivery_status", "account", "queued"]
    list_filter = ["status", "kind", AccountListFilter, "delivery_status"]
    search_fields = ["to_user", "idempotency_key", "msgid", "errmsg"]
    list_select_related = ["account"]
    fieldsets = [
        (None, {"fields": [("account", "kind"), "to_user", "payload", ("template", "campaign")]}),
        (_("Delivery"), {"fields": [("status", "attempts", "next_attempt_at"), ("errcode", "errmsg"),
                                    ("msgid", "delivery_status"), ("created_at", "sent_at")]}),
        (_("Identity"), {"fields": ["idempotency_key"], "classes": ["collapse"]}),
    ]
    # WeCom app messages: WeCom's msgid and whom it could not reach instead of the template fields.
    wecom_fieldsets = [
        (None, {"fields": [("account", "kind"), "to_user", "payload"]}),
        (_("Delivery"), {"fields": [("status", "attempts", "next_attempt_at"), ("errcode", "errmsg"),
                                    "wecom_msgid", ("invalid_user", "invalid_party", "invalid_tag"),
                                    ("created_at", "sent_at")]}),
        (_("Identity"), {"fields": ["idempotency_key"], "classes": ["collapse"]}),
    ]
    change_list_template = "admin/wechat_app/outbound/message_change_list.html"
    readonly_fields = [f.name for f in OutboundMessage._meta.fields if f.name not in ("lease_until", "claim")]
    actions = ["resend"]
    date_hierarchy = "created_at"

    class Media:
        css = OUTBOUND_MEDIA_CSS

    def has_add_permission(self, request):  # queued through services (validated), not by hand
        return False

    def has_change_permission(self, request, obj=None):  # a record: no Save buttons
        return False

    def has_delete_permission(self, request, obj=None):
        # What was sent to whom is a record (like the message log): only superusers prune it.
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def has_resend_permission(self, request):
        return can_in_some_account(request.user, "change", self.model)

    def get_fieldsets(self, request, obj=None):
        if obj is not None and obj.kind == OutboundMessage.Kind.WECOM_APP:
            return self.wecom_fieldsets
        return super().get_fieldsets(request, obj)

    # --- WeCom app messages: composed here, queued through services.wecom ---------------------------
    def wecom_accounts(self, request):
        """The WeCom apps the user may send from (add permission on their account)."""
        from ..models import Account

        if not can_in_some_account(request.user, "add", self.model):
            return Account.objects.none()
        return allowed_accounts(request.user).filter(channel="wecom")

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        send = path("wecom-send/", self.admin_site.admin_view(self.wecom_send_view), name="%s_%s_wecom_send" % info)
        return [send] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}),
                         "wecom_send_url": reverse("admin:wechat_app_outboundmessage_wecom_send")
                         if self.wecom_accounts(request).exists() else ""}
        return super().changelist_view(request, extra_context)

    def wecom_send_view(self, request):
        """Compose an app message of a WeCom app (needs add permission on a WeCom app's account)."""
        from django.template.response import TemplateResponse

        from ..services import wecom
        from .outbound_forms import WeComAppMessageForm

        accounts = self.wecom_accounts(request)
        if not can_in_some_account(request.user, "add", self.model):
            raise PermissionDenied
        form = WeComAppMessageForm(request.POST or None, accounts=accounts)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                message = wecom.queue_app_message(
                    data["account"], data["msgtype"], data["message_content"], touser=data["touser"],
                    toparty=data["toparty"], totag=data["totag"], safe=data["safe"],
                    idempotency_key=f"admin:{data['key']}")
            except ValidationError as err:
                form.add_error(None, err)
            else:
                self.message_user(request, _("App message #%(id)s queued.") % {"id": message.pk}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:wechat_app_outboundmessage_change", args=[message.pk]))
        context = {**self.admin_site.each_context(request), "title": _("Send a WeCom app message"), "form": form,
                   "opts": self.opts, "has_accounts": accounts.exists()}
        return TemplateResponse(request, "admin/wechat_app/outbound/wecom_send.html", context)

    @admin.display(description=_("queued at"), ordering="created_at")
    def queued(self, obj):
        return _date(obj.created_at)

    STATUS_CLASSES = {"sent": "ok", "failed": "err", "queued": "muted", "sending": "muted", "cancelled": "warn"}

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj):
        html = format_html('<span class="wx-status wx-status-{}">{}</span>',
                           self.STATUS_CLASSES.get(obj.status, "muted"), obj.get_status_display())
        if obj.errcode:  # why it failed or waits, without opening it
            html += format_html(' <span class="wx-muted" title="{}">{}</span>', obj.errmsg, obj.errcode)
        return html

    @admin.action(description=_("Resend the selected failed or cancelled messages"), permissions=["resend"])
    def resend(self, request, queryset):
        done = 0
        for message in queryset:  # get_queryset: the user's accounts only
            try:
                outbound.resend(message)
                done += 1
            except ValidationError as err:
                self.message_user(request, f"#{message.pk}: {_error_text(err)}", messages.WARNING)
        self.message_user(request, f"{done} message(s) queued again.")


# --- templates ------------------------------------------------------------------------------------
class SyncButtonMixin:
    """A "Sync from WeChat" button on the list page (POST ``sync/``; also posted by the account
    page with ``account``) and the same as an action on selected rows; both need the model's
    change permission on an account of the user."""

    change_list_template = "admin/wechat_app/outbound/sync_change_list.html"
    sync_label = _("Sync from WeChat")

    class Media:
        css = OUTBOUND_MEDIA_CSS

    def has_change_permission(self, request, obj=None):  # mirrors of WeChat: read-only pages
        return False

    def has_sync_permission(self, request):
        return can_in_some_account(request.user, "change", self.model)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        sync = path("sync/", self.admin_site.admin_view(self.sync_view), name="%s_%s_sync" % info)
        return [sync] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "sync_label": self.sync_label,
                         "can_sync": self.has_sync_permission(request),
                         "sync_url": reverse("admin:%s_%s_sync" % (self.opts.app_label, self.opts.model_name))}
        return super().changelist_view(request, extra_context)

    def sync_view(self, request):
        if request.method != "POST":
            return HttpResponseRedirect(_filtered_changelist(self))
        if not self.has_sync_permission(request):
            raise PermissionDenied
        account, accounts = _sync_accounts(request)
        self.sync_accounts(request, [account] if account is not None else accounts)
        return HttpResponseRedirect(_filtered_changelist(self, account))

    def sync_accounts(self, request, accounts):
        raise NotImplementedError

    def sync(self, request, queryset):
        mine = allowed_accounts(request.user)
        self.sync_accounts(request, list(mine.filter(pk__in=queryset.values("account"))))


@admin.register(Template)
class TemplateAdmin(SyncButtonMixin, AccountScopedAdminMixin, admin.ModelAdmin):
    list_display = ["title", "keyword_list", "account", "active", "synced_at"]  # the id: on the page, searchable
    list_filter = [AccountListFilter, "active"]
    search_fields = ["title", "template_id", "content"]
    readonly_fields = [f.name for f in Template._meta.fields] + ["keyword_list"]
    actions = ["sync"]
    sync_label = _("Sync templates from WeChat")

    def has_add_permission(self, request):  # templates come from WeChat
        return False

    @admin.display(description=_("keywords"))
    def keyword_list(self, obj):
        return ", ".join(obj.keywords)

    def sync_accounts(self, request, accounts):
        if not accounts:
            self.message_user(request, _("No enabled account to sync."), messages.WARNING)
        for account in accounts:
            try:
                result = outbound.sync_templates(account)
                self.message_user(request, f"{account.name}: {result['synced']} template(s) synced, "
                                           f"{result['deactivated']} gone from WeChat.", messages.SUCCESS)
            except WeChatAPIError as err:
                self.message_user(request, f"{account.name}: {err}", messages.ERROR)

    @admin.action(description=_("Sync templates from WeChat (accounts of the selected templates)"),
                  permissions=["sync"])
    def sync(self, request, queryset):
        super().sync(request, queryset)


# --- campaigns ------------------------------------------------------------------------------------
def progress_html(campaign: Campaign) -> str:
    """The progress cell (list, page, and the JSON the page polls): a bar, done / total, and the
    outcomes in the tooltip and a second line."""
    counts = campaign.counts()
    total = sum(counts.values())
    done = counts["sent"] + counts["failed"] + counts["cancelled"]
    return render_to_string("admin/wechat_app/campaign/_progress.html", {
        "campaign": campaign, "counts": counts, "total": total, "done": done,
        "percent": round(100 * done / total) if total else 0,
        "pending": counts["queued"] + counts["sending"], "reports": campaign.delivery_counts()})


@admin.register(Campaign)
class CampaignAdmin(AccountScopedAdminMixin, admin.ModelAdmin):
    form = CampaignForm
    change_form_template = "admin/wechat_app/campaign/change_form.html"
    change_list_template = "admin/wechat_app/campaign/change_list.html"
    # Few, narrow columns: status and progress stay visible at 1366 px with the sidebar open.
    list_display = ["name", "account", "status_display", "progress", "created"]
    list_filter = ["status", AccountListFilter, "audience"]
    search_fields = ["name"]
    list_select_related = ["account"]
    actions = ["start", "pause", "cancel"]

    class Media:
        css = OUTBOUND_MEDIA_CSS
        js = ["wechat_app/js/campaign.js"]

    DRAFT_FIELDSETS = [
        (None, {"fields": ["name", "template"], "description": TEMPLATE_VS_MASS}),
        (_("Message"), {"fields": ["data", "url"]}),
        (_("Recipients"), {"fields": ["audience", "openids", "tag_id"]}),
        (_("Advanced"), {"fields": ["miniprogram", "rate_limit"], "classes": ["collapse"]}),
    ]
    SENT_FIELDSETS = [
        # The progress and the message itself show in the panel above the form.
        (None, {"fields": ["name", "account", "template", ("status", "total"), ("started_at", "finished_at")]}),
        (_("Message"), {"fields": ["url", "miniprogram"]}),
        (_("Recipients"), {"fields": ["audience", "recipients", "rate_limit"]}),
    ]

    def has_change_permission(self, request, obj=None):
        # Only drafts are edited; what was sent stays what it was (a record without Save buttons).
        return super().has_change_permission(request, obj) and (obj is None or obj.status == Campaign.Status.DRAFT)

    @admin.display(description=_("created"), ordering="created_at")
    def created(self, obj):
        return _date(obj.created_at)

    def has_operate_permission(self, request, obj):
        """Start, pause, cancel, test: the change permission on the campaign's account, any status."""
        return super().has_change_permission(request, obj)

    def _is_draft_form(self, request, obj):
        """Add, or change a draft the user may change: the editable form; else the record."""
        return obj is None or self.has_change_permission(request, obj)

    def get_fieldsets(self, request, obj=None):
        return self.DRAFT_FIELDSETS if self._is_draft_form(request, obj) else self.SENT_FIELDSETS

    def get_readonly_fields(self, request, obj=None):
        if self._is_draft_form(request, obj):
            return []
        # What was sent stays what it was.
        return ["name", "account", "template", "status", "total", "started_at", "finished_at", "url",
                "miniprogram", "audience", "recipients", "rate_limit"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "template":  # templates gone from WeChat are not offered
            kwargs["queryset"] = Template.objects.filter(active=True).select_related("account")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "template" and field is not None:
            # Templates come from WeChat: no add / change / delete links beside the choice.
            for flag in ("can_add_related", "can_change_related", "can_delete_related"):
                setattr(field.widget, flag, False)
        return field

    # ---- columns and read-only fields --------------------------------------------------------------
    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj):
        return format_html('<span class="wx-status wx-campaign-{}" data-campaign-status="{}">{}</span>',
                           obj.status, obj.pk, obj.get_status_display())

    @admin.display(description=_("progress"))
    def progress(self, obj):
        return progress_html(obj)

    @admin.display(description=_("recipients"))
    def recipients(self, obj):
        if obj.audience == Campaign.Audience.LIST:
            shown = ", ".join(obj.openids[:10]) + (" …" if len(obj.openids) > 10 else "")
            return f"{len(obj.openids)}: {shown}"
        if obj.audience == Campaign.Audience.TAG:
            tag = Tag.objects.filter(account_id=obj.account_id, tag_id=obj.tag_id).first()
            return _("Followers with tag %(tag)s") % {"tag": f"{tag.name} ({obj.tag_id})" if tag else obj.tag_id}
        return _("All followers")

    # ---- the change page: buttons, test send -------------------------------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if obj is not None and self.has_view_permission(request, obj):
            can_change = self.has_operate_permission(request, obj)
            extra_context.update({
                "campaign": obj, "can_operate": can_change,
                "can_start": can_change and obj.status in (Campaign.Status.DRAFT, Campaign.Status.PAUSED),
                "can_pause": can_change and obj.status == Campaign.Status.RUNNING,
                "can_cancel": can_change and obj.status in (Campaign.Status.DRAFT, Campaign.Status.RUNNING,
                                                            Campaign.Status.PAUSED),
                "can_test": can_change and obj.template.active and obj.status != Campaign.Status.CANCELLED,
                "test_form": TestSendForm(), "progress_cell": progress_html(obj),
                "preview_text": outbound.render_template_message(obj.template, obj.data),
            })
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("progress/", wrap(self.progress_view), name="wechat_app_campaign_progress"),
            re_path(r"^(?P<campaign_id>[0-9]+)/(?P<operation>start|pause|cancel|test)/$", wrap(self.operate_view),
                    name="wechat_app_campaign_operate"),
        ] + super().get_urls()

    OPERATIONS = {"start": (outbound.start_campaign, _("started")), "pause": (outbound.pause_campaign, _("paused")),
                  "cancel": (outbound.cancel_campaign, _("cancelled"))}

    def operate_view(self, request, campaign_id, operation):
        """The page's buttons: start, pause, cancel, test (POST, change permission on the campaign)."""
        campaign = get_object_or_404(self.get_queryset(request), pk=int(campaign_id))
        if request.method != "POST" or not self.has_operate_permission(request, campaign):
            raise PermissionDenied
        page = reverse("admin:wechat_app_campaign_change", args=[campaign.pk])
        if operation == "test":
            form = TestSendForm(request.POST)
            if not form.is_valid():
                self.message_user(request, "; ".join(form.errors["openid"]), messages.ERROR)
                return HttpResponseRedirect(page)
            try:
                message = outbound.send_campaign_test(campaign, form.cleaned_data["openid"])
            except ValidationError as err:
                self.message_user(request, _error_text(err), messages.ERROR)
            else:
                url = reverse("admin:wechat_app_outboundmessage_change", args=[message.pk])
                self.message_user(request, format_html('{} <a href="{}">#{}</a>', _("Test message queued:"),
                                                       url, message.pk), messages.SUCCESS)
            return HttpResponseRedirect(page)
        self._run(request, [campaign], *self.OPERATIONS[operation])
        return HttpResponseRedirect(page)

    @staticmethod
    def _progress_json(campaign):
        return {"status": campaign.status, "status_display": str(campaign.get_status_display()),
                "html": progress_html(campaign)}

    def progress_view(self, request):
        """``?id=1&id=2``: the progress cells of these campaigns (the page polls it while sending)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        ids = [int(i) for i in request.GET.getlist("id") if ID_RE.fullmatch(i)][:200]
        campaigns = self.get_queryset(request).filter(pk__in=ids)
        return JsonResponse({str(c.pk): self._progress_json(c) for c in campaigns})

    # ---- actions -----------------------------------------------------------------------------------
    def _run(self, request, queryset, func, verb):
        for campaign in queryset:
            try:
                func(campaign)
                self.message_user(request, f"{campaign}: {verb}.", messages.SUCCESS)
            except (ValidationError, WeChatAPIError) as err:
                self.message_user(request, f"{campaign}: {_error_text(err)}", messages.ERROR)

    @admin.action(description=_("Start (or resume) the selected campaigns"), permissions=["change"])
    def start(self, request, queryset):
        self._run(request, queryset, *self.OPERATIONS["start"])

    @admin.action(description=_("Pause the selected campaigns"), permissions=["change"])
    def pause(self, request, queryset):
        self._run(request, queryset, *self.OPERATIONS["pause"])

    @admin.action(description=_("Cancel the selected campaigns"), permissions=["change"])
    def cancel(self, request, queryset):
        self._run(request, queryset, *self.OPERATIONS["cancel"])


# --- followers ------------------------------------------------------------------------------------
@admin.register(Follower)
class FollowerAdmin(SyncButtonMixin, AccountScopedAdminMixin, admin.ModelAdmin):
    """Followers: synced from WeChat; the remark is edited here (sent to WeChat first); tags and
    the blacklist are bulk actions (WeChat takes 50 openids a tagging call, 20 a blacklist call)."""

    # Language and scene are filters: the columns fit 1366 px with the sidebar open.
    list_display = ["openid", "account", "remark", "tag_names", "subscription", "synced_at"]
    list_filter = ["subscribed", AccountListFilter, TagListFilter, "blacklisted", "language", "subscribe_scene"]
    search_fields = ["openid", "unionid", "remark"]
    form = FollowerForm
    action_form = FollowerActionForm

    class Media:
        css = {"all": [*OUTBOUND_MEDIA_CSS["all"], "wechat_app/css/audience.css"]}
    actions = ["sync", "add_tag", "remove_tag", "blacklist", "unblacklist"]
    sync_label = _("Sync followers from WeChat")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Follower._meta.fields if f.name != "remark"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):  # the remark (SyncButtonMixin: read-only mirrors)
        return AccountScopedAdminMixin.has_change_permission(self, request, obj)

    def has_tag_permission(self, request):
        return can_in_some_account(request.user, "change", Follower)

    @admin.display(description=_("tags"))
    def tag_names(self, obj):
        names = (TAG_NAMES.get() or {}).get(obj.account_id, {})
        return ", ".join(names.get(t, str(t)) for t in obj.tags or []) or "—"

    @admin.display(description=_("subscribed"), ordering="subscribe_time")
    def subscription(self, obj):
        if obj.subscribed:
            return format_html('<span class="wx-status wx-status-ok">✓</span> {}', _date(obj.subscribe_time))
        return format_html('<span class="wx-status wx-status-muted">{}</span> {}', _("left"),
                           _date(obj.unsubscribed_at))

    def sync_accounts(self, request, accounts):
        if not accounts:
            self.message_user(request, _("No enabled account to sync."), messages.WARNING)
            return
        for account in accounts:
            enqueue("sync_followers", account.pk, on_commit=False)  # reads WeChat, writes no row first
        self.message_user(request, _("Follower sync queued for %(accounts)s; progress shows on this page.") % {
            "accounts": ", ".join(a.name for a in accounts)}, messages.SUCCESS)

    @admin.action(description=_("Sync followers from WeChat (accounts of the selected followers)"),
                  permissions=["sync"])
    def sync(self, request, queryset):
        super().sync(request, queryset)

    def _chosen_tag(self, request):
        value = request.POST.get("tag", "")
        tag = user_tags(request.user).filter(pk=int(value)).first() if ID_RE.fullmatch(value) else None
        if tag is None:
            self.message_user(request, _("Choose a tag in the list beside the action first."), messages.ERROR)
        return tag

    def _by_account(self, request, queryset, account_id=None):
        """The selected followers' openids per account the user may change followers in."""
        grouped = {}
        for account_id_, openid in queryset.values_list("account_id", "openid"):
            if account_id is None or account_id_ == account_id:
                grouped.setdefault(account_id_, []).append(openid)
        skipped = queryset.count() - sum(len(v) for v in grouped.values())
        if skipped:
            self.message_user(request, _("%(n)d follower(s) of other accounts were left out (a tag belongs to "
                                         "one account).") % {"n": skipped}, messages.WARNING)
        return grouped

    def _tagging(self, request, queryset, add: bool):
        tag = self._chosen_tag(request)
        if tag is None:
            return
        openids = self._by_account(request, queryset, tag.account_id).get(tag.account_id, [])
        try:
            result = (audience.tag_followers if add else audience.untag_followers)(tag, openids)
        except WeChatAPIError as err:
            self.message_user(request, f"{tag.name}: {err}", messages.ERROR)
            return
        verb = _("tagged") if add else _("untagged")
        self.message_user(request, f"{tag.name}: {verb} {result.summary()}.",
                          messages.WARNING if result.failed else messages.SUCCESS)

    @admin.action(description=_("Add the chosen tag to the selected followers"), permissions=["tag"])
    def add_tag(self, request, queryset):
        self._tagging(request, queryset, True)

    @admin.action(description=_("Remove the chosen tag from the selected followers"), permissions=["tag"])
    def remove_tag(self, request, queryset):
        self._tagging(request, queryset, False)

    def _blacklisting(self, request, queryset, value: bool):
        accounts = {a.pk: a for a in allowed_accounts(request.user)}
        for account_id, openids in self._by_account(request, queryset).items():
            account = accounts.get(account_id)
            if account is None:
                continue
            try:
                result = audience.set_blacklisted(account, openids, value)
            except WeChatAPIError as err:
                self.message_user(request, f"{account.name}: {err}", messages.ERROR)
                continue
            verb = _("blacklisted") if value else _("taken off the blacklist")
            self.message_user(request, f"{account.name}: {verb} {result.summary()}.",
                              messages.WARNING if result.failed else messages.SUCCESS)

    @admin.action(description=_("Blacklist the selected followers"), permissions=["tag"])
    def blacklist(self, request, queryset):
        self._blacklisting(request, queryset, True)

    @admin.action(description=_("Take the selected followers off the blacklist"), permissions=["tag"])
    def unblacklist(self, request, queryset):
        self._blacklisting(request, queryset, False)

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET":
            progress = {a.name: outbound.sync_followers_progress(a.pk) for a in allowed_accounts(request.user)}
            lines = [f"{name}: {p['status']} {p.get('done', 0)}/{p.get('total') or '?'}"
                     for name, p in progress.items() if p]
            if lines:
                self.message_user(request, "Follower sync — " + "; ".join(lines))
        # For this request: the action bar offers the user's tags; the tags column shows names.
        names = {}
        for tag in Tag.objects.filter(account__in=allowed_accounts(request.user)).only("account_id", "tag_id", "name"):
            names.setdefault(tag.account_id, {})[tag.tag_id] = tag.name
        user_token, names_token = ACTION_USER.set(request.user), TAG_NAMES.set(names)
        try:
            response = super().changelist_view(request, extra_context)
            if hasattr(response, "render"):
                response.render()  # while the context variables hold
            return response
        finally:
            ACTION_USER.reset(user_token)
            TAG_NAMES.reset(names_token)
