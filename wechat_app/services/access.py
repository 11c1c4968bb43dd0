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

*Through an API token?* A request authenticated by an ``ApiToken`` acts as the token's owner,
narrowed by the token: ``api.authentication`` binds the token to the request's user object
(``bind_token``), and every function here reads it from there. A token limited to accounts
narrows ``accessible_accounts`` (and so ``has_account``, the querysets, the ``account`` fields);
a read-only token makes ``can`` refuse everything but ``view``. So a view that filters with
``accessible_accounts(request.user)`` and checks ``can(request.user, ...)`` gets the token's
limits for free; nothing else needs to know about tokens.
"""
from __future__ import annotations

from ..models import Account, AccountMembership, Rule

ACTIONS = ("view", "add", "change", "delete")
TOKEN_ATTRIBUTE = "wechat_api_token"


def bind_token(user, token) -> None:
    """Make ``user`` (one request's user object) act through ``token``: its account limit and
    read-only flag apply to every question asked here about ``user``."""
    setattr(user, TOKEN_ATTRIBUTE, token)
    for cached in ("_wechat_account_ids", "_wechat_token_account_ids"):
        if hasattr(user, cached):
            delattr(user, cached)


def request_token(user):
    """The ``ApiToken`` the request of ``user`` was authenticated with, or None (a session...)."""
    return getattr(user, TOKEN_ATTRIBUTE, None)


def token_account_ids(user) -> set[int] | None:
    """The accounts the request's token is limited to, or None when it is not limited."""
    token = request_token(user)
    if token is None:
        return None
    cached = getattr(user, "_wechat_token_account_ids", None)
    if cached is None:
        cached = set(token.accounts.values_list("pk", flat=True)) or "all"
        user._wechat_token_account_ids = cached
    return None if cached == "all" else cached


def is_read_only(user) -> bool:
    """Whether the request of ``user`` came with a read-only token: it may only read."""
    token = request_token(user)
    return bool(token is not None and token.read_only)


def accessible_accounts(user):
    """The accounts ``user`` may work with (a queryset), narrowed by the request's API token."""
    if not is_active_staff(user):
        return Account.objects.none()
    qs = (Account.objects.all() if user.is_superuser
          else Account.objects.filter(pk__in=AccountMembership.objects.account_ids_for(user)))
    limit = token_account_ids(user)
    if limit is not None:
        qs = qs.filter(pk__in=limit)
    return qs


CHANGE_CREDENTIALS_PERMISSION = "wechat_app.change_account_credentials"


def can_change_credentials(user) -> bool:
    """Whether ``user`` may set an account's app id, app secret or API base URL (besides being
    allowed to change the account at all): superusers, and whom they grant
    ``wechat_app.change_account_credentials``. Without it, an editor of one account could point
    it at another app's id or send its secret to a host of their choosing."""
    return bool(getattr(user, "is_active", False) and not is_read_only(user)
                and user.has_perm(CHANGE_CREDENTIALS_PERMISSION))


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
    if user.is_superuser and token_account_ids(user) is None:
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
    when one is given (an ``Account`` or its id). Through an API token: a read-only token may only
    ``view``, and a token limited to accounts cannot add accounts (it could not see them)."""
    if not is_active_staff(user) or not user.has_perm(permission_name(action, model)):
        return False
    if action != "view" and is_read_only(user):
        return False
    if action == "add" and model is Account and token_account_ids(user) is not None:
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


# ---- API tokens ----------------------------------------------------------------------------------
# A token acts with its owner's permissions, so having one grants nothing more: every active staff
# user may create, see and revoke their own. Seeing and revoking other users' tokens needs
# ``manage_all_api_tokens`` (or a superuser); creating one for another user, which would let its
# holder act as that user, is for superusers only.

MANAGE_ALL_API_TOKENS_PERMISSION = "wechat_app.manage_all_api_tokens"


def can_manage_all_api_tokens(user) -> bool:
    return is_active_staff(user) and not is_read_only(user) and user.has_perm(MANAGE_ALL_API_TOKENS_PERMISSION)


def can_manage_api_token(user, token=None) -> bool:
    """Whether ``user`` may see and revoke ``token`` (None: their own tokens at all)."""
    if not is_active_staff(user) or request_token(user) is not None:
        return False  # tokens are managed in the admin or the shell, never with a token
    return token is None or token.user_id == user.pk or can_manage_all_api_tokens(user)


def can_create_api_token_for(user, owner) -> bool:
    return can_manage_api_token(user) and (owner.pk == user.pk or bool(user.is_superuser))


def manageable_api_tokens(user):
    """The tokens ``user`` may see and revoke (a queryset)."""
    from ..models import ApiToken

    if not can_manage_api_token(user):
        return ApiToken.objects.none()
    if can_manage_all_api_tokens(user):
        return ApiToken.objects.all()
    return ApiToken.objects.filter(user=user)
