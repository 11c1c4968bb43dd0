"""iLink bots (personal WeChat accounts driven through the iLink bot API) and their QR logins."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ILinkBot(models.Model):
    """The session of an account whose channel is ``ilink``: its bot token (a secret, never shown),
    where its API and CDN are, and the poller's state (the opaque ``cursor`` of ``getupdates``,
    persisted only once the batch it follows is stored)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        EXPIRED = "expired", _("Expired (log in again)")
        STOPPED = "stopped", _("Stopped")

    account = models.OneToOneField("wechat_app.Account", on_delete=models.CASCADE, related_name="ilink_bot")
    bot_token = models.CharField(_("bot token"), max_length=512, editable=False)
    bot_id = models.CharField(_("bot id"), max_length=128, unique=True)
    ilink_user_id = models.CharField(_("owner (iLink user id)"), max_length=128, blank=True,
                                     help_text=_("The WeChat user who scanned the login QR code."))
    api_base_url = models.URLField(_("API base URL"), max_length=255)
    cdn_base_url = models.URLField(_("CDN base URL"), max_length=255, blank=True,
                                   help_text=_("Empty: WECHAT_APP['ILINK_CDN_BASE_URL']."))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    polling_enabled = models.BooleanField(_("polling enabled"), default=True)
    cursor = models.TextField(_("getupdates cursor"), blank=True, editable=False)
    logged_in_at = models.DateTimeField(_("logged in"), null=True, blank=True)
    last_poll_at = models.DateTimeField(_("last poll"), null=True, blank=True)
    last_message_at = models.DateTimeField(_("last message"), null=True, blank=True)
    messages_received = models.PositiveBigIntegerField(_("messages received"), default=0)
    consecutive_errors = models.PositiveIntegerField(_("errors in a row"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account__name"]
        verbose_name = _("iLink bot")
        verbose_name_plural = _("iLink bots")

    def __str__(self):
        return self.bot_id

    def __repr__(self):  # never the token
        return f"<ILinkBot {self.bot_id!r} status={self.status}>"

    @property
    def effective_cdn_base_url(self) -> str:
        from ..conf import app_settings

        return (self.cdn_base_url or app_settings.ILINK_CDN_BASE_URL).rstrip("/")

    @property
    def pollable(self) -> bool:
        return self.status == self.Status.ACTIVE and self.polling_enabled and self.account.enabled


class ILinkLogin(models.Model):
    """One QR login: the QR code iLink issued, its status as the phone scans and confirms it, and
    the account it completes into. It expires ``ILINK_LOGIN_TTL`` seconds (10 minutes) after it
    started."""

    class Status(models.TextChoices):
        WAIT = "wait", _("Waiting for a scan")
        SCANNED = "scanned", _("Scanned, waiting for confirmation")
        CONFIRMED = "confirmed", _("Confirmed")
        EXPIRED = "expired", _("Expired")
        CANCELLED = "cancelled", _("Cancelled")

    OPEN = (Status.WAIT, Status.SCANNED)

    session_id = models.UUIDField(_("session id"), default=uuid.uuid4, unique=True, editable=False)
    account_name = models.CharField(_("account name"), max_length=64,
                                    help_text=_("The account the login creates or logs in again."))
    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, null=True, blank=True,
                                related_name="ilink_logins")
    api_base_url = models.URLField(_("API base URL"), max_length=255)
    qrcode = models.CharField(_("QR code id"), max_length=255, editable=False)
    qrcode_content = models.TextField(_("QR code content"), editable=False)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.WAIT)
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    expires_at = models.DateTimeField(_("expires at"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("iLink login")
        verbose_name_plural = _("iLink logins")

    def __str__(self):
        return f"{self.account_name} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN and not self.is_past_expiry

    @property
    def is_past_expiry(self) -> bool:
        return timezone.now() >= self.expires_at
