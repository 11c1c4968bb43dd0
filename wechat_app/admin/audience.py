"""Admin screens of the audience: tags (sync, create, rename, delete), customer-service (kf)
accounts, and mass messages (群发: drafts, preview, send within the quota, status, delete).

Everything goes to WeChat through the services first; the forms show WeChat's refusals next to
the fields. Buttons are POST forms with CSRF and need the change permission on the account.
"""
from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import re_path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..client import WeChatAPIError
from ..models import KfAccount, MassMessage, Tag
from ..services import audience
from ..services import kf as kf_service
from ..services import mass as mass_service
from .access import AccountScopedAdminMixin, allowed_accounts
from .audience_forms import (
    TEMPLATE_VS_MASS,
    KfAccountForm,
    MassMessageForm,
    PreviewForm,
    TagForm,
)
from .filters import AccountListFilter
from .outbound import OUTBOUND_MEDIA_CSS, SyncButtonMixin, _date, _error_text


class WeChatMirrorAdmin(SyncButtonMixin, AccountScopedAdminMixin, admin.ModelAdmin):
    """A mirror of WeChat that is also changed from here (through the form's services)."""

    def has_change_permission(self, request, obj=None):  # SyncButtonMixin makes mirrors read-only
        return AccountScopedAdminMixin.has_change_permission(self, request, obj)

    def save_model(self, request, obj, form, change):
        result = getattr(form, "result", None)  # the service saved it already
        if result is not None:
            obj.pk, obj._state.adding = result.pk, False
            for field in self.opts.concrete_fields:
                setattr(obj, field.attname, getattr(result, field.attname))

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    def _delete(self, request, obj, func):
        try:
            func(obj)
        except (ValidationError, WeChatAPIError) as err:
            self.message_user(request, f"{obj}: {_error_text(err)}", messages.ERROR)
            return False
        return True


@admin.register(Tag)
class TagAdmin(WeChatMirrorAdmin):
    form = TagForm
    list_display = ["name", "tag_id", "followers", "account", "synced_at"]
    list_filter = [AccountListFilter]
    search_fields = ["name"]
    actions = ["sync", "delete_selected"]
    sync_label = _("Sync tags from WeChat")

    def get_readonly_fields(self, request, obj=None):
        return ["account", "tag_id", "count", "synced_at"] if obj is not None else []

    def get_fields(self, request, obj=None):
        return ["account", "name"] + (["tag_id", "count", "synced_at"] if obj is not None else [])

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not (obj is not None and obj.is_system)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.is_system)

    @admin.display(description=_("followers"), ordering="count")
    def followers(self, obj):
        url = reverse("admin:wechat_app_follower_changelist") + f"?account__id__exact={obj.account_id}&tag={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, obj.count)

    def delete_model(self, request, obj):
        if self._delete(request, obj, audience.delete_tag):
            self.message_user(request, f"{obj}: deleted on WeChat.", messages.SUCCESS)

    def sync_accounts(self, request, accounts):
        if not accounts:
            self.message_user(request, _("No enabled account to sync."), messages.WARNING)
        for account in accounts:
            try:
                result = audience.sync_tags(account)
                blacklisted = audience.sync_blacklist(account)
            except WeChatAPIError as err:
                self.message_user(request, f"{account.name}: {err}", messages.ERROR)
                continue
            self.message_user(request, f"{account.name}: {result['synced']} tag(s) synced, {result['removed']} "
                                       f"gone from WeChat; {blacklisted} follower(s) blacklisted.", messages.SUCCESS)

    @admin.action(description=_("Sync tags from WeChat (accounts of the selected tags)"), permissions=["sync"])
    def sync(self, request, queryset):
        super().sync(request, queryset)


@admin.register(KfAccount)
class KfAccountAdmin(WeChatMirrorAdmin):
    form = KfAccountForm
    list_display = ["kf_account", "nickname", "account", "active", "synced_at"]
    list_filter = [AccountListFilter, "active"]
    search_fields = ["kf_account", "nickname"]
    actions = ["sync", "delete_selected"]
    sync_label = _("Sync kf accounts from WeChat")

    def get_readonly_fields(self, request, obj=None):
        return ["account", "kf_account", "kf_id", "active", "synced_at"] if obj is not None else []

    def get_fields(self, request, obj=None):
        return ["account", "kf_account", "nickname"] + (["kf_id", "active", "synced_at"] if obj else [])

    def delete_model(self, request, obj):
        if self._delete(request, obj, kf_service.delete_kf_account):
            self.message_user(request, f"{obj}: deleted on WeChat.", messages.SUCCESS)

    def sync_accounts(self, request, accounts):
        if not accounts:
            self.message_user(request, _("No enabled account to sync."), messages.WARNING)
        for account in accounts:
            try:
                result = kf_service.sync_kf_accounts(account)
            except (WeChatAPIError, ValidationError) as err:
                self.message_user(request, f"{account.name}: {_error_text(err)}", messages.ERROR)
                continue
            self.message_user(request, f"{account.name}: {result['synced']} kf account(s) synced, "
                                       f"{result['deactivated']} gone from WeChat.", messages.SUCCESS)

    @admin.action(description=_("Sync kf accounts from WeChat (accounts of the selected ones)"), permissions=["sync"])
    def sync(self, request, queryset):
        super().sync(request, queryset)


@admin.register(MassMessage)
class MassMessageAdmin(AccountScopedAdminMixin, admin.ModelAdmin):
    form = MassMessageForm
    change_form_template = "admin/wechat_app/massmessage/change_form.html"
    change_list_template = "admin/wechat_app/massmessage/change_list.html"
    list_display = ["name", "account", "kind", "audience_display", "status_display", "counts", "created"]
    list_filter = ["status", AccountListFilter, "kind", "audience"]
    search_fields = ["name", "clientmsgid", "msg_id"]
    list_select_related = ["account", "tag"]
    actions = ["send"]

    class Media:
        css = {"all": [*OUTBOUND_MEDIA_CSS["all"], "wechat_app/css/audience.css"]}
        js = ["wechat_app/js/mass.js", "wechat_app/js/material-picker.js"]

    DRAFT_FIELDSETS = [
        (None, {"fields": ["account", "name"]}),  # the quota panel above says what mass send is for
        (_("Recipients"), {"fields": ["audience", "tag", "openids"]}),
        (_("Message"), {"fields": ["kind", "text", "media_id", "card_id", "send_ignore_reprint"]}),
    ]
    SENT_FIELDSETS = [
        (None, {"fields": ["account", "name", ("status", "wechat_status"), ("queued_at", "sent_at"),
                           "created_by"]}),
        (_("Recipients"), {"fields": ["audience", "recipients"]}),
        (_("Message"), {"fields": ["kind", "content", "send_ignore_reprint"]}),
        (_("WeChat"), {"fields": [("msg_id", "msg_data_id"), ("total_count", "filter_count"),
                                  ("sent_count", "error_count"), "reported_at", ("errcode", "errmsg"),
                                  "clientmsgid"]}),
    ]
    SENT_READONLY = ["account", "name", "status", "wechat_status", "queued_at", "sent_at", "created_by", "audience",
                     "recipients", "kind", "content", "send_ignore_reprint", "msg_id", "msg_data_id", "total_count",
                     "filter_count", "sent_count", "error_count", "reported_at", "errcode", "errmsg", "clientmsgid"]

    def has_change_permission(self, request, obj=None):
        # Only drafts are edited; what was sent stays what it was.
        return super().has_change_permission(request, obj) and (obj is None or obj.status == MassMessage.Status.DRAFT)

    def has_operate_permission(self, request, obj):
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):  # the record of a send stays
        return super().has_delete_permission(request, obj) and (obj is None or obj.status == MassMessage.Status.DRAFT)

    def has_send_permission(self, request):
        return super().has_change_permission(request)

    def _is_draft_form(self, request, obj):
        return obj is None or self.has_change_permission(request, obj)

    def get_fieldsets(self, request, obj=None):
        return self.DRAFT_FIELDSETS if self._is_draft_form(request, obj) else self.SENT_FIELDSETS

    def get_readonly_fields(self, request, obj=None):
        return [] if self._is_draft_form(request, obj) else self.SENT_READONLY

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "tag" and field is not None:
            for flag in ("can_add_related", "can_change_related", "can_delete_related", "can_view_related"):
                setattr(field.widget, flag, False)
        return field

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    # ---- columns ---------------------------------------------------------------------------------------
    @admin.display(description=_("created"), ordering="created_at")
    def created(self, obj):
        return _date(obj.created_at)

    STATUS_CLASSES = {"done": "ok", "submitted": "ok", "failed": "err", "draft": "muted", "queued": "muted",
                      "sending": "muted", "deleted": "warn"}

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj):
        html = format_html('<span class="wx-status wx-status-{}">{}</span>', self.STATUS_CLASSES.get(obj.status, "muted"),
                           obj.get_status_display())
        if obj.errcode:
            html += format_html(' <span class="wx-muted" title="{}">{}</span>', obj.errmsg, obj.errcode)
        return html

    @admin.display(description=_("audience"))
    def audience_display(self, obj):
        if obj.audience == MassMessage.Audience.TAG:
            return _("tag %(tag)s") % {"tag": obj.tag.name if obj.tag else obj.tag_id_sent}
        if obj.audience == MassMessage.Audience.LIST:
            return _("%(n)d openids") % {"n": len(obj.openids)}
        return _("all followers")

    @admin.display(description=_("recipients"))
    def recipients(self, obj):
        if obj.audience == MassMessage.Audience.LIST:
            return f"{len(obj.openids)}: " + ", ".join(obj.openids[:10]) + (" …" if len(obj.openids) > 10 else "")
        return self.audience_display(obj)

    @admin.display(description=_("sent / total"))
    def counts(self, obj):
        if obj.total_count is None:
            return "—"
        return format_html('<span title="{}">{} / {}</span>', _("after filtering: %(f)s, errors: %(e)s") % {
            "f": obj.filter_count, "e": obj.error_count}, obj.sent_count, obj.total_count)

    # ---- the page's buttons ------------------------------------------------------------------------------
    def _quota_context(self, request, account=None):
        accounts = [account] if account is not None else list(allowed_accounts(request.user))
        quotas = []
        for acc in accounts[:20]:
            q = mass_service.quota(acc)
            quotas.append({"account": acc, "quota": q, "kind": acc.get_kind_display()})
        return {"quotas": quotas, "template_vs_mass": TEMPLATE_VS_MASS}

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), **self._quota_context(request)})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if obj is not None and self.has_view_permission(request, obj):
            can = self.has_operate_permission(request, obj)
            Status = MassMessage.Status
            extra_context.update(self._quota_context(request, obj.account))
            extra_context.update({
                "mass": obj, "can_send": can and obj.status == Status.DRAFT,
                "can_preview": can and obj.status not in (Status.DELETED,),
                "can_refresh": can and bool(obj.msg_id),
                "can_delete_remote": can and bool(obj.msg_id) and obj.status in (Status.SUBMITTED, Status.DONE)
                and obj.kind in (MassMessage.Kind.MPNEWS, MassMessage.Kind.MPVIDEO),
                "preview_form": PreviewForm(),
            })
        return super().change_view(request, object_id, form_url, extra_context)

    def add_view(self, request, form_url="", extra_context=None):
        return super().add_view(request, form_url, {**(extra_context or {}), **self._quota_context(request)})

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [re_path(r"^(?P<mass_id>[0-9]{1,18})/(?P<operation>send|preview|refresh|delete-remote)/$",
                        wrap(self.operate_view), name="wechat_app_massmessage_operate")] + super().get_urls()

    def operate_view(self, request, mass_id, operation):
        mass = get_object_or_404(self.get_queryset(request), pk=int(mass_id))
        if request.method != "POST" or not self.has_operate_permission(request, mass):
            raise PermissionDenied
        page = reverse("admin:wechat_app_massmessage_change", args=[mass.pk])
        try:
            if operation == "send":
                mass_service.queue_mass(mass)
                self.message_user(request, f"{mass}: queued; WeChat sends it to the followers.", messages.SUCCESS)
            elif operation == "preview":
                form = PreviewForm(request.POST)
                if not form.is_valid():
                    raise ValidationError(form.errors["openid"])
                msg_id = mass_service.preview_mass(mass, form.cleaned_data["openid"])
                self.message_user(request, f"Preview sent to {form.cleaned_data['openid']} (msg_id {msg_id}).",
                                  messages.SUCCESS)
            elif operation == "refresh":
                mass = mass_service.refresh_status(mass)
                self.message_user(request, f"{mass}: WeChat says {mass.wechat_status or mass.status}.",
                                  messages.SUCCESS)
            else:
                mass_service.delete_mass(mass)
                self.message_user(request, f"{mass}: deleted on WeChat (its page no longer opens).", messages.SUCCESS)
        except (ValidationError, WeChatAPIError) as err:
            self.message_user(request, f"{mass}: {_error_text(err)}", messages.ERROR)
        return HttpResponseRedirect(page)

    @admin.action(description=_("Send the selected drafts (within each account's quota)"), permissions=["send"])
    def send(self, request, queryset):
        for mass in queryset:
            if not self.has_operate_permission(request, mass):
                continue
            try:
                mass_service.queue_mass(mass)
                self.message_user(request, f"{mass}: queued.", messages.SUCCESS)
            except ValidationError as err:
                self.message_user(request, f"{mass}: {_error_text(err)}", messages.ERROR)
