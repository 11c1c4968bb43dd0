"""Account admin: masked, write-only secrets; callback settings ready to copy; a "check" action."""
from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from ..conf import app_settings
from ..models import Account, AccountMembership, AgentSettings
from ..models.accounts import mask_secret
from ..protocol import InvalidAESKeyError, validate_aes_key
from ..services.access import can, can_change_credentials, grant_creator
from .access import allowed_accounts, can_access_account, get_account_or_404
from .filters import ValidatedChangeListMixin

# The labels WeChat's console uses for the three message encryption modes.
CONSOLE_MODE_LABELS = {
    Account.EncryptMode.PLAIN: "明文模式 (plain)",
    Account.EncryptMode.COMPATIBLE: "兼容模式 (compatible)",
    Account.EncryptMode.SAFE: "安全模式 (safe)",
}
SECRET_FIELDS = ("app_secret", "token", "encoding_aes_key")
COPYABLE_SECRETS = ("token", "encoding_aes_key")


class SecretInput(forms.PasswordInput):
    """A password box that never renders the stored value; its placeholder shows the mask."""

    def __init__(self, attrs=None):
        super().__init__(attrs={"autocomplete": "new-password", "class": "vTextField wx-secret", **(attrs or {})},
                         render_value=False)


def _https_url_formfield(db_field, **kwargs):
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")  # a URL typed without scheme is https
    return db_field.formfield(**kwargs)


class AccountForm(forms.ModelForm):
    """Secrets are write-only: empty keeps the stored value, anything typed replaces it.

    The admin leaves the credential fields (app id, app secret, API base URL) out of the form
    for users who may not change them (``AccountAdmin.get_fieldsets``)."""

    class Meta:
        model = Account
        fields = ["name", "channel", "app_id", "agent_id", "app_secret", "token", "encoding_aes_key", "encrypt_mode",
                  "api_base_url", "enabled", "kind", "no_match_reply", "error_reply", "js_domains"]
        widgets = {name: SecretInput() for name in SECRET_FIELDS}
        formfield_callback = _https_url_formfield  # the admin's formfield_overrides does the same

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "encoding_aes_key" in self.fields:
            self.fields["encoding_aes_key"].help_text = _(
                "43 characters from the WeChat console (开发 › 基本配置 › 消息加解密密钥). Needed for the "
                "compatible and safe modes.")
        for name in SECRET_FIELDS:
            if name not in self.fields:  # shown masked instead (AccountAdmin._shown_fields)
                continue
            stored = getattr(self.instance, name, "") if self.instance.pk else ""
            field = self.fields[name]
            if stored:
                field.required = False
                field.widget.attrs["placeholder"] = f"{mask_secret(stored)}  ({_('set; type to replace')})"
                field.help_text = format_html("{} {}", field.help_text or "", _("Leave empty to keep the current value."))
            else:
                field.widget.attrs["placeholder"] = _("not set")
        if "kind" in self.fields:  # not posted (older clients, scripts): the stored or default type stays
            self.fields["kind"].required = False
        if "channel" in self.fields:  # not posted: an Official Account (the kind cannot change later)
            self.fields["channel"].required = False
        if self.instance.pk and self.instance.channel == Account.Channel.WECOM:
            if "app_id" in self.fields:
                self.fields["app_id"].label = _("Corp ID")
                self.fields["app_id"].help_text = _("The corp's CorpID (ww...), from the WeCom admin console "
                                                    "(我的企业 › 企业信息).")
            if "app_secret" in self.fields:
                self.fields["app_secret"].label = _("App secret (the app's Secret)")
            if "agent_id" in self.fields:
                self.fields["agent_id"].required = True
        if "token" in self.fields:
            self.fields["token"].help_text = _("3 to 32 letters or digits; the same token goes into the WeChat "
                                               "console.")
        if "api_base_url" in self.fields:
            self.fields["api_base_url"].help_text = format_html(
                "{} {}", _("Leave empty for the default (%(url)s). Allowed:") % {"url": app_settings.API_BASE_URL},
                ", ".join(app_settings.ALLOWED_API_BASE_URLS))

    def _clean_secret(self, name):
        value = (self.cleaned_data.get(name) or "").strip()
        if not value and self.instance.pk:
            return getattr(Account.objects.only(name).get(pk=self.instance.pk), name)
        return value

    def clean_app_secret(self):
        return self._clean_secret("app_secret")

    def clean_channel(self):
        if self.instance.pk:  # fixed once created
            return self.instance.channel
        channel = self.cleaned_data.get("channel") or Account.Channel.OFFICIAL_ACCOUNT
        if channel == Account.Channel.ILINK:
            raise forms.ValidationError(Account.ILINK_ADDED_BY_LOGIN, code="ilink_by_login")
        return channel

    def clean_kind(self):
        return self.cleaned_data.get("kind") or self.instance.kind or Account.Kind.SERVICE

    def clean_token(self):
        return self._clean_secret("token")

    def clean_encoding_aes_key(self):
        return self._clean_secret("encoding_aes_key")


@dataclass
class CheckResult:
    ok: bool
    label: str
    detail: str = ""
    level: str = "ok"  # ok | warning | error | skipped


def check_account(account: Account) -> list[CheckResult]:
    """Verify an account's configuration; never includes a secret in its messages."""
    results = []
    if account.channel == Account.Channel.ILINK:
        return _check_ilink(account)
    results.append(CheckResult(bool(account.enabled), _("Account enabled"),
                               "" if account.enabled else _("The callback answers 404 while disabled."),
                               "ok" if account.enabled else "warning"))
    token_ok = bool(account.token) and account.token.isalnum() and 3 <= len(account.token) <= 32
    results.append(CheckResult(token_ok, _("Token well-formed"), "" if token_ok else _("3 to 32 letters or digits."),
                               "ok" if token_ok else "error"))
    if account.encoding_aes_key:
        try:
            validate_aes_key(account.encoding_aes_key)
            crypto = account.crypto
            sample = "<xml><Content><![CDATA[check]]></Content></xml>"
            packed = crypto.encrypt(sample) if hasattr(crypto, "encrypt") else None
            if packed is not None and hasattr(crypto, "decrypt"):
                roundtrip = crypto.decrypt(packed)
                roundtrip = roundtrip.decode() if isinstance(roundtrip, bytes) else roundtrip
                if roundtrip != sample:
                    raise InvalidAESKeyError("encrypt/decrypt round trip failed")
            results.append(CheckResult(True, _("EncodingAESKey well-formed"),
                                       _("43 characters of base64; encryption round trip works.")))
        except Exception as err:  # InvalidAESKeyError, or a crypto failure
            results.append(CheckResult(False, _("EncodingAESKey well-formed"), str(err), "error"))
    elif account.encrypt_mode != Account.EncryptMode.PLAIN:
        results.append(CheckResult(False, _("EncodingAESKey well-formed"),
                                   _("The %(mode)s mode needs an EncodingAESKey.") % {"mode": account.encrypt_mode},
                                   "error"))
    else:
        results.append(CheckResult(True, _("EncodingAESKey"), _("Not set (plain mode does not need one)."), "skipped"))
    results.append(_check_api(account))
    return results


def _check_ilink(account: Account) -> list[CheckResult]:
    """An iLink bot account: enabled, logged in, its session active and polled (no secret shown)."""
    from ..models import ILinkBot

    results = [CheckResult(bool(account.enabled), _("Account enabled"),
                           "" if account.enabled else _("The bot is not polled while disabled."),
                           "ok" if account.enabled else "warning")]
    bot = ILinkBot.objects.filter(account=account).first()
    if bot is None:
        results.append(CheckResult(False, _("Logged in"), _("No QR login completed yet."), "error"))
        return results
    active = bot.status == ILinkBot.Status.ACTIVE
    results.append(CheckResult(active, _("Session active"), "" if active else bot.get_status_display(),
                               "ok" if active else "error"))
    results.append(CheckResult(bot.polling_enabled, _("Polling enabled"), bot.last_error[:200],
                               "ok" if bot.polling_enabled else "warning"))
    return results


def _check_api(account) -> CheckResult:
    """Fetch an access token through the API client (from the cache when one is valid)."""
    from ..client import WeChatAPIError
    from ..services.tokens import get_access_token

    label = _("API reachable (access token)")
    try:
        ok = bool(get_access_token(account))
    except WeChatAPIError as err:
        # The client's errors carry WeChat's errcode/errmsg and the endpoint, never the secret.
        return CheckResult(False, label, str(err), "error")
    return CheckResult(ok, label, _("Token obtained from %(url)s.") % {"url": account.effective_api_base_url}
                       if ok else _("No token returned."), "ok" if ok else "error")


class MembershipInline(admin.TabularInline):
    model = AccountMembership
    extra = 0
    autocomplete_fields = []
    verbose_name = _("staff member with access")
    verbose_name_plural = _("staff members with access (superusers always have it)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    has_add_permission = has_change_permission = has_delete_permission = (
        lambda self, request, obj=None: request.user.is_superuser)


class AgentSettingsForm(forms.ModelForm):
    """The agent gateway's settings; the shared secret is write-only like the account's secrets."""

    class Meta:
        model = AgentSettings
        fields = ["mode", "scope", "callback_url", "shared_secret", "max_attempts"]
        widgets = {"shared_secret": SecretInput()}
        formfield_callback = _https_url_formfield

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields.get("shared_secret")
        if field is None:  # view only: the inline shows it masked instead
            return
        stored = self.instance.shared_secret if self.instance.pk else ""
        if stored:
            field.widget.attrs["placeholder"] = f"{mask_secret(stored)}  ({_('set; type to replace')})"
            field.help_text = format_html("{} {}", field.help_text or "", _("Leave empty to keep the current value."))
        else:
            field.widget.attrs["placeholder"] = _("not set")

    def clean_shared_secret(self):
        value = (self.cleaned_data.get("shared_secret") or "").strip()
        if not value and self.instance.pk:
            return AgentSettings.objects.only("shared_secret").get(pk=self.instance.pk).shared_secret
        return value


class AgentSettingsInline(admin.StackedInline):
    """Hand conversations to an agent runtime (docs/agent-gateway.md)."""

    model = AgentSettings
    form = AgentSettingsForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    extra = 0
    max_num = 1
    can_delete = True
    verbose_name = _("agent gateway")
    verbose_name_plural = _("agent gateway (hand conversations to an agent)")

    # The settings are part of the account, as in the REST API (accounts/{name}/agent/): who may
    # view the account sees them, who may change it changes them.
    def has_view_permission(self, request, obj=None):
        return can(request.user, "view", Account, obj) or can(request.user, "change", Account, obj)

    def has_add_permission(self, request, obj=None):
        return can(request.user, "change", Account, obj)

    has_change_permission = has_delete_permission = has_add_permission

    # Shown (not edited) to who may only view the account: the shared secret masked, never in clear.
    readonly_fields = ["shared_secret_shown"]

    def get_fields(self, request, obj=None):
        fields = [name for name in super().get_fields(request, obj) if name != "shared_secret_shown"]
        if not self.has_change_permission(request, obj):
            fields = ["shared_secret_shown" if name == "shared_secret" else name for name in fields]
        return fields

    @admin.display(description=_("shared secret"))
    def shared_secret_shown(self, settings):
        return mask_secret(getattr(settings, "shared_secret", "")) or "-"


@admin.register(Account)
class AccountAdmin(ValidatedChangeListMixin, admin.ModelAdmin):
    form = AccountForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    inlines = [MembershipInline, AgentSettingsInline]
    change_form_template = "admin/wechat_app/account/change_form.html"
    list_display = ["name", "channel", "app_id", "mode_display", "enabled", "rule_count", "tools"]
    list_filter = ["channel", "enabled", "encrypt_mode"]
    search_fields = ["name", "app_id"]
    actions = ["check_accounts"]
    fieldsets = [
        (None, {"fields": ["name", ("app_id", "enabled"), "kind"]}),
        (_("Secrets (write-only: stored values are never shown)"),
         {"fields": ["app_secret", "token", "encoding_aes_key"]}),
        (_("Callback and API"), {"fields": ["encrypt_mode", "api_base_url"]}),
        (_("Error replies"), {"fields": ["no_match_reply", "error_reply"]}),
        (_("Web pages (JS-SDK)"), {"fields": ["js_domains"]}),
    ]

    class Media:
        css = {"all": ["wechat_app/css/console.css"]}
        js = ["wechat_app/js/console.js"]

    def _shown_fields(self, request, obj) -> dict[str, str]:
        """Fields shown instead of edited, and how: without the credentials permission the app
        id, secret and API base URL (a new account still gets its app id and secret, on the
        default API host); without change permission every secret, masked."""
        shown = {}
        if not can_change_credentials(request.user):
            shown["api_base_url"] = "api_base_url_shown"
            if obj is not None:
                shown.update(app_id="app_id", app_secret="app_secret_shown")
        if obj is not None and not self.has_change_permission(request, obj):
            shown.update(app_secret="app_secret_shown", token="token_shown", encoding_aes_key="aes_key_shown")
        return shown

    # A WeCom app: its corp id and agent id; always encrypted and without a mass-send quota, so
    # neither the mode nor the account type is asked.
    wecom_fieldsets = [
        (None, {"fields": ["name", "channel", ("app_id", "agent_id"), "enabled"]}),
        (_("Secrets (write-only: stored values are never shown)"),
         {"fields": ["app_secret", "token", "encoding_aes_key"]}),
        (_("Callback and API"), {"fields": ["api_base_url"]}),
        (_("Error replies"), {"fields": ["no_match_reply", "error_reply"]}),
    ]
    add_fieldsets = [
        (None, {"fields": ["name", "channel", ("app_id", "agent_id"), "enabled", "kind"]}),
        *fieldsets[1:],
    ]
    # An iLink bot has no secrets, callback or JS-SDK settings: its session is the bot's (ILinkBot).
    ilink_fieldsets = [
        (None, {"fields": ["name", ("app_id", "enabled")],
                "description": _("A personal WeChat bot (iLink): it logs in by QR code and is polled; see "
                                 "iLink bots.")}),
        (_("Error replies"), {"fields": ["no_match_reply", "error_reply"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        if obj is not None and obj.channel == Account.Channel.ILINK:
            return self.ilink_fieldsets
        shown = self._shown_fields(request, obj)
        if obj is None:
            fieldsets = self.add_fieldsets
        elif obj.channel == Account.Channel.WECOM:
            fieldsets = self.wecom_fieldsets
        else:
            fieldsets = self.fieldsets

        def swap(fields):
            return [swap(f) if isinstance(f, (list, tuple)) else shown.get(f, f) for f in fields]

        return [(title, {**options, "fields": swap(options["fields"])}) for title, options in fieldsets]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.channel == Account.Channel.ILINK:
            return ("app_id",)  # the bot id, set by the QR login
        shown = tuple(self._shown_fields(request, obj).values())
        return shown + ("channel",) if obj is not None else shown

    @admin.display(description=_("app secret"))
    def app_secret_shown(self, account):
        return mask_secret(account.app_secret) or "-"

    @admin.display(description=_("token"))
    def token_shown(self, account):
        return mask_secret(account.token) or "-"

    @admin.display(description=_("EncodingAESKey"))
    def aes_key_shown(self, account):
        return mask_secret(account.encoding_aes_key) or "-"

    @admin.display(description=_("API base URL"))
    def api_base_url_shown(self, account):
        return account.effective_api_base_url if account.pk else app_settings.API_BASE_URL

    def get_queryset(self, request):
        qs = super().get_queryset(request).annotate(rules_total=Count("rules"))
        if request.user.is_superuser:
            return qs
        return qs.filter(pk__in=allowed_accounts(request.user).values("pk"))

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and (obj is None or can_access_account(request.user, obj))

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or can_access_account(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or can_access_account(request.user, obj))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            grant_creator(request.user, obj)

    @admin.display(description=_("mode"), ordering="encrypt_mode")
    def mode_display(self, account):
        return account.get_encrypt_mode_display()

    @admin.display(description=_("rules"), ordering="rules_total")
    def rule_count(self, account):
        url = reverse("admin:wechat_app_rule_changelist") + f"?account__id__exact={account.pk}"
        return format_html('<a href="{}">{}</a>', url, account.rules_total)

    @admin.display(description=_("tools"))
    def tools(self, account):
        return format_html(
            '<a class="wx-chip" href="{}">📊 {}</a> <a class="wx-chip" href="{}">💬 {}</a> '
            '<a class="wx-chip" href="{}">🗒 {}</a>',
            reverse("admin:wechat_app_account_dashboard", args=[account.pk]), _("Dashboard"),
            reverse("admin:wechat_app_rule_simulator") + f"?account={account.pk}", _("Try it"),
            reverse("admin:wechat_app_messagelog_changelist") + f"?account__id__exact={account.pk}", _("Log"),
        )

    # The checks fetch a token: they send the account's secret to its API host, so they need
    # change permission (like every action that contacts WeChat).
    @admin.action(description=_("Check the configuration of the selected accounts"), permissions=["change"])
    def check_accounts(self, request, queryset):
        for account in queryset:
            if not self.has_change_permission(request, account):
                raise PermissionDenied
            failed = [r for r in check_account(account) if r.level == "error"]
            if failed:
                self.message_user(request, _("%(account)s: %(problems)s") % {
                    "account": account.name, "problems": "; ".join(f"{r.label}: {r.detail}" for r in failed)},
                    messages.ERROR)
            else:
                self.message_user(request, _("%(account)s: configuration OK.") % {"account": account.name},
                                  messages.SUCCESS)

    # ---- extra screens --------------------------------------------------------------------------
    def get_urls(self):
        from . import dashboard

        wrap = self.admin_site.admin_view
        return [
            path("<int:account_id>/check/", wrap(self.check_view), name="wechat_app_account_check"),
            path("<int:account_id>/secret/<str:name>/", wrap(self.secret_view), name="wechat_app_account_secret"),
            path("<int:account_id>/dashboard/", wrap(dashboard.DashboardView.as_view(model_admin=self)),
                 name="wechat_app_account_dashboard"),
        ] + super().get_urls()

    def callback_info(self, request, account):
        path_ = reverse("wechat_app:callback", args=[account.name])
        return {
            "url": request.build_absolute_uri(path_),
            "token_masked": mask_secret(account.token),
            "aes_key_masked": mask_secret(account.encoding_aes_key),
            "mode": CONSOLE_MODE_LABELS.get(account.encrypt_mode, account.encrypt_mode),
            "mode_value": account.encrypt_mode,
            "wecom": account.channel == Account.Channel.WECOM,  # always encrypted: no mode to choose
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        account = self.get_object(request, object_id)
        if account is not None and self.has_view_permission(request, account):
            extra_context["callback"] = self.callback_info(request, account)
            extra_context["can_copy_secrets"] = extra_context["can_check"] = self.has_change_permission(
                request, account)
        return super().change_view(request, object_id, form_url, extra_context)

    def check_view(self, request, account_id):
        account = get_account_or_404(request, account_id)
        if not self.has_change_permission(request, account):  # it contacts WeChat with the secret
            raise PermissionDenied
        results = check_account(account)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts, "original": account, "account": account,
            "title": _("Check %(name)s") % {"name": account.name},
            "results": results, "all_ok": not any(r.level == "error" for r in results),
            "callback": self.callback_info(request, account), "media": self.media,
        }
        return TemplateResponse(request, "admin/wechat_app/account/check.html", context)

    def secret_view(self, request, account_id, name):
        """Hand one copyable secret to the copy button (POST only, never cached, change permission)."""
        return _secret_response(request, self, account_id, name)


@never_cache
@require_POST
def _secret_response(request, model_admin, account_id, name):
    account = get_account_or_404(request, account_id)
    if name not in COPYABLE_SECRETS or not model_admin.has_change_permission(request, account):
        raise PermissionDenied
    return JsonResponse({"value": getattr(account, name)})
