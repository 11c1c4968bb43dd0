"""Who may see and change which account: the one place the admin and the REST API ask.

Superusers see every account. Other active staff users see the accounts they are members of
(``AccountMembership``); Django's model permissions still decide what they may do there.
"""
from __future__ import annotations

from ..models import Account, AccountMembership


def accessible_accounts(user):
    """The accounts ``user`` may work with (a queryset)."""
    if not getattr(user, "is_active", False) or not getattr(user, "is_staff", False):
        return Account.objects.none()
    if user.is_superuser:
        return Account.objects.all()
    return Account.objects.filter(pk__in=AccountMembership.objects.account_ids_for(user))


CHANGE_CREDENTIALS_PERMISSION = "wechat_app.change_account_credentials"


def can_change_credentials(user) -> bool:
    """Whether ``user`` may set an account's app id, app secret or API base URL (besides being
    allowed to change the account at all): superusers, and whom they grant
    ``wechat_app.change_account_credentials``. Without it, an editor of one account could point
    it at another app's id or send its secret to a host of their choosing."""
    return bool(getattr(user, "is_active", False) and user.has_perm(CHANGE_CREDENTIALS_PERMISSION))
