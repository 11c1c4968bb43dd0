"""Media: the permanent material library mirrored per account, and the media users send."""
from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Material(models.Model):
    """One item of an account's permanent material library (``/cgi-bin/material/*``).

    A remote mirror: the indexed columns plus WeChat's list item in ``raw``; ``local_path`` is
    the copy kept in the app's media storage (images and thumbs: shown as thumbnails in the
    admin; voices and videos: played there). Never a public URL: files are served by an
    admin view that checks the account (``admin/media.py``).
    """

    class Kind(models.TextChoices):
        IMAGE = "image", _("Image")
        VOICE = "voice", _("Voice")
        VIDEO = "video", _("Video")
        THUMB = "thumb", _("Thumb")
        NEWS = "news", _("News")

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="materials",
                                db_index=False)
    media_id = models.CharField(_("media id"), max_length=128)
    kind = models.CharField(_("type"), max_length=8, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=255, blank=True)
    title = models.CharField(_("title"), max_length=255, blank=True, help_text=_("Videos: the title."))
    introduction = models.TextField(_("introduction"), blank=True, help_text=_("Videos: the description."))
    url = models.URLField(_("WeChat URL"), max_length=1024, blank=True)
    update_time = models.DateTimeField(_("updated on WeChat"), null=True, blank=True)
    raw = models.JSONField(_("WeChat's item"), default=dict, blank=True)
    local_path = models.CharField(_("local copy"), max_length=512, blank=True)
    size = models.PositiveIntegerField(_("size (bytes)"), null=True, blank=True)
    content_type = models.CharField(_("content type"), max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    synced_at = models.DateTimeField(_("last synced"), null=True, blank=True)

    class Meta:
        ordering = ["-update_time", "-id"]
        verbose_name = _("material")
        verbose_name_plural = _("material library")
        constraints = [
            models.UniqueConstraint(fields=["account", "media_id"], name="wechat_material_unique_media_id"),
        ]
        indexes = [models.Index(fields=["account", "kind", "-update_time"], name="wechat_material_kind")]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.name or self.title or self.media_id}"


class IncomingMedia(models.Model):
    """The file of an image, voice, video or shortvideo message a user sent, fetched from
    ``/cgi-bin/media/get`` (WeChat keeps it three days) into the app's media storage.

    One row per logged message (unique account + ``dedupe_key``, the log row's), so WeChat's
    retries of a callback make one fetch; ``attempts`` and ``next_attempt_at`` drive retries.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        FETCHING = "fetching", _("Fetching")
        DONE = "done", _("Fetched")
        FAILED = "failed", _("Failed")

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="incoming_media",
                                db_index=False)
    dedupe_key = models.CharField(max_length=255)
    log = models.ForeignKey("wechat_app.MessageLog", on_delete=models.SET_NULL, null=True, blank=True,
                            related_name="media")
    msg_type = models.CharField(_("type"), max_length=32)
    media_id = models.CharField(_("media id"), max_length=128)
    thumb_media_id = models.CharField(_("thumb media id"), max_length=128, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    path = models.CharField(_("stored at"), max_length=512, blank=True)
    size = models.PositiveIntegerField(_("size (bytes)"), null=True, blank=True)
    content_type = models.CharField(_("content type"), max_length=100, blank=True)
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    fetched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("incoming media")
        verbose_name_plural = _("incoming media")
        constraints = [
            models.UniqueConstraint(fields=["account", "dedupe_key"], name="wechat_incoming_media_unique"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="wechat_incoming_media_due")]

    def __str__(self):
        return f"{self.msg_type} {self.media_id[:16]} ({self.status})"
