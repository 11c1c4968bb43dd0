"""The message log: one row per inbound message, written even when processing fails."""
from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class MessageLog(models.Model):
    """What was received, what answered it and how long it took.

    ``dedupe_key`` is WeChat's identity of a delivery (MsgId, or sender + time + event + key for
    events); it is unique per account so that a retry updates ``retry_count`` instead of adding
    a row, even when two processes race.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        REPLIED = "replied", _("Replied")
        NO_REPLY = "no_reply", _("No reply")
        UNMATCHED = "unmatched", _("Unmatched")
        ERROR = "error", _("Error")

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="message_logs")
    dedupe_key = models.CharField(max_length=255)
    msg_id = models.CharField(_("MsgId"), max_length=64, blank=True)
    user = models.CharField(_("user (openid)"), max_length=128, db_index=True)
    msg_type = models.CharField(_("type"), max_length=32)
    event = models.CharField(_("event"), max_length=64, blank=True)
    event_key = models.CharField(_("event key"), max_length=255, blank=True)
    text = models.TextField(_("text"), blank=True)
    message = models.JSONField(_("normalized message"), default=dict)
    raw_xml = models.TextField(_("raw XML (decrypted)"), blank=True)
    encrypted = models.BooleanField(_("arrived encrypted"), default=False)
    rule = models.ForeignKey("wechat_app.Rule", on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="message_logs")
    rule_name = models.CharField(_("rule"), max_length=100, blank=True)
    reply = models.JSONField(_("reply"), null=True, blank=True)
    reply_xml = models.TextField(_("reply XML (plaintext)"), blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(_("error"), blank=True)
    latency_ms = models.FloatField(_("latency (ms)"), null=True, blank=True)
    retry_count = models.PositiveIntegerField(_("retries"), default=0)
    created_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("message log entry")
        verbose_name_plural = _("message log")
        constraints = [
            models.UniqueConstraint(fields=["account", "dedupe_key"], name="wechat_log_unique_delivery"),
        ]
        indexes = [
            models.Index(fields=["account", "-created_at"], name="wechat_log_account_time"),
            models.Index(fields=["account", "user", "-created_at"], name="wechat_log_thread"),
            models.Index(fields=["rule", "-created_at"], name="wechat_log_rule_time"),
        ]

    def __str__(self):
        return f"{self.msg_type} from {self.user} at {self.created_at:%Y-%m-%d %H:%M:%S}"
