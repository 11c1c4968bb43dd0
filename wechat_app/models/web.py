"""The web side of an account: WeChat users who logged in to its H5 pages (OAuth), QR codes with
scene tracking, short keys."""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

QR_PERMANENT_MAX_SCENE_ID = 100_000        # WeChat: permanent codes take scene ids 1..100000
QR_TEMPORARY_MAX_SCENE_ID = 0xFFFFFFFF     # temporary: a 32-bit non-zero integer
QR_MAX_EXPIRE = 2_592_000                  # 30 days
QR_SCENE_STR_MAX = 64


class WeChatUser(models.Model):
    """One WeChat identity (account + openid) that logged in through OAuth, linked to a Django user
    (django-allauth's SocialAccount, small). The OAuth access token is never kept; the refresh
    token is kept encrypted (``services.oauth``), for profile refreshes, and never shown."""

    class Scope(models.TextChoices):
        BASE = "snsapi_base", "snsapi_base"
        USERINFO = "snsapi_userinfo", "snsapi_userinfo"

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="wechat_users")
    openid = models.CharField(_("openid"), max_length=128)
    unionid = models.CharField(_("unionid"), max_length=128, blank=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True,
                             related_name="wechat_identities")
    scope = models.CharField(_("scope"), max_length=32, choices=Scope.choices, default=Scope.BASE)
    profile = models.JSONField(_("profile"), default=dict, blank=True)
    refresh_token_encrypted = models.TextField(blank=True, editable=False)
    refresh_token_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    first_login_at = models.DateTimeField(_("first login"), auto_now_add=True)
    last_login_at = models.DateTimeField(_("last login"), null=True, blank=True)

    class Meta:
        verbose_name = _("WeChat web user")
        verbose_name_plural = _("WeChat web users")
        ordering = ["-last_login_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["account", "openid"], name="wechat_webuser_unique_openid")]

    def __str__(self):
        return self.nickname or self.openid

    def __repr__(self):
        return f"<WeChatUser {self.account_id}:{self.openid!r}>"

    @property
    def nickname(self) -> str:
        return str((self.profile or {}).get("nickname") or "")

    def has_scope(self, scope: str) -> bool:
        """snsapi_userinfo includes snsapi_base."""
        return scope == self.Scope.BASE or self.scope == self.Scope.USERINFO


class QRCode(models.Model):
    """A parametric QR code: temporary (expires) or permanent, with a scene id or a scene string.

    Scanning it sends the account a SCAN event (followers) or a subscribe event whose EventKey is
    ``qrscene_<scene>`` (new followers); both reach the linked rule, and the message log holds
    what each code brought in (``services.qrcodes.figures``).
    https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html
    """

    class Kind(models.TextChoices):
        TEMPORARY = "temporary", _("Temporary")
        PERMANENT = "permanent", _("Permanent")

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="qrcodes")
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.TEMPORARY)
    scene_id = models.PositiveBigIntegerField(_("scene id"), null=True, blank=True,
                                              help_text=_("A number (permanent codes: 1 to 100000)..."))
    scene_str = models.CharField(_("scene string"), max_length=QR_SCENE_STR_MAX, blank=True,
                                 help_text=_("... or a string of 1 to 64 characters. Not both."))
    # The scene as events carry it (the id in decimal, or the string): what the log is searched by.
    scene = models.CharField(_("scene"), max_length=QR_SCENE_STR_MAX, editable=False)
    expire_seconds = models.PositiveIntegerField(_("expires after (seconds)"), null=True, blank=True,
                                                 help_text=_("Temporary codes: 60 to 2592000 (30 days)."))
    ticket = models.CharField(_("ticket"), max_length=255, blank=True, editable=False)
    url = models.URLField(_("URL"), max_length=255, blank=True, editable=False,
                          help_text=_("What the code encodes (WeChat's answer)."))
    short_key = models.CharField(_("short key"), max_length=64, blank=True, editable=False)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True, editable=False)
    rule = models.ForeignKey("wechat_app.Rule", on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="qrcodes", verbose_name=_("linked rule"),
                             help_text=_("An event rule for SCAN with this code's scene as its key: it "
                                         "answers scans and subscribes through the code."))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("QR code")
        verbose_name_plural = _("QR codes")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["account", "scene"], name="wechat_qrcode_unique_scene")]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        errors = {}
        if (self.scene_id is None) == (not self.scene_str):
            errors["scene_id"] = _("Give a scene id or a scene string (one of them).")
        elif self.scene_id is not None:
            limit = QR_PERMANENT_MAX_SCENE_ID if self.kind == self.Kind.PERMANENT else QR_TEMPORARY_MAX_SCENE_ID
            if not 1 <= self.scene_id <= limit:
                errors["scene_id"] = _("A %(kind)s code's scene id is 1 to %(limit)s.") % {
                    "kind": self.get_kind_display().lower(), "limit": limit}
        elif self.scene_str and (self.scene_str != self.scene_str.strip() or any(ord(c) < 32 for c in self.scene_str)):
            errors["scene_str"] = _("The scene string has no surrounding spaces or control characters.")
        if self.kind == self.Kind.TEMPORARY:
            if self.expire_seconds is None:
                self.expire_seconds = QR_MAX_EXPIRE
            if not 60 <= self.expire_seconds <= QR_MAX_EXPIRE:
                errors["expire_seconds"] = _("A temporary code lives 60 to 2592000 seconds (30 days).")
        elif self.expire_seconds:
            errors["expire_seconds"] = _("A permanent code does not expire: leave this empty.")
        if self.rule_id and self.account_id and self.rule.account_id != self.account_id:
            errors["rule"] = _("The rule belongs to another account.")
        if not errors and self.account_id and QRCode.objects.filter(
                account_id=self.account_id, scene=self.scene_value).exclude(pk=self.pk).exists():
            errors["scene_id" if self.scene_id is not None else "scene_str"] = _(
                "Another QR code of this account has this scene: scans could not be told apart.")
        if errors:
            raise ValidationError(errors)
        self.scene = self.scene_value

    @property
    def scene_value(self) -> str:
        return str(self.scene_id) if self.scene_id is not None else self.scene_str

    @property
    def is_expired(self) -> bool:
        from django.utils import timezone

        return self.expires_at is not None and self.expires_at <= timezone.now()


class ShortLink(models.Model):
    """A short key WeChat made for long data (/cgi-bin/shorturl/genshorten)."""

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="short_links")
    long_data = models.TextField(_("long data"), max_length=4096)
    short_key = models.CharField(_("short key"), max_length=64, editable=False)
    expire_seconds = models.PositiveIntegerField(_("expires after (seconds)"), default=QR_MAX_EXPIRE)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("short link")
        verbose_name_plural = _("short links")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.short_key or self.long_data[:40]

    def clean(self):
        super().clean()
        if not self.long_data or len(self.long_data.encode("utf-8")) > 4096:
            raise ValidationError({"long_data": _("Give 1 to 4096 bytes.")})
        if not 1 <= (self.expire_seconds or 0) <= QR_MAX_EXPIRE:
            raise ValidationError({"expire_seconds": _("1 to 2592000 seconds (30 days).")})
