"""Who may see and change which account: the one place the admin and the REST API ask.

Two questions, always both:

- *Which accounts?* Superusers see every account. Other active staff users see the accounts they
  are members of (``AccountMembership``). Another account's objects are hidden (404 or absent
  from lists), so that ids cannot be probed.
- *What may they do there?* Django's model permissions (``view``, ``add``, ``change``,
  ``delete``), as in the admin. Deleting an account needs ``delete_account``, which only
  superusers have unless granted.

Lacking the model permission is refused (403) before any object is looked up; having it for an
account one is not a member of looks like the object does not exist.
"""
from __future__ import annotations

from ..models import Account, AccountMembership, Rule

ACTIONS = ("view", "add", "change", "delete")


def accessible_accounts(user):
    """The accounts ``user`` may work with (a queryset)."""
    if not is_active_staff(user):
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


def is_active_staff(user) -> bool:
    return bool(getattr(user, "is_active", False) and getattr(user, "is_staff", False))


def accessible_account_ids(user) -> set[int]:
    """The ids of the accounts ``user`` may work with; cached on the user object for the request."""
    cached = getattr(user, "_wechat_account_ids", None)
    if cached is None:
        cached = set(accessible_accounts(user).values_list("pk", flat=True))
        user._wechat_account_ids = cached
    return cached


def has_account(user, account_or_id) -> bool:
    """Whether ``user`` may work with this account (an ``Account`` or its id) at all."""
    account_id = getattr(account_or_id, "pk", account_or_id)
    if account_id is None or not is_active_staff(user):
        return False
    if user.is_superuser:
        return True
    try:
        return int(account_id) in accessible_account_ids(user)
    except (TypeError, ValueError):
        return False


def permission_name(action: str, model) -> str:
    """``"wechat_app.change_rule"`` for ``("change", Rule)``."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r} (use one of {', '.join(ACTIONS)})")
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


def can(user, action: str, model, account=None) -> bool:
    """Whether ``user`` may ``action`` (view/add/change/delete) objects of ``model``, in ``account``
    when one is given (an ``Account`` or its id)."""
    if not is_active_staff(user) or not user.has_perm(permission_name(action, model)):
        return False
    return account is None or has_account(user, account)


def rule_import_actions(*, replace: bool) -> tuple[str, ...]:
    """The rule permissions an import needs, dry run or not: it adds and changes rules, and with
    ``replace`` deletes the others. A dry run needs them too: it does all the work of an import."""
    return ("add", "change", "delete") if replace else ("add", "change")


def can_import_rules(user, account=None, *, replace: bool = False) -> bool:
    return all(can(user, action, Rule, account) for action in rule_import_actions(replace=replace))


def can_export_rules(user, account=None) -> bool:
    return can(user, "view", Rule, account)


def grant_creator(user, account) -> None:
    """Whoever creates an account may manage it (superusers see every account anyway)."""
    if not user.is_superuser:
        AccountMembership.objects.get_or_create(user=user, account=account)
