"""Official accounts: credentials and callback configuration."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..protocol import InvalidAESKeyError, MessageCrypto, validate_aes_key

name_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
    _("Use 1 to 64 letters, digits, '-' or '_' (it is part of the callback URL)."),
)
app_id_validator = RegexValidator(r"^[A-Za-z0-9_-]{4,64}$", _("An app id is 4 to 64 letters, digits, '-' or '_'."))
# WeChat's console accepts 3 to 32 letters and digits for the token.
token_validator = RegexValidator(r"^[A-Za-z0-9]{3,32}$", _("The token is 3 to 32 letters or digits."))


def aes_key_validator(value):
    if value:
        try:
            validate_aes_key(value)
        except InvalidAESKeyError as err:
            raise ValidationError(str(err), code="invalid_aes_key") from err


def mask_secret(value: str | None) -> str:
    """Show that a secret is set without revealing it."""
    if not value:
        return ""
    return "•" * 8 + (value[-2:] if len(value) > 12 else "")


class Account(models.Model):
    """One WeChat Official Account served by this installation."""

    class EncryptMode(models.TextChoices):
        PLAIN = "plain", _("Plain text")
        COMPATIBLE = "compatible", _("Compatible (plain and encrypted)")
        SAFE = "safe", _("Safe (encrypted only)")

    name = models.CharField(_("name"), max_length=64, unique=True, validators=[name_validator],
                            help_text=_("Used in the callback URL: /wechat/callback/<name>/"))
    app_id = models.CharField(_("app id"), max_length=64, validators=[app_id_validator])
    app_secret = models.CharField(_("app secret"), max_length=128)
    token = models.CharField(_("token"), max_length=32, validators=[token_validator])
    encoding_aes_key = models.CharField(_("EncodingAESKey"), max_length=43, blank=True,
                                        validators=[aes_key_validator])
    encrypt_mode = models.CharField(_("encryption mode"), max_length=16, choices=EncryptMode.choices,
                                    default=EncryptMode.PLAIN)
    api_base_url = models.URLField(_("API base URL"), max_length=255, blank=True,
                                   help_text=_("Leave empty for the default (https://api.weixin.qq.com); "
                                               "point it at the sandbox for offline work."))
    enabled = models.BooleanField(_("enabled"), default=True)
    # Bumped (F() + 1) in the transaction of every change to the account's rules, so that the
    # rules version can always be derived from the database (services/rules.py).
    rules_revision = models.PositiveBigIntegerField(_("rules revision"), default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("official account")
        verbose_name_plural = _("official accounts")

    def __str__(self):
        return self.name

    def __repr__(self):  # secrets never appear in reprs (and so in tracebacks and logs)
        return f"<Account {self.name!r} app_id={self.app_id!r} mode={self.encrypt_mode}>"

    def save(self, *args, **kwargs):
        # ``rules_revision`` only ever moves by F() updates; an instance loaded before a rule
        # change must not write its older value back (a revision seen twice could hide a change).
        if not self._state.adding and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            kwargs["update_fields"] = [field.name for field in self._meta.concrete_fields
                                       if not field.primary_key and field.name != "rules_revision"]
        super().save(*args, **kwargs)

    def clean(self):
        super().clean()
        if self.encrypt_mode != self.EncryptMode.PLAIN and not self.encoding_aes_key:
            raise ValidationError({"encoding_aes_key": _("The %(mode)s mode needs an EncodingAESKey.")
                                   % {"mode": self.get_encrypt_mode_display()}})
        if self.api_base_url:
            URLValidator(schemes=["http", "https"])(self.api_base_url)

    @property
    def crypto(self) -> MessageCrypto | None:
        """The account's message crypto, or None when it has no EncodingAESKey."""
        if not self.encoding_aes_key:
            return None
        return MessageCrypto(self.token, self.encoding_aes_key, self.app_id)

    @property
    def effective_api_base_url(self) -> str:
        from ..conf import app_settings

        return (self.api_base_url or app_settings.API_BASE_URL).rstrip("/")
