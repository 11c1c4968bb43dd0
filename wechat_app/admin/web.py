"""Admin screens of the web side: QR codes (created through WeChat, image, PNG download, figures
from the message log, a linked reply rule, short keys), short links, and the WeChat users who
logged in to the H5 pages (read-only; their OAuth tokens are never shown).
"""
from __future__ import annotations

import base64

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, Concat, Lower
from django.http import Http404, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..client import WeChatAPIError, WeChatTransportError
from ..client.errors import DisallowedBaseURL
from ..models import MessageLog, QRCode, ShortLink, WeChatUser
from ..services import qrcodes
from .access import AccountScopedAdminMixin, can_access_account
from .filters import AccountListFilter

WECHAT_ERRORS = (WeChatAPIError, WeChatTransportError, DisallowedBaseURL)


def _wechat_error_text(err) -> str:
    if isinstance(err, WeChatAPIError) and not isinstance(err, WeChatTransportError):
        return _("WeChat refused it: %(code)s %(msg)s") % {"code": err.errcode, "msg": err.errmsg}
    return _("WeChat could not be reached (%(what)s); nothing was saved, try again.") % {"what": str(err)}


def _event_count(event: str, key) -> Coalesce:
    rows = (MessageLog.objects.filter(account=OuterRef("account"), msg_type="event", event_key=key)
            .annotate(_event=Lower("event")).filter(_event=event)
            .order_by().values("account").annotate(n=Count("id")).values("n")[:1])
    return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))


class QRCodeForm(forms.ModelForm):
    reply = forms.CharField(label=_("Reply to a scan"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
                            max_length=600,
                            help_text=_("Creates (or reuses) the event rule for SCAN with this code's scene, "
                                        "linked to the code: it answers scans, and subscribes through the code."))

    class Meta:
        model = QRCode
        fields = ["account", "name", "kind", "scene_id", "scene_str", "expire_seconds", "rule"]

    def _post_clean(self):
        super()._post_clean()
        if self.instance.pk is None and not self.errors:
            # The code exists only once WeChat made it: ask now, so that a refusal is shown here.
            try:
                qrcodes.request_qrcode(self.instance)
            except WECHAT_ERRORS as err:
                self.add_error(None, _wechat_error_text(err))


@admin.register(QRCode)
class QRCodeAdmin(AccountScopedAdminMixin, admin.ModelAdmin):
    form = QRCodeForm
    list_display = ["thumbnail", "name", "account", "kind", "scene", "expiry", "scans", "new_followers", "rule"]
    list_display_links = ["thumbnail", "name"]
    list_filter = [AccountListFilter, "kind"]
    search_fields = ["name", "scene"]
    actions = ["shorten"]

    class Media:
        css = {"all": ["wechat_app/css/console.css", "wechat_app/css/web.css"]}

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["account", "name", "kind", "scene_id", "scene_str", "expire_seconds", "rule", "reply"]
        return ["image", "name", "rule", "reply", "account", "kind", "scene", "expiry", "url", "short_key",
                "figures"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["image", "account", "kind", "scene", "expiry", "url", "short_key", "figures"]

    def get_queryset(self, request):
        return (super().get_queryset(request).select_related("account", "rule")
                .annotate(_scan_count=_event_count("scan", OuterRef("scene")),
                          _subscribe_count=_event_count("subscribe", Concat(Value(qrcodes.QRSCENE), OuterRef("scene")))))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        reply = form.cleaned_data.get("reply", "").strip()
        if reply:
            rule = qrcodes.link_rule(obj, reply)
            self.message_user(request, _("The rule “%(rule)s” answers this code.") % {"rule": rule.name},
                              messages.SUCCESS)

    # --- columns ---------------------------------------------------------------------------
    def _png_url(self, obj):
        return reverse("admin:wechat_app_qrcode_png", args=[obj.pk])

    @admin.display(description=_("code"))
    def thumbnail(self, obj):
        return format_html('<img src="{}" alt="" width="48" height="48" style="image-rendering:pixelated">',
                           self._png_url(obj))

    @admin.display(description=_("image"))
    def image(self, obj):
        data = base64.b64encode(qrcodes.png(obj, scale=6)).decode()
        return format_html('<img src="data:image/png;base64,{}" alt="QR code {}" width="200" height="200"><br>'
                           '<a href="{}?download=1">{}</a>', data, obj.scene, self._png_url(obj), _("Download PNG"))

    @admin.display(description=_("expires"), ordering="expires_at")
    def expiry(self, obj):
        if obj.expires_at is None:
            return _("never")
        return format_html('<span title="{}">{}{}</span>', obj.expires_at.strftime("%Y-%m-%d %H:%M:%S %Z"),
                           obj.expires_at.strftime("%Y-%m-%d"), " (expired)" if obj.is_expired else "")

    @admin.display(description=_("scans"), ordering="_scan_count")
    def scans(self, obj):
        return getattr(obj, "_scan_count", 0) + getattr(obj, "_subscribe_count", 0)

    @admin.display(description=_("followers"), ordering="_subscribe_count")
    def new_followers(self, obj):
        return getattr(obj, "_subscribe_count", 0)

    @admin.display(description=_("figures"))
    def figures(self, obj):
        found = qrcodes.figures(obj)
        return _("%(scans)s scans by %(users)s users, %(new)s new followers (from the message log)") % {
            "scans": found["scans"], "users": found["users"], "new": found["new_followers"]}

    # --- the image ---------------------------------------------------------------------------
    def get_urls(self):
        return [path("<int:pk>/png/", self.admin_site.admin_view(self.png_view), name="wechat_app_qrcode_png"),
                *super().get_urls()]

    def png_view(self, request, pk):
        qr = QRCode.objects.filter(pk=pk).first()
        if qr is None or not can_access_account(request.user, qr.account_id):
            raise Http404
        if not self.has_view_permission(request, qr):
            raise PermissionDenied
        response = HttpResponse(qrcodes.png(qr), content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        if request.GET.get("download"):
            response["Content-Disposition"] = f'attachment; filename="qrcode-{qr.account.name}-{qr.pk}.png"'
        return response

    # --- actions -----------------------------------------------------------------------------
    @admin.action(description=_("Shorten the codes' URLs (WeChat short keys)"), permissions=["change"])
    def shorten(self, request, queryset):
        done = 0
        for qr in queryset.select_related("account"):
            if not self.has_change_permission(request, qr):
                continue
            try:
                qrcodes.shorten_qrcode_url(qr)
                done += 1
            except WECHAT_ERRORS as err:
                self.message_user(request, f"{qr.name}: {_wechat_error_text(err)}", messages.ERROR)
        if done:
            self.message_user(request, _("%(n)d short key(s) made.") % {"n": done}, messages.SUCCESS)


class ShortLinkForm(forms.ModelForm):
    class Meta:
        model = ShortLink
        fields = ["account", "long_data", "expire_seconds"]

    def _post_clean(self):
        super()._post_clean()
        if self.instance.pk is None and not self.errors:
            from ..services.tokens import get_client

            link = self.instance
            try:
                link.short_key = get_client(link.account).shorturl.generate(link.long_data, link.expire_seconds)
            except WECHAT_ERRORS as err:
                self.add_error(None, _wechat_error_text(err))
                return
            from datetime import timedelta

            from django.utils import timezone

            link.expires_at = timezone.now() + timedelta(seconds=link.expire_seconds)


@admin.register(ShortLink)
class ShortLinkAdmin(AccountScopedAdminMixin, admin.ModelAdmin):
    form = ShortLinkForm
    list_display = ["short_key", "long_data_short", "account", "expires_at", "created_at"]
    list_filter = [AccountListFilter]
    search_fields = ["short_key", "long_data"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["account", "long_data", "expire_seconds", "short_key", "expires_at"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["account", "long_data", "expire_seconds"]
        return ["short_key", "long_data", "account", "expire_seconds", "expires_at"]

    @admin.display(description=_("long data"))
    def long_data_short(self, obj):
        return obj.long_data if len(obj.long_data) <= 80 else obj.long_data[:79] + "…"


@admin.register(WeChatUser)
class WeChatUserAdmin(AccountScopedAdminMixin, admin.ModelAdmin):
    """Who logged in to the H5 pages. Read-only: the row comes from WeChat; the tokens stay hidden."""

    list_display = ["openid", "nickname", "account", "user", "scope", "last_login_at"]
    list_filter = [AccountListFilter, "scope"]
    search_fields = ["openid", "unionid", "user__username"]
    fields = ["account", "openid", "unionid", "user", "scope", "profile", "first_login_at", "last_login_at"]
    readonly_fields = fields

    actions = ["refresh_profiles"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Refresh the profiles from WeChat (refresh token, /sns/auth, /sns/userinfo)"),
                  permissions=["change"])
    def refresh_profiles(self, request, queryset):
        from ..services import oauth

        done = 0
        for wechat_user in queryset.select_related("account"):
            if not self.has_change_permission(request, wechat_user):
                continue
            try:
                oauth.refresh_profile(wechat_user)
                done += 1
            except oauth.OAuthFailure as failure:
                self.message_user(request, f"{wechat_user.openid}: {failure.detail}", messages.WARNING)
        if done:
            self.message_user(request, _("%(n)d profile(s) refreshed.") % {"n": done}, messages.SUCCESS)
