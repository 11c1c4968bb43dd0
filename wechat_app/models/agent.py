"""The agent gateway: per-account delivery settings, the events handed to the agent, and every
callback attempt (services/agent.py, docs/agent-gateway.md)."""
from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


def new_event_id() -> str:
    return uuid.uuid4().hex


class AgentSettings(models.Model):
    """How one account hands conversations to an agent runtime."""

    class Mode(models.TextChoices):
        OFF = "off", _("Off")
        CALLBACK = "callback", _("Callback (POST each event to the agent)")
        INBOX = "inbox", _("Inbox (the agent lists and claims events)")

    class Scope(models.TextChoices):
        UNANSWERED = "unanswered", _("Messages no rule answered (and rules whose reply is 'agent')")
        ALL = "all", _("Every user message")

    account = models.OneToOneField("wechat_app.Account", on_delete=models.CASCADE, related_name="agent_settings",
                                   verbose_name=_("account"))
    mode = models.CharField(_("delivery"), max_length=16, choices=Mode.choices, default=Mode.OFF)
    scope = models.CharField(_("hand over"), max_length=16, choices=Scope.choices, default=Scope.UNANSWERED)
    callback_url = models.URLField(_("callback URL"), max_length=500, blank=True,
                                   help_text=_("Where each event is POSTed (callback delivery)."))
    shared_secret = models.CharField(_("shared secret"), max_length=128, blank=True,
                                     help_text=_("Sent as 'Authorization: Bearer <secret>' with every callback. "
                                                 "Write-only: it is never shown again."))
    max_attempts = models.PositiveSmallIntegerField(
        _("attempts"), default=5, validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text=_("Callback attempts before an event is parked as failed."))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("agent settings")
        verbose_name_plural = _("agent settings")

    def __str__(self):
        return f"agent settings of {self.account_id}"

    def __repr__(self):  # the shared secret never appears in reprs (tracebacks, logs)
        return f"<AgentSettings account={self.account_id} mode={self.mode} scope={self.scope}>"

    @property
    def active(self) -> bool:
        return self.mode != self.Mode.OFF

    def clean(self):
        super().clean()
        if self.mode == self.Mode.CALLBACK and not self.callback_url:
            raise ValidationError({"callback_url": _("Callback delivery needs a callback URL.")})
        problem = callback_url_problem(self.callback_url) if self.callback_url else None
        if problem:
            raise ValidationError({"callback_url": problem})


def callback_url_problem(url: str):
    """Why ``url`` cannot be an agent's callback URL, or None: an http(s) URL with a host, and no
    user name or password in it (the Bearer shared secret is how the agent authenticates us; a
    password in the URL would show wherever the URL is shown)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        return _("Enter a valid URL.")
    if parts.scheme.lower() not in ("http", "https"):
        return _("Use an http:// or https:// URL.")
    if not parts.hostname:
        return _("The URL has no host.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return _("The URL must not carry a user name or password; the agent authenticates the shared secret.")
    if parts.fragment:
        return _("The URL must not have a #fragment.")
    return None


class AgentEvent(models.Model):
    """One inbound message handed to the agent, delivered once (the log's dedupe key is unique per
    account, so WeChat's retries of a message make one event)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERING = "delivering", _("Delivering")
        CLAIMED = "claimed", _("Claimed")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")

    class Delivery(models.TextChoices):
        CALLBACK = "callback", _("Callback")
        INBOX = "inbox", _("Inbox")

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="agent_events",
                                verbose_name=_("account"))
    dedupe_key = models.CharField(_("dedupe key"), max_length=255)
    event_id = models.CharField(_("event id"), max_length=64, unique=True, default=new_event_id, editable=False)
    delivery = models.CharField(_("delivery"), max_length=16, choices=Delivery.choices, default=Delivery.INBOX)
    chat_id = models.CharField(_("chat"), max_length=128)
    user_id = models.CharField(_("user"), max_length=128, db_index=True)
    text = models.TextField(_("text"), blank=True)
    context_token = models.CharField(_("context token"), max_length=1024, blank=True)
    chat_type = models.CharField(_("chat type"), max_length=16, default="direct")
    attachments = models.JSONField(_("attachments"), default=list, blank=True)
    raw = models.JSONField(_("raw message"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PENDING)
    worker_id = models.CharField(_("worker"), max_length=128, blank=True)
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    note = models.TextField(_("completion note"), blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("agent event")
        verbose_name_plural = _("agent events")
        constraints = [models.UniqueConstraint(fields=["account", "dedupe_key"], name="wechat_agent_event_dedupe")]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="wechat_agent_due"),
                   models.Index(fields=["account", "status"], name="wechat_agent_account_status")]

    def __str__(self):
        return f"agent event {self.event_id} ({self.status})"


class AgentDeliveryAttempt(models.Model):
    """One POST of an event to the agent's callback URL and how it went."""

    event = models.ForeignKey(AgentEvent, on_delete=models.CASCADE, related_name="delivery_attempts",
                              verbose_name=_("event"))
    number = models.PositiveIntegerField(_("attempt"))
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    duration_ms = models.FloatField(_("duration (ms)"), default=0)
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        ordering = ["event", "number", "id"]
        verbose_name = _("agent delivery attempt")
        verbose_name_plural = _("agent delivery attempts")

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class AgentSendTask(models.Model):
    """A reply queued by ``POST agent/send/async/``: what was asked and what became of it."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="agent_send_tasks",
                                verbose_name=_("account"))
    request = models.JSONField(_("request"), default=dict)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    result = models.JSONField(_("result"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("agent send task")
        verbose_name_plural = _("agent send tasks")
