"""Audience and content mirrors of WeChat: follower tags, customer-service (kf) accounts and
mass messages (群发).

Tags and kf accounts mirror WeChat (a few indexed columns plus the raw payload, synced by
``services.audience`` / ``services.kf``); a mass message is ours first (a row, then the call to
WeChat with the row's ``clientmsgid``, so that a retried send never reaches followers twice).
https://developers.weixin.qq.com/doc/offiaccount/User_Management/User_Tag_Management.html
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Batch_Sends_and_Originality_Checks.html
https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Customer_Service_Management.html
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

# WeChat's own tags (0: none, 1: blacklist, 2: starred) cannot be renamed or deleted.
SYSTEM_TAG_IDS = frozenset({0, 1, 2})
TAG_NAME_MAX = 30
MAX_TAGS = 100


def new_clientmsgid() -> str:
    return uuid.uuid4().hex


class Tag(models.Model):
    """A follower tag of an account, mirrored from /cgi-bin/tags/get. ``Follower.tags`` holds
    tag ids (``tag_id``), as WeChat's ``tagid_list``."""

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="tags",
                                verbose_name=_("account"))
    tag_id = models.PositiveIntegerField(_("tag id"))
    name = models.CharField(_("name"), max_length=TAG_NAME_MAX)
    count = models.PositiveIntegerField(_("followers"), default=0,
                                        help_text=_("As WeChat counted them at the last sync."))
    synced_at = models.DateTimeField(_("synced at"), null=True, blank=True)

    class Meta:
        ordering = ["account", "name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        constraints = [models.UniqueConstraint(fields=["account", "tag_id"], name="wechat_tag_unique")]

    def __str__(self):
        return f"{self.name} ({self.tag_id})"

    @property
    def is_system(self) -> bool:
        return self.tag_id in SYSTEM_TAG_IDS


class KfAccount(models.Model):
    """A customer-service (kf) account of an official account, mirrored from
    /cgi-bin/customservice/getkflist; added, changed and deleted through WeChat."""

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="kf_accounts",
                                verbose_name=_("account"))
    kf_account = models.CharField(_("kf account"), max_length=64,
                                  help_text=_("prefix@WeChat id of the account, e.g. alice@gh_shop"))
    nickname = models.CharField(_("nickname"), max_length=16)
    kf_id = models.CharField(_("kf id"), max_length=32, blank=True)
    headimgurl = models.URLField(_("avatar"), max_length=500, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(_("present on WeChat"), default=True)
    synced_at = models.DateTimeField(_("synced at"), null=True, blank=True)

    class Meta:
        ordering = ["account", "kf_account"]
        verbose_name = _("customer-service account")
        verbose_name_plural = _("customer-service accounts")
        constraints = [models.UniqueConstraint(fields=["account", "kf_account"], name="wechat_kfaccount_unique")]

    def __str__(self):
        return f"{self.nickname} <{self.kf_account}>" if self.nickname else self.kf_account


class MassMessage(models.Model):
    """One mass send (群发) to all followers, a tag, or a list of openids, and what became of it.

    The row exists before WeChat is called; ``clientmsgid`` is WeChat's idempotency key, so a
    send whose answer was lost, sent again, is answered with the first send's ``msg_id``.
    MASSSENDJOBFINISH fills in the counts, once."""

    class Audience(models.TextChoices):
        ALL = "all", _("All followers")
        TAG = "tag", _("Followers with a tag")
        LIST = "list", _("A list of openids (2 to 10,000)")

    class Kind(models.TextChoices):
        TEXT = "text", _("Text")
        IMAGE = "image", _("Image(s)")
        VOICE = "voice", _("Voice")
        MPVIDEO = "mpvideo", _("Video (mpvideo)")
        MPNEWS = "mpnews", _("Articles (mpnews)")
        WXCARD = "wxcard", _("Card (wxcard)")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SUBMITTED = "submitted", _("Submitted to WeChat")
        DONE = "done", _("Finished")
        FAILED = "failed", _("Failed")
        DELETED = "deleted", _("Deleted")

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="mass_messages",
                                verbose_name=_("account"))
    name = models.CharField(_("name"), max_length=100, help_text=_("For you; followers do not see it."))
    audience = models.CharField(_("audience"), max_length=8, choices=Audience.choices, default=Audience.TAG)
    tag = models.ForeignKey(Tag, on_delete=models.SET_NULL, null=True, blank=True, related_name="mass_messages",
                            verbose_name=_("tag"))
    tag_id_sent = models.PositiveIntegerField(_("tag id"), null=True, blank=True, editable=False,
                                              help_text=_("The tag id sent to WeChat (kept if the tag goes)."))
    openids = models.JSONField(_("openids"), default=list, blank=True)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.TEXT)
    content = models.JSONField(_("content"), default=dict, blank=True,
                               help_text=_('text: {"content"}; image: {"media_ids": [...]}; voice, mpvideo, '
                                           'mpnews: {"media_id"}; wxcard: {"card_id"}'))
    send_ignore_reprint = models.BooleanField(
        _("send even if judged a reprint"), default=False,
        help_text=_("mpnews: when WeChat judges an article a reprint, send it anyway (as the original)."))
    clientmsgid = models.CharField(_("client msg id"), max_length=64, unique=True, default=new_clientmsgid,
                                   editable=False)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    msg_id = models.BigIntegerField(_("WeChat msg_id"), null=True, blank=True)
    msg_data_id = models.BigIntegerField(_("WeChat msg_data_id"), null=True, blank=True)
    wechat_status = models.CharField(_("WeChat status"), max_length=64, blank=True,
                                     help_text=_("MASSSENDJOBFINISH Status (send success, send fail, err(…)) "
                                                 "or the /mass/get msg_status."))
    total_count = models.PositiveIntegerField(_("total"), null=True, blank=True)
    filter_count = models.PositiveIntegerField(_("after filtering"), null=True, blank=True)
    sent_count = models.PositiveIntegerField(_("sent"), null=True, blank=True)
    error_count = models.PositiveIntegerField(_("errors"), null=True, blank=True)
    errcode = models.IntegerField(_("errcode"), null=True, blank=True)
    errmsg = models.TextField(_("errmsg"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("created by"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    reported_at = models.DateTimeField(_("report received at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("mass message")
        verbose_name_plural = _("mass messages")
        indexes = [models.Index(fields=["account", "msg_id"], name="wechat_mass_msgid"),
                   models.Index(fields=["account", "queued_at"], name="wechat_mass_queued")]

    def __str__(self):
        return self.name
