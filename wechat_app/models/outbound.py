"""Outbound side: templates (mirrored from WeChat), outbound messages, campaigns, followers."""
from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


class Template(models.Model):
    """A private template of an account, mirrored from /cgi-bin/template/get_all_private_template.

    ``keywords`` are the ``{{name.DATA}}`` placeholders of ``content``, in order; sends are
    validated against them before they are queued.
    """

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="templates",
                                verbose_name=_("account"))
    template_id = models.CharField(_("template id"), max_length=64)
    title = models.CharField(_("title"), max_length=255)
    content = models.TextField(_("content"))
    example = models.TextField(_("example"), blank=True)
    keywords = models.JSONField(_("keywords"), default=list, blank=True)
    primary_industry = models.CharField(max_length=64, blank=True)
    deputy_industry = models.CharField(max_length=64, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(_("present on WeChat"), default=True,
                                 help_text=_("False once a sync no longer finds it."))
    synced_at = models.DateTimeField(_("synced at"), auto_now=True)

    class Meta:
        ordering = ["account", "title"]
        verbose_name = _("template")
        verbose_name_plural = _("templates")
        constraints = [models.UniqueConstraint(fields=["account", "template_id"], name="wechat_template_unique")]

    def __str__(self):
        return f"{self.title} ({self.template_id})"


class Campaign(models.Model):
    """One template message to many users, fanned out in chunks and rate-limited per account."""

    class Audience(models.TextChoices):
        LIST = "list", _("Explicit list of openids")
        TAG = "tag", _("Followers with a tag")
        ALL = "all", _("All followers")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        CANCELLED = "cancelled", _("Cancelled")
        DONE = "done", _("Done")

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="campaigns",
                                verbose_name=_("account"))
    name = models.CharField(_("name"), max_length=100)
    template = models.ForeignKey(Template, on_delete=models.PROTECT, related_name="campaigns",
                                 verbose_name=_("template"))
    data = models.JSONField(_("data"), default=dict,
                            help_text=_('Keyword values: {"first": "Hi"} or {"first": {"value": "Hi", "color": "#173177"}}'))
    url = models.URLField(_("link"), max_length=1024, blank=True)
    miniprogram = models.JSONField(_("mini program"), null=True, blank=True,
                                   help_text=_('{"appid": "...", "pagepath": "..."}'))
    audience = models.CharField(_("audience"), max_length=8, choices=Audience.choices, default=Audience.LIST)
    openids = models.JSONField(_("openids"), default=list, blank=True)
    tag_id = models.PositiveIntegerField(_("tag id"), null=True, blank=True)
    rate_limit = models.PositiveIntegerField(_("messages per second"), null=True, blank=True,
                                             help_text=_("Empty: the CAMPAIGN_RATE_LIMIT setting."))
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.DRAFT)
    total = models.PositiveIntegerField(_("recipients"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")

    def __str__(self):
        return self.name

    def counts(self) -> dict[str, int]:
        """Recipients by status (queued, sending, sent, failed, cancelled)."""
        rows = self.messages.values("status").annotate(n=models.Count("id"))
        counts = {s: 0 for s in OutboundMessage.Status.values}
        counts.update({r["status"]: r["n"] for r in rows})
        return counts

    def delivery_counts(self) -> dict[str, int]:
        """Recipients by WeChat's delivery report (TEMPLATESENDJOBFINISH): success, failed:user
        block, failed: system failed; messages without a report yet are not counted."""
        rows = (self.messages.exclude(delivery_status="").values("delivery_status").annotate(n=models.Count("id"))
                .order_by("delivery_status"))
        return {r["delivery_status"]: r["n"] for r in rows}


class OutboundMessage(models.Model):
    """One message to one user (customer-service or template), and what became of it.

    ``idempotency_key`` is unique per account: queueing the same key twice yields the same row,
    and a delivery task that runs twice sends once (see services.outbound.deliver). Keys given to
    the REST API (the ``Idempotency-Key`` header) are stored as ``api:<key>``, beside the request's
    fingerprint and the first answer, which a repeated request gets again (api/outbound.py).
    """

    class Kind(models.TextChoices):
        TEXT = "text", _("Text")
        IMAGE = "image", _("Image")
        VOICE = "voice", _("Voice")
        VIDEO = "video", _("Video")
        MUSIC = "music", _("Music")
        NEWS = "news", _("News (one article)")
        MPNEWS = "mpnews", _("Published article (mpnews)")
        MSGMENU = "msgmenu", _("Menu message")
        MPNEWSARTICLE = "mpnewsarticle", _("Published article (article_id)")
        WXCARD = "wxcard", _("Card (wxcard)")
        MINIPROGRAMPAGE = "miniprogrampage", _("Mini program page")
        TEMPLATE = "template", _("Template message")
        WECOM_APP = "wecom_app", _("WeCom app message")
        # A file an agent sent through a channel that sends at once (iLink): recorded, not queued.
        FILE = "file", _("File")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="outbound_messages",
                                verbose_name=_("account"))
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, null=True, blank=True, related_name="messages",
                                 verbose_name=_("campaign"))
    template = models.ForeignKey(Template, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="messages", verbose_name=_("template"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    # WeCom app messages: the recipients in short ("zhangsan|lisi", "@all", "party:2", "tag:1"; all
    # of them are in the payload's touser / toparty / totag).
    to_user = models.CharField(_("to (openid)"), max_length=128, db_index=True)
    payload = models.JSONField(_("content"), default=dict,
                               help_text=_("Customer-service: the fields of the kind. Template: template_id, "
                                           "data, url, miniprogram."))
    idempotency_key = models.CharField(_("idempotency key"), max_length=128, default=new_idempotency_key)
    # REST API sends with an Idempotency-Key: what was asked (SHA-256 of the request) and what was
    # answered first ({"status": 202, "body": {...}}), so that a repeat gets the same answer.
    request_hash = models.CharField(max_length=64, blank=True, editable=False)
    api_response = models.JSONField(null=True, blank=True, editable=False)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    errcode = models.IntegerField(_("errcode"), null=True, blank=True)
    errmsg = models.TextField(_("errmsg"), blank=True)
    msgid = models.BigIntegerField(_("WeChat msgid"), null=True, blank=True)
    # WeCom app messages (kind wecom_app): WeCom's msgid (text) and the recipients it could not
    # reach ("a|b", as WeCom answers them: unknown, outside the app's visible range...).
    wecom_msgid = models.CharField(_("WeCom msgid"), max_length=128, blank=True)
    invalid_user = models.TextField(_("unreached members"), blank=True)
    invalid_party = models.TextField(_("unreached departments"), blank=True)
    invalid_tag = models.TextField(_("unreached tags"), blank=True)
    delivery_status = models.CharField(_("delivery report"), max_length=64, blank=True,
                                       help_text=_("TEMPLATESENDJOBFINISH status: success, failed:user block, "
                                                   "failed: system failed."))
    lease_until = models.DateTimeField(null=True, blank=True, editable=False,
                                       help_text=_("A worker holds the message until then."))
    # Random id of the claim holding the message: only that holder records the result, and a
    # chunk claimed with one UPDATE is read back by it (services.outbound.claim_campaign_batch).
    claim = models.CharField(max_length=32, blank=True, editable=False)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    created_at = models.DateTimeField(_("queued at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("outbound message")
        verbose_name_plural = _("outbound messages")
        indexes = [
            models.Index(fields=["account", "status"], name="wechat_out_account_status"),
            models.Index(fields=["campaign", "status"], name="wechat_out_campaign_status"),
            models.Index(fields=["account", "msgid"], name="wechat_out_msgid"),
            models.Index(fields=["status", "next_attempt_at"], name="wechat_out_due"),
        ]
        constraints = [models.UniqueConstraint(fields=["account", "idempotency_key"],
                                               name="wechat_out_idempotency_unique")]

    def __str__(self):
        return f"{self.get_kind_display()} to {self.to_user} ({self.status})"


class Follower(models.Model):
    """A user of an account, kept current by subscribe/unsubscribe events and a sync task."""

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="followers",
                                verbose_name=_("account"))
    openid = models.CharField(_("openid"), max_length=128)
    subscribed = models.BooleanField(_("subscribed"), default=True)
    subscribe_time = models.DateTimeField(_("subscribed at"), null=True, blank=True)
    unsubscribed_at = models.DateTimeField(_("unsubscribed at"), null=True, blank=True)
    unionid = models.CharField(max_length=128, blank=True)
    language = models.CharField(max_length=16, blank=True)
    remark = models.CharField(max_length=64, blank=True)
    tags = models.JSONField(_("tag ids"), default=list, blank=True)
    blacklisted = models.BooleanField(_("blacklisted"), default=False,
                                      help_text=_("On the account's blacklist: mass sends skip them."))
    subscribe_scene = models.CharField(max_length=64, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account", "-subscribe_time"]
        verbose_name = _("follower")
        verbose_name_plural = _("followers")
        constraints = [models.UniqueConstraint(fields=["account", "openid"], name="wechat_follower_unique")]
        indexes = [models.Index(fields=["account", "subscribed"], name="wechat_follower_subscribed")]

    def __str__(self):
        return self.openid


class SyncJob(models.Model):
    """One sync of an account's templates or followers from WeChat, asked for through the REST API
    and run by a task (services/sync_jobs.py): a row to poll for its status and progress."""

    class Kind(models.TextChoices):
        TEMPLATES = "templates", _("Templates")
        FOLLOWERS = "followers", _("Followers")
        WECOM_CONTACTS = "wecom_contacts", _("WeCom contacts")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="sync_jobs",
                                verbose_name=_("account"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    done = models.PositiveIntegerField(_("done"), default=0)
    total = models.PositiveIntegerField(_("total"), null=True, blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("queued at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("sync job")
        verbose_name_plural = _("sync jobs")
        indexes = [models.Index(fields=["account", "kind", "status"], name="wechat_syncjob_active")]

    def __str__(self):
        return f"{self.get_kind_display()} sync of {self.account_id} ({self.status})"
