"""API tokens: create, list, revoke, and recognize a key (``api.authentication`` calls ``authenticate``).

The admin and ``manage.py wechat_api_token`` create and revoke through here, so both apply the
same rules: the owner must be an active staff user (the API serves nobody else), a token limited
to accounts may only name accounts its owner may access, and who may manage whose tokens is
``services.access.can_manage_api_token``.
"""
from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import Account, ApiToken
from ..models.api_tokens import split_key
from .access import accessible_accounts, is_active_staff

# ``last_used_at`` is written at most this often per token (seconds): not one UPDATE per request.
LAST_USED_INTERVAL = 60
MAX_EXPIRES_DAYS = 3650


class TokenRefused(Exception):
    """A key that authenticates nobody; the message says why (for the 401 answer)."""


def create_token(owner, name: str, *, accounts=(), read_only: bool = False, expires_at=None,
                 expires_days: int | None = None) -> tuple[ApiToken, str]:
    """A new token of ``owner`` and its key (shown once: only its hash is stored).

    Raises ``ValidationError`` naming the field for a bad value; nothing is saved then."""
    accounts = list(accounts)
    expires_at = validate(owner, name, accounts=accounts, expires_at=expires_at, expires_days=expires_days)
    name = name.strip()
    token = ApiToken(user=owner, name=name, read_only=read_only, expires_at=expires_at)
    key = token.generate_key()
    try:
        with transaction.atomic():
            token.save()
            token.accounts.set(accounts)
    except IntegrityError as err:  # the same name, created meanwhile
        raise ValidationError({"name": [f"{owner.get_username()} already has a token named {name!r}."]}) from err
    return token, key


def validate(owner, name: str, *, accounts=(), expires_at=None, expires_days: int | None = None):
    """``ValidationError`` by field for what a new token of ``owner`` may not be; else its expiry."""
    errors = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = ["Give the token a name (what it is for)."]
    elif len(name) > 100 or "\x00" in name:
        errors["name"] = ["Use at most 100 characters, without null characters."]
    elif ApiToken.objects.filter(user=owner, name=name).exists():
        errors["name"] = [f"{owner.get_username()} already has a token named {name!r}."]
    if not is_active_staff(owner):
        errors["user"] = [f"{owner.get_username()} is not an active staff user: the API would refuse the token."]
    accounts = list(accounts)
    if accounts:
        allowed = set(accessible_accounts(owner).values_list("pk", flat=True))
        outside = sorted(a.name for a in accounts if a.pk not in allowed)
        if outside:
            errors["accounts"] = [f"{owner.get_username()} may not access {', '.join(outside)}: a token "
                                  "can only be limited to accounts its owner may access."]
    if expires_days is not None:
        if not isinstance(expires_days, int) or not 1 <= expires_days <= MAX_EXPIRES_DAYS:
            errors["expires_at"] = [f"Use a number of days from 1 to {MAX_EXPIRES_DAYS}."]
        else:
            expires_at = timezone.now() + timedelta(days=expires_days)
    elif expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = ["Use a moment in the future."]
    if errors:
        raise ValidationError(errors)
    return expires_at


def find_token(prefix_or_id: str, queryset=None) -> ApiToken | None:
    """A token by its prefix (``wat_1a2b3c4d``, or a whole key) or its id."""
    queryset = ApiToken.objects.all() if queryset is None else queryset
    value = (prefix_or_id or "").strip()
    if value.isdigit() and len(value) < 19:
        return queryset.filter(pk=int(value)).first()
    prefix = split_key(value) or (value if split_key(value + "_x") else None)
    return queryset.filter(prefix=prefix).first() if prefix else None


def authenticate(key: str) -> ApiToken:
    """The active token of ``key``, its owner loaded; ``TokenRefused`` otherwise."""
    prefix = split_key(key)
    token = None
    if prefix is not None:
        token = (ApiToken.objects.select_related("user").filter(prefix=prefix).first())
    # The hash is compared in constant time; an unknown prefix costs the same hash.
    if token is None or not token.matches(key):
        raise TokenRefused("Invalid API token.")
    if token.is_revoked:
        raise TokenRefused("This API token was revoked.")
    if token.is_expired:
        raise TokenRefused("This API token expired.")
    if not token.user.is_active:
        raise TokenRefused("The owner of this API token is inactive.")
    touch(token)
    return token


def touch(token: ApiToken) -> None:
    """Record that ``token`` was used now: at most once per ``LAST_USED_INTERVAL`` per token."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() >= LAST_USED_INTERVAL:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def account_names(token: ApiToken) -> list[str]:
    return sorted(token.accounts.values_list("name", flat=True))


def accounts_by_name(names) -> list[Account]:
    """The accounts named ``names``; ``ValidationError`` naming the unknown ones."""
    names = list(dict.fromkeys(names))
    found = {a.name: a for a in Account.objects.filter(name__in=names)}
    missing = [n for n in names if n not in found]
    if missing:
        raise ValidationError({"accounts": [f"No account named {', '.join(map(repr, missing))}."]})
    return [found[n] for n in names]
