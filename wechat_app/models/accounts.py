"""Official accounts: credentials and callback configuration."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from ..client.hosts import base_url_allowed, parse_base_url
from ..protocol import InvalidAESKeyError, MessageCrypto, WeComCrypto, validate_aes_key

# The fields that obtain an access token: changing one is a privileged operation
# (``wechat_app.change_account_credentials``) and drops the account's cached token and tickets.
CREDENTIAL_FIELDS = ("app_id", "app_secret", "api_base_url")

name_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
    _("Use 1 to 64 letters, digits, '-' or '_' (it is part of the callback URL)."),
)
app_id_validator = RegexValidator(r"^[A-Za-z0-9_-]{4,64}$", _("An app id is 4 to 64 letters, digits, '-' or '_'."))
# A WeCom app's app id is its corp id (``Account.clean``): "ww" and 16 hex digits for most corps,
# "wx..." for older ones, so letters and digits, 6 to 32 of them.
WECOM_CORP_ID_RE = r"[A-Za-z0-9]{6,32}"
# What any kind of account may hold in ``app_id``: iLink bots keep their bot id there
# (``…@im.bot``); ``Account.clean`` applies the stricter rule to the other kinds.
any_app_id_validator = RegexValidator(r"^[A-Za-z0-9_.@-]{4,64}$",
                                      _("An app id is 4 to 64 letters, digits, '-', '_', '.' or '@'."))
# WeChat's console accepts 3 to 32 letters and digits for the token.
token_validator = RegexValidator(r"^[A-Za-z0-9]{3,32}$", _("The token is 3 to 32 letters or digits."))


def aes_key_validator(value):
    if value:
        try:
            validate_aes_key(value)
        except InvalidAESKeyError as err:
            raise ValidationError(str(err), code="invalid_aes_key") from err


def api_base_url_allowed(url: str) -> bool:
    """Whether the client may send an account's secret and tokens to ``url``: one of
    ``ALLOWED_API_BASE_URLS``, or the installer's own ``API_BASE_URL``."""
    from ..conf import app_settings

    return base_url_allowed(url, [*app_settings.ALLOWED_API_BASE_URLS, app_settings.API_BASE_URL,
                                  app_settings.WECOM_API_BASE_URL])


def api_base_url_validator(value):
    if value and not api_base_url_allowed(value):
        from ..conf import SETTINGS_NAME, app_settings

        raise ValidationError(
            _("This API base URL is not allowed. Use one of: %(allowed)s (%(setting)s).")
            % {"allowed": ", ".join(app_settings.ALLOWED_API_BASE_URLS),
               "setting": f"{SETTINGS_NAME}['ALLOWED_API_BASE_URLS']"},
            code="api_base_url_not_allowed")


JS_DOMAINS_MAX = 5  # WeChat's console takes up to 5 JS safe domains


def parse_js_domains(value: str) -> list[str]:
    """The hosts of a ``js_domains`` text (one a line, blank lines ignored), lower-cased."""
    return [line.strip().lower().rstrip(".") for line in (value or "").splitlines() if line.strip()]


def js_domains_validator(value):
    import re

    hosts = parse_js_domains(value)
    if len(hosts) > JS_DOMAINS_MAX:
        raise ValidationError(_("At most %(n)d domains.") % {"n": JS_DOMAINS_MAX}, code="too_many_domains")
    for host in hosts:
        if not re.fullmatch(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
                            r"(:[0-9]{1,5})?", host):
            raise ValidationError(_("%(host)r is not a host name (no scheme or path: shop.example.com).")
                                  % {"host": host}, code="invalid_domain")


def mask_secret(value: str | None) -> str:
    """Show that a secret is set without revealing it."""
    if not value:
        return ""
    return "•" * 8 + (value[-2:] if len(value) > 12 else "")


def reply_text_validator(value):
    """A text reply as stored replies are judged (no characters XML cannot carry)."""
    from ..engine.spec import RuleSpecError, validate_replies

    if value:
        try:
            validate_replies([value])
        except RuleSpecError as err:
            raise ValidationError(str(err), code="invalid_reply") from None


class Account(models.Model):
    """One account served by this installation: an Official Account, a WeCom app or an iLink bot.

    ``channel`` says which; what differs between them (how messages arrive, how replies and files
    are sent, typing) lives behind ``wechat_app.channels`` so that the engine, the log, the admin,
    the REST API and the agent delivery work on every kind alike.
    """

    class Channel(models.TextChoices):
        OFFICIAL_ACCOUNT = "mp", _("Official Account (公众号)")
        WECOM = "wecom", _("WeCom app (企业微信应用)")
        ILINK = "ilink", _("Personal WeChat bot (iLink)")

    # iLink bots come from a QR login (services/ilink.py), which stores the bot's session with them.
    ILINK_ADDED_BY_LOGIN = _("A personal WeChat bot (iLink) is added by logging it in with a QR code "
                             "(iLink bots → Log in a bot (QR code), or POST /wechat/api/ilink-logins/).")

    class EncryptMode(models.TextChoices):
        PLAIN = "plain", _("Plain text")
        COMPATIBLE = "compatible", _("Compatible (plain and encrypted)")
        SAFE = "safe", _("Safe (encrypted only)")

    class Kind(models.TextChoices):
        # WeChat's mass-send quota differs: subscription accounts 1 a day, service accounts 4 a month.
        SUBSCRIPTION = "subscription", _("Subscription account (订阅号)")
        SERVICE = "service", _("Service account (服务号)")

    name = models.CharField(_("name"), max_length=64, unique=True, validators=[name_validator],
                            help_text=_("Used in the callback URL: /wechat/callback/{name}/"))
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices,
                               default=Channel.OFFICIAL_ACCOUNT,
                               help_text=_("What kind of account this is; it cannot change once created."))
    # iLink bots keep their bot id here and have no app secret, token or AES key (``clean`` asks
    # the other kinds for them).
    app_id = models.CharField(_("app id"), max_length=64, validators=[any_app_id_validator],
                              help_text=_("The Official Account's app id (wx...); for a WeCom app the "
                                          "corp id (ww...); for an iLink bot its bot id."))
    app_secret = models.CharField(_("app secret"), max_length=128, blank=True)
    # WeCom apps: the app's AgentId (app messages and menus name it); None for other kinds.
    agent_id = models.PositiveIntegerField(_("agent id"), null=True, blank=True,
                                           help_text=_("WeCom apps only: the app's AgentId."))
    token = models.CharField(_("token"), max_length=32, blank=True, validators=[token_validator])
    encoding_aes_key = models.CharField(_("EncodingAESKey"), max_length=43, blank=True,
                                        validators=[aes_key_validator])
    encrypt_mode = models.CharField(_("encryption mode"), max_length=16, choices=EncryptMode.choices,
                                    default=EncryptMode.PLAIN)
    api_base_url = models.URLField(_("API base URL"), max_length=255, blank=True,
                                   validators=[api_base_url_validator],
                                   help_text=_("Leave empty for the default (https://api.weixin.qq.com); "
                                               "point it at the sandbox for offline work. Only the "
                                               "URLs the installation allows are accepted."))
    kind = models.CharField(_("account type"), max_length=16, choices=Kind.choices, default=Kind.SERVICE,
                            help_text=_("Decides the mass-send quota: one a day (subscription) or four a "
                                        "month (service)."))
    enabled = models.BooleanField(_("enabled"), default=True)
    # webot's codeReplies: what a user's message gets when no rule matched (404) or a rule raised
    # (500). Empty (the default): nothing, WeChat gets "success". Events never get them.
    no_match_reply = models.TextField(_("reply when no rule matched"), max_length=600, blank=True,
                                      validators=[reply_text_validator],
                                      help_text=_("Sent to a user whose message no rule answered. Empty: "
                                                  "answer nothing. A default rule takes precedence."))
    error_reply = models.TextField(_("reply when a rule failed"), max_length=600, blank=True,
                                   validators=[reply_text_validator],
                                   help_text=_("Sent to a user when a rule raised an error (the error is "
                                               "still logged). Empty: answer nothing."))
    # JS-SDK: the pages' hosts that may get a wx.config signature (the console's JS接口安全域名).
    js_domains = models.TextField(_("JS safe domains"), blank=True, validators=[js_domains_validator],
                                  help_text=_("One host per line (e.g. shop.example.com): only pages on "
                                              "these hosts get a JS-SDK configuration. Empty: none."))
    # Bumped (F() + 1) in the transaction of every change to the account's rules, so that the
    # rules version can always be derived from the database (services/rules.py).
    rules_revision = models.PositiveBigIntegerField(_("rules revision"), default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        permissions = [("change_account_credentials",
                        "Can change the app id, app secret and API base URL of an account")]
        constraints = [
            # One account per app at one API host: two would act as the same app (and with
            # classic tokens revoke each other's). ``validate_constraints`` also compares
            # equivalent spellings of the URL, and an empty URL with the default.
            # WeCom apps of one corp share its corp id (app_id): one account per agent id.
            models.UniqueConstraint(fields=["app_id", "api_base_url"], condition=~models.Q(channel="wecom"),
                                    name="wechat_app_account_app_id_per_api"),
            models.UniqueConstraint(fields=["app_id", "agent_id", "api_base_url"], condition=models.Q(channel="wecom"),
                                    name="wechat_app_account_wecom_agent_per_api"),
        ]

    def __str__(self):
        return self.name

    def __repr__(self):  # secrets never appear in reprs (and so in tracebacks and logs)
        return f"<Account {self.name!r} app_id={self.app_id!r} mode={self.encrypt_mode}>"

    def save(self, *args, **kwargs):
        if self.channel == self.Channel.WECOM:  # WeCom always encrypts, whatever way the row was written
            self.encrypt_mode = self.EncryptMode.SAFE
        # ``rules_revision`` only ever moves by F() updates; an instance loaded before a rule
        # change must not write its older value back (a revision seen twice could hide a change).
        if not self._state.adding and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            kwargs["update_fields"] = [field.name for field in self._meta.concrete_fields
                                       if not field.primary_key and field.name != "rules_revision"]
        super().save(*args, **kwargs)

    @property
    def is_ilink(self) -> bool:
        return self.channel == self.Channel.ILINK

    def clean(self):
        super().clean()
        if self.channel == self.Channel.WECOM:
            self._clean_wecom()
            return
        if self.agent_id is not None:
            raise ValidationError({"agent_id": _("Only WeCom apps have an agent id.")})
        if not self.is_ilink:
            # The callback kinds need WeChat's credentials; iLink bots log in by QR code instead.
            errors = {}
            if self.app_id and any_app_id_validator.regex.match(self.app_id) and \
                    not app_id_validator.regex.match(self.app_id):
                errors["app_id"] = app_id_validator.message
            for name in ("app_secret", "token"):
                if not getattr(self, name):
                    errors[name] = _("This field is required.")
            if errors:
                raise ValidationError(errors)
        if self.encrypt_mode != self.EncryptMode.PLAIN and not self.encoding_aes_key:
            raise ValidationError({"encoding_aes_key": _("The %(mode)s mode needs an EncodingAESKey.")
                                   % {"mode": self.get_encrypt_mode_display()}})

    def _clean_wecom(self):
        """A WeCom app: corp id, agent id, token and EncodingAESKey (WeCom always encrypts)."""
        import re

        errors = {}
        if self.app_id and not re.fullmatch(WECOM_CORP_ID_RE, self.app_id):
            errors["app_id"] = _("A WeCom corp id is 6 to 32 letters or digits (ww...).")
        if self.agent_id is None:
            errors["agent_id"] = _("A WeCom app needs its agent id (AgentId).")
        if not self.encoding_aes_key:
            errors["encoding_aes_key"] = _("WeCom always encrypts callbacks: the EncodingAESKey is required.")
        if not self.token:
            errors["token"] = _("A WeCom app needs its callback token.")
        if not self.app_secret:
            errors["app_secret"] = _("This field is required.")
        if errors:
            raise ValidationError(errors)
        self.encrypt_mode = self.EncryptMode.SAFE  # WeCom has no plain mode

    def validate_constraints(self, exclude=None):
        """The database constraint, judged on the effective API host, with a message on the field."""
        exclude = set(exclude or ())
        field = next((name for name in ("app_id", "api_base_url") if name not in exclude), None)
        if field is not None and self.app_id and self._app_id_taken():
            exclude |= {"app_id", "api_base_url"}  # the constraint's own (generic) message would repeat this
            try:
                super().validate_constraints(exclude=exclude)
            except ValidationError as err:
                errors = err.update_error_dict({})
            else:
                errors = {}
            errors.setdefault(field, []).append(ValidationError(
                _("Another account already uses this corp id and agent id with this API base URL.")
                if self.channel == self.Channel.WECOM else
                _("Another account already uses this app id with this API base URL."), code="app_id_taken"))
            raise ValidationError(errors)
        super().validate_constraints(exclude=exclude)

    def _app_id_taken(self) -> bool:
        mine = _comparable_base_url(self.effective_api_base_url)
        others = Account.objects.filter(app_id=self.app_id).exclude(pk=self.pk)
        if self.channel == self.Channel.WECOM:  # another app of the same corp is fine
            others = others.filter(channel=self.channel, agent_id=self.agent_id)
        else:
            others = others.exclude(channel=self.Channel.WECOM)
        others = others.only("api_base_url", "channel")
        return any(_comparable_base_url(other.effective_api_base_url) == mine for other in others)

    def credentials_fingerprint(self) -> str:
        """A keyed digest of what obtains this account's tokens (app id, secret, effective API
        base URL); cache keys carry it, so a token is only ever handed to the same credentials.
        Keyed with SECRET_KEY: the digest does not let anyone who reads the cache test guesses."""
        message = "\x00".join((self.app_id or "", self.app_secret or "", self.effective_api_base_url))
        return salted_hmac("wechat_app.account.credentials", message, algorithm="sha256").hexdigest()[:32]

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_crypto", None)  # made again on demand (a Cipher does not pickle)
        return state

    @property
    def crypto(self) -> MessageCrypto | None:
        """The account's message crypto, or None when it has no EncodingAESKey."""
        if not self.encoding_aes_key:
            return None
        # Kept on the instance for the fields it was made from (the callback asks twice a
        # message); an edit of any of them makes a new one.
        made_from = (self.channel, self.token, self.encoding_aes_key, self.app_id)
        cached = self.__dict__.get("_crypto")
        if cached is not None and cached[0] == made_from:
            return cached[1]
        if self.channel == self.Channel.WECOM:  # the corp id is the receive id
            crypto = WeComCrypto(self.token, self.encoding_aes_key, self.app_id)
        else:
            crypto = MessageCrypto(self.token, self.encoding_aes_key, self.app_id)
        self.__dict__["_crypto"] = (made_from, crypto)
        return crypto

    @property
    def is_wecom(self) -> bool:
        return self.channel == self.Channel.WECOM

    @property
    def effective_api_base_url(self) -> str:
        from ..conf import app_settings

        if self.api_base_url:
            return self.api_base_url.rstrip("/")
        default = app_settings.WECOM_API_BASE_URL if self.channel == self.Channel.WECOM else app_settings.API_BASE_URL
        return default.rstrip("/")


def _comparable_base_url(url: str):
    """Equivalent spellings of a base URL compare equal (case, default port, trailing slash)."""
    try:
        return parse_base_url(url)
    except ValueError:
        return url
