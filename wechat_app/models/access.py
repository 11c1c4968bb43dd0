"""Per-account access for staff users: who may manage which official account."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AccountMembershipQuerySet(models.QuerySet):
    def account_ids_for(self, user):
        return self.filter(user=user).values_list("account_id", flat=True)


class AccountMembership(models.Model):
    """Grants a staff user access to one account in every admin screen.

    Superusers see every account; other staff users see only the accounts they are members of
    (rules, logs, dashboard, simulator). What they may do there is still governed by Django's
    model permissions (view / add / change / delete).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="wechat_memberships", verbose_name=_("user"))
    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE,
                                related_name="memberships", verbose_name=_("account"))
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AccountMembershipQuerySet.as_manager()

    class Meta:
        verbose_name = _("account member")
        verbose_name_plural = _("account members")
        constraints = [
            models.UniqueConstraint(fields=["user", "account"], name="wechat_membership_unique"),
        ]

    def __str__(self):
        return f"{self.user} → {self.account}"
