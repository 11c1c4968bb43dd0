"""WeCom (企业微信) contacts of a WeCom app account: departments, members and tags, mirrored from
WeCom's contacts API and kept current by its ``change_contact`` events (services/wecom_contacts.py).

Named ``WeCom*`` so as not to clash with the Official Account's follower ``Tag``. WeCom's own ids
are kept as WeCom gives them (department ids are integers, member ``userid`` strings, tag ids
integers); the tree and the memberships use those ids too, as WeCom's payloads do.
https://developer.work.weixin.qq.com/document/path/90208
"""
from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

DEPARTMENT_NAME_MAX = 64   # WeCom: 1 to 64 UTF-8 characters
USERID_MAX = 64            # WeCom: 1 to 64 bytes, letters, digits and _-@.
MEMBER_NAME_MAX = 64
TAG_NAME_MAX = 32          # WeCom: at most 32 characters
ROOT_DEPARTMENT_ID = 1


class WeComDepartment(models.Model):
    """A department of the corp (``department/list``). ``parent_id`` is WeCom's parent id (0 for the root)."""

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="wecom_departments",
                                verbose_name=_("account"))
    department_id = models.PositiveIntegerField(_("department id"))
    name = models.CharField(_("name"), max_length=DEPARTMENT_NAME_MAX)
    name_en = models.CharField(_("English name"), max_length=DEPARTMENT_NAME_MAX, blank=True)
    parent_id = models.PositiveIntegerField(_("parent id"), default=ROOT_DEPARTMENT_ID)
    order = models.PositiveBigIntegerField(_("order"), default=0,
                                           help_text=_("WeCom sorts siblings by it, larger first."))
    synced_at = models.DateTimeField(_("synced at"), null=True, blank=True)

    class Meta:
        ordering = ["account", "parent_id", "-order", "department_id"]
        verbose_name = _("WeCom department")
        verbose_name_plural = _("WeCom departments")
        constraints = [models.UniqueConstraint(fields=["account", "department_id"],
                                               name="wechat_wecomdepartment_unique")]

    def __str__(self):
        return f"{self.name} ({self.department_id})"


class WeComMember(models.Model):
    """A member of the corp (``user/get``, ``user/list``). ``departments`` holds department ids and
    ``department_order`` WeCom's ``order`` list beside them; ``is_leader_in_dept`` likewise."""

    class Status(models.IntegerChoices):
        ACTIVE = 1, _("Active")
        DISABLED = 2, _("Disabled")
        NOT_ACTIVATED = 4, _("Not activated")
        LEFT = 5, _("Left the corp")

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="wecom_members",
                                verbose_name=_("account"))
    userid = models.CharField(_("user id"), max_length=USERID_MAX)
    name = models.CharField(_("name"), max_length=MEMBER_NAME_MAX)
    alias = models.CharField(_("alias"), max_length=MEMBER_NAME_MAX, blank=True)
    departments = models.JSONField(_("departments"), default=list, blank=True)
    department_order = models.JSONField(default=list, blank=True)
    is_leader_in_dept = models.JSONField(default=list, blank=True)
    main_department = models.PositiveIntegerField(_("main department"), null=True, blank=True)
    position = models.CharField(_("position"), max_length=128, blank=True)
    mobile = models.CharField(_("mobile"), max_length=32, blank=True)
    email = models.CharField(_("email"), max_length=128, blank=True)
    gender = models.CharField(_("gender"), max_length=2, blank=True)
    telephone = models.CharField(_("telephone"), max_length=32, blank=True)
    status = models.PositiveSmallIntegerField(_("status"), choices=Status.choices, default=Status.ACTIVE)
    enable = models.BooleanField(_("enabled"), default=True)
    raw = models.JSONField(default=dict, blank=True)
    synced_at = models.DateTimeField(_("synced at"), null=True, blank=True)

    class Meta:
        ordering = ["account", "userid"]
        verbose_name = _("WeCom member")
        verbose_name_plural = _("WeCom members")
        constraints = [models.UniqueConstraint(fields=["account", "userid"], name="wechat_wecommember_unique")]
        indexes = [models.Index(fields=["account", "name"], name="wechat_wecommember_name")]

    def __str__(self):
        return f"{self.name} <{self.userid}>"


class WeComTag(models.Model):
    """A contacts tag of the corp (``tag/list``); its members (``tag/get``) in ``WeComTagMember``."""

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="wecom_tags",
                                verbose_name=_("account"))
    tag_id = models.PositiveIntegerField(_("tag id"))
    name = models.CharField(_("name"), max_length=TAG_NAME_MAX)
    departments = models.JSONField(_("departments"), default=list, blank=True,
                                   help_text=_("Department ids tagged (WeCom's partylist)."))
    synced_at = models.DateTimeField(_("synced at"), null=True, blank=True)

    class Meta:
        ordering = ["account", "name"]
        verbose_name = _("WeCom tag")
        verbose_name_plural = _("WeCom tags")
        constraints = [models.UniqueConstraint(fields=["account", "tag_id"], name="wechat_wecomtag_unique")]

    def __str__(self):
        return f"{self.name} ({self.tag_id})"


class WeComTagMember(models.Model):
    """A member carrying a tag (by user id, as WeCom's ``userlist``)."""

    tag = models.ForeignKey(WeComTag, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("tag"))
    userid = models.CharField(_("user id"), max_length=USERID_MAX)

    class Meta:
        ordering = ["tag", "userid"]
        verbose_name = _("WeCom tag member")
        verbose_name_plural = _("WeCom tag members")
        constraints = [models.UniqueConstraint(fields=["tag", "userid"], name="wechat_wecomtagmember_unique")]

    def __str__(self):
        return f"{self.tag.name}: {self.userid}"


class WeComContactEvent(models.Model):
    """A ``change_contact`` event applied to the mirror, by its digest: WeCom retries an event it
    got no answer for, and a retry found here is not applied again (the row and the change are
    written in one transaction)."""

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="wecom_contact_events",
                                verbose_name=_("account"))
    digest = models.CharField(max_length=64)
    change_type = models.CharField(_("change type"), max_length=32)
    subject = models.CharField(_("subject"), max_length=USERID_MAX, blank=True,
                               help_text=_("The user id, department id or tag id changed."))
    event_time = models.PositiveBigIntegerField(_("event time"), default=0)
    applied_at = models.DateTimeField(_("applied at"), auto_now_add=True)

    class Meta:
        ordering = ["-applied_at", "-id"]
        verbose_name = _("WeCom contact event")
        verbose_name_plural = _("WeCom contact events")
        constraints = [models.UniqueConstraint(fields=["account", "digest"], name="wechat_wecomcontactevent_unique")]

    def __str__(self):
        return f"{self.change_type} {self.subject}"
