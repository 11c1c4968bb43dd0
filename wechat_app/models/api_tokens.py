"""API tokens: how machines (another service, a CRM, an agent runtime) authenticate to the REST API.

A token belongs to a user: the requests it authenticates act as that user, with their Django
permissions and account grants (``services.access``), narrowed further by the token itself: to
some accounts (none listed: all of the owner's) and to reading (``read_only``).

Only a hash of the key is stored (SHA-256 of the whole key: the key carries 256 random bits, so
a slow password hash would add nothing but latency to every request). The key is shown once,
when the token is created; lists show its ``prefix``, which also finds the row to compare with.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# A key reads "wat_<8 hex: the prefix>_<43 characters: 32 random bytes, url-safe base64>".
KEY_SCHEME = "wat"
PREFIX_HEX = 8


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def split_key(key: str) -> str | None:
    """The prefix part of ``key`` (``wat_1a2b3c4d``), or None if it does not look like a key."""
    scheme, _sep, rest = key.partition("_")
    prefix, sep, secret = rest.partition("_")
    if (scheme != KEY_SCHEME or not sep or len(prefix) != PREFIX_HEX or not secret or len(key) > 200
            or any(c not in "0123456789abcdef" for c in prefix)):
        return None
    return f"{KEY_SCHEME}_{prefix}"


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now))


class ApiToken(models.Model):
    """A revocable key for the REST API (``Authorization: Token <key>`` or ``Bearer <key>``)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wechat_api_tokens",
                             verbose_name=_("owner"),
                             help_text=_("Requests with this token act as this user, with their permissions."))
    name = models.CharField(_("name"), max_length=100,
                            help_text=_("What the token is for, e.g. 'CRM sync' (unique per owner)."))
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False,
                              help_text=_("The start of the key, to recognize it; the rest is never shown again."))
    key_hash = models.CharField(max_length=64, editable=False)
    accounts = models.ManyToManyField("wechat_app.Account", blank=True, related_name="api_tokens",
                                      verbose_name=_("accounts"),
                                      help_text=_("Limit the token to these accounts. None: every account "
                                                  "the owner may access."))
    read_only = models.BooleanField(_("read-only"), default=False,
                                    help_text=_("Only reading (GET, HEAD, OPTIONS) is allowed."))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True,
                                      help_text=_("After this moment the token is refused. Empty: never."))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="wechat_api_token_name_unique"),
        ]
        permissions = [
            ("manage_all_api_tokens", "Can see and revoke the API tokens of every user"),
        ]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    # ---- keys --------------------------------------------------------------------------------------

    def generate_key(self) -> str:
        """A new key for this (unsaved) token: sets ``prefix`` and ``key_hash``, returns the key,
        which nothing keeps: show it once."""
        prefix = f"{KEY_SCHEME}_{secrets.token_hex(PREFIX_HEX // 2)}"
        key = f"{prefix}_{secrets.token_urlsafe(32)}"
        self.prefix, self.key_hash = prefix, hash_key(key)
        return key

    def matches(self, key: str) -> bool:
        return hmac.compare_digest(self.key_hash, hash_key(key))

    # ---- state ---------------------------------------------------------------------------------------

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return not self.is_revoked and not self.is_expired

    def state(self) -> str:
        return "revoked" if self.is_revoked else "expired" if self.is_expired else "active"

    def revoke(self) -> bool:
        """Revoke the token (from its next request on); False if it already was."""
        if self.revoked_at is not None:
            return False
        self.revoked_at = timezone.now()
        type(self).objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=self.revoked_at)
        return True
