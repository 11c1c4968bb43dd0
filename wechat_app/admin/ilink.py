"""iLink bots in the admin: their session and polling state, the QR login page, polling on/off.

A bot whose session expired (errcode -14) shows "expired" with a "log in again" link to the QR
login page; the list says whether the poller process is running. The login page draws the QR
code, and refreshes itself while the login waits (each refresh long-polls iLink a moment).
"""
from __future__ import annotations

import base64
import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..client.errors import WeChatAPIError
from ..models import Account, ILinkBot, ILinkLogin
from ..models.accounts import name_validator
from ..services import ilink as service
from ..services.access import can
from .access import AccountScopedAdminMixin, can_access_account
from .filters import AccountListFilter


class LoginForm(forms.Form):
    account = forms.CharField(label=_("Account name"), max_length=64, validators=[name_validator],
                              help_text=_("A new name creates the account when the login completes; the name of "
                                          "an iLink account logs it in again."))


@admin.register(ILinkBot)
class ILinkBotAdmin(AccountScopedAdminMixin, admin.ModelAdmin):
    list_display = ["account", "bot_id", "status_badge", "polling_enabled", "last_poll_at", "last_message_at",
                    "messages_received", "error_short"]
    list_filter = [AccountListFilter, "status", "polling_enabled"]
    search_fields = ["bot_id", "account__name", "ilink_user_id"]
    fields = ["account", "bot_id", "ilink_user_id", "status_badge", "polling_enabled", "api_base_url", "cdn_base_url",
              "logged_in_at", "last_poll_at", "last_message_at", "messages_received", "consecutive_errors",
              "last_error", "last_error_at"]
    readonly_fields = [f for f in fields if f != "polling_enabled"]
    actions = ["log_in_again", "enable_polling", "disable_polling"]

    def has_add_permission(self, request, *args):
        return False  # bots come from QR logins (the "log in a bot" button)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account")

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, bot):
        if bot.status == ILinkBot.Status.EXPIRED:
            url = reverse("admin:wechat_app_ilinkbot_login") + f"?account={bot.account.name}"
            return format_html('<strong style="color:#ba2121">{}</strong> — <a href="{}">{}</a>',
                               bot.get_status_display(), url, _("log in again"))
        return bot.get_status_display()

    @admin.display(description=_("last error"))
    def error_short(self, bot):
        return (bot.last_error[:80] + "…") if len(bot.last_error) > 80 else (bot.last_error or "-")

    def changelist_view(self, request, extra_context=None):
        beat = service.poller_heartbeat()
        extra_context = {**(extra_context or {}), "poller": beat,
                         "can_login": can(request.user, "add", ILinkLogin)}
        return super().changelist_view(request, extra_context)

    @admin.action(description=_("Log in again (QR code)"), permissions=["change"])
    def log_in_again(self, request, queryset):
        bots = [bot for bot in queryset.select_related("account") if self.has_change_permission(request, bot)]
        if len(bots) != 1:
            self.message_user(request, _("%(n)d bots selected: choose one to log in again.") % {"n": len(bots)},
                              messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:wechat_app_ilinkbot_login") + f"?account={bots[0].account.name}")

    @admin.action(description=_("Enable polling"), permissions=["change"])
    def enable_polling(self, request, queryset):
        self._switch(request, queryset, True)

    @admin.action(description=_("Disable polling"), permissions=["change"])
    def disable_polling(self, request, queryset):
        self._switch(request, queryset, False)

    def _switch(self, request, queryset, enabled):
        allowed = [bot.account for bot in queryset if self.has_change_permission(request, bot)]
        names = service.set_polling(enabled, allowed) if allowed else []
        text = _("%(n)d bot(s) will be polled: %(names)s") if enabled else _("%(n)d bot(s) no longer polled: %(names)s")
        self.message_user(request, text % {"n": len(names), "names": ", ".join(names) or "-"},
                          messages.SUCCESS if names else messages.WARNING)

    # --- the QR login -------------------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("login/", view(self.login_view), name="wechat_app_ilinkbot_login"),
                path("login/<uuid:session_id>/", view(self.login_status_view), name="wechat_app_ilinkbot_login_status"),
                *super().get_urls()]

    def login_view(self, request):
        if not can(request.user, "add", ILinkLogin):
            raise PermissionDenied
        form = LoginForm(request.POST or None, initial={"account": request.GET.get("account", "")})
        if request.method == "POST" and form.is_valid():
            name = form.cleaned_data["account"]
            existing = Account.objects.filter(name=name).first()
            if existing is None and not can(request.user, "add", Account):
                form.add_error("account", _("Creating an account needs the permission to add accounts."))
            elif existing is not None and not can_access_account(request.user, existing.pk):
                form.add_error("account", _("This name belongs to an account you cannot access."))
            else:
                try:
                    login = service.start_login(name, user=request.user)
                except service.ILinkError as err:
                    form.add_error("account", str(err))
                except WeChatAPIError as err:
                    form.add_error(None, _("iLink could not start a login: %s") % err)
                else:
                    return HttpResponseRedirect(reverse("admin:wechat_app_ilinkbot_login_status",
                                                        args=[login.session_id]))
        context = {**self.admin_site.each_context(request), "title": _("Log in an iLink bot"), "form": form,
                   "opts": self.model._meta}
        return TemplateResponse(request, "admin/wechat_app/ilinkbot/login.html", context)

    def _login_or_404(self, request, session_id: uuid.UUID) -> ILinkLogin:
        login = ILinkLogin.objects.select_related("account").filter(session_id=session_id).first()
        if login is None or not can(request.user, "view", ILinkLogin):
            raise Http404
        if login.account_id is not None:
            if not can_access_account(request.user, login.account_id):
                raise Http404
        elif not request.user.is_superuser and login.created_by_id != request.user.pk:
            raise Http404
        return login

    def login_status_view(self, request, session_id):
        login = self._login_or_404(request, session_id)
        if request.method == "POST" and "cancel" in request.POST:
            if not can(request.user, "change", ILinkLogin):
                raise PermissionDenied
            login = service.cancel_login(login)
        elif login.status in ILinkLogin.OPEN:
            try:
                login = service.login_status(login, wait=2)
            except service.ILinkError as err:
                messages.error(request, str(err))
        qr = None
        if login.status in ILinkLogin.OPEN:
            qr = base64.b64encode(service.qrcode_png(login)).decode()
        context = {**self.admin_site.each_context(request), "title": _("iLink login: %s") % login.account_name,
                   "login": login, "qr": qr, "opts": self.model._meta, "refresh": login.status in ILinkLogin.OPEN,
                   "bot_url": (reverse("admin:wechat_app_ilinkbot_change", args=[login.account.ilink_bot.pk])
                               if login.status == "confirmed" and login.account_id else None)}
        return TemplateResponse(request, "admin/wechat_app/ilinkbot/login_status.html", context)
