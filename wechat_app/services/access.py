"""Who may see and change which account: the one place the admin and the REST API ask."""
from __future__ import annotations

from ..models import Account


def accessible_accounts(user):
    """The accounts ``user`` may work with: all for superusers, none for anybody else (yet)."""
    if not getattr(user, "is_active", False) or not getattr(user, "is_staff", False):
        return Account.objects.none()
    if user.is_superuser:
        return Account.objects.all()
    return Account.objects.none()
