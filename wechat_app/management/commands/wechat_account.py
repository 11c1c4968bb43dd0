"""``manage.py wechat_account add|list|update|remove``: manage official accounts from the shell.

Values are validated through the model (``full_clean``) and the app id against WeChat's format;
a bad value is a ``CommandError`` that names the field, and nothing is written. Secrets are
never printed, except a token or EncodingAESKey this command generates (once, to copy into the
WeChat console).

Secrets need not go through the shell history: ``add`` takes a secret it is not given from the
environment (WECHAT_APP_SECRET, WECHAT_TOKEN, WECHAT_AES_KEY) or asks for it (hidden input);
an option given without a value (``update shop --app-secret``) does the same::

    WECHAT_APP_SECRET=... manage.py wechat_account add shop --app-id wx... --generate-token
    manage.py wechat_account update shop --app-secret          # asks: App secret:

A WeCom app (docs/wecom.md) is added with ``--channel wecom``, its corp id as ``--app-id`` and
its ``--agent-id``; it always encrypts, so it needs a token and an EncodingAESKey::

    manage.py wechat_account add hr --channel wecom --app-id ww... --agent-id 1000002 --generate-token --generate-aes-key
"""
import getpass
import os
import re
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from ...models import Account, MessageLog, Rule
from ...models.accounts import WECOM_CORP_ID_RE, mask_secret
from ...protocol.crypto import new_aes_key
from ...protocol.signature import new_token

MODES = [choice for choice, _ in Account.EncryptMode.choices]
# An Official Account's AppID: "wx" and 16 hexadecimal digits (开发 → 基本配置 → 开发者ID).
APP_ID_RE = re.compile(r"^wx[0-9a-f]{16}$")
ASK = object()  # an option given without a value: read it from the environment or ask
# option -> (model field, environment variable, prompt)
SECRETS = {
    "app_secret": ("app_secret", "WECHAT_APP_SECRET", "App secret (AppSecret)"),
    "token": ("token", "WECHAT_TOKEN", "Token"),
    "aes_key": ("encoding_aes_key", "WECHAT_AES_KEY", "EncodingAESKey"),
}


def _validation_message(err: ValidationError) -> str:
    if hasattr(err, "message_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in err.message_dict.items())
    return " ".join(err.messages)


class Command(BaseCommand):
    help = "Add, list, update or remove WeChat official accounts."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{add,list,update,remove}")

        def credential_options(sub, required):
            asked = ("; without a value: from {env} or asked" if not required
                     else "; if omitted: from {env}, else asked")
            sub.add_argument("--app-id", required=required,
                             help="The account's AppID (wx and 16 hex digits); a WeCom app's corp id (ww...).")
            sub.add_argument("--agent-id", type=int, help="WeCom apps: the app's AgentId.")
            sub.add_argument("--app-secret", nargs="?", const=ASK, metavar="SECRET",
                             help="The account's AppSecret" + asked.format(env="WECHAT_APP_SECRET") + ".")
            token = sub.add_mutually_exclusive_group()
            token.add_argument("--token", nargs="?", const=ASK,
                               help="The callback Token (3-32 letters or digits)" + asked.format(env="WECHAT_TOKEN") + ".")
            token.add_argument("--generate-token", action="store_true",
                               help="Generate a random Token (printed once, for the WeChat console).")
            key = sub.add_mutually_exclusive_group()
            key.add_argument("--aes-key", nargs="?", const=ASK, metavar="KEY",
                             help="The EncodingAESKey (43 characters), needed by compatible and safe modes; "
                                  "without a value: from WECHAT_AES_KEY or asked.")
            key.add_argument("--generate-aes-key", action="store_true",
                             help="Generate a random EncodingAESKey (printed once, for the WeChat console).")
            sub.add_argument("--encrypt-mode", choices=MODES, help="Message encryption mode (default: plain).")
            sub.add_argument("--api-base-url", help="WeChat API base URL (default: https://api.weixin.qq.com).")

        add = actions.add_parser("add", help="Add an account.")
        add.add_argument("name", help="Unique name, used in the callback URL /wechat/callback/<name>/.")
        credential_options(add, required=True)
        add.add_argument("--disabled", action="store_true", help="Create the account disabled.")
        add.add_argument("--channel", choices=["mp", "wecom"], default="mp",
                         help="mp: an Official Account (default); wecom: a WeCom app.")

        actions.add_parser("list", help="List accounts (secrets masked).")

        update = actions.add_parser("update", help="Change an account's values.")
        update.add_argument("name")
        credential_options(update, required=False)
        state = update.add_mutually_exclusive_group()
        state.add_argument("--enable", dest="enabled", action="store_true", default=None)
        state.add_argument("--disable", dest="enabled", action="store_false")

        remove = actions.add_parser("remove", help="Remove an account with its rules and message log.")
        remove.add_argument("name")
        remove.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

    def handle(self, *args, action, **options):
        getattr(self, f"handle_{action}")(**options)

    # --- actions -------------------------------------------------------------------------------
    def handle_add(self, name, **options):
        account = Account(name=name, enabled=not options["disabled"], channel=options.get("channel") or "mp")
        generated = self._apply(account, options, adding=True)
        if not account.encrypt_mode:
            account.encrypt_mode = Account.EncryptMode.PLAIN
        self._save(account)
        self.stdout.write(self.style.SUCCESS(
            f"Added account {account.name!r} ({account.get_encrypt_mode_display()}). "
            f"Callback URL path: /wechat/callback/{account.name}/"))
        self._show_generated(generated)

    def handle_update(self, name, **options):
        account = self._get(name)
        generated = self._apply(account, options, adding=False)
        if options.get("enabled") is not None:
            account.enabled = options["enabled"]
        self._save(account)
        self.stdout.write(self.style.SUCCESS(f"Updated account {account.name!r}."))
        self._show_generated(generated)

    def handle_list(self, **options):
        accounts = list(Account.objects.order_by("name"))
        if not accounts:
            self.stdout.write("No accounts. Add one with: manage.py wechat_account add NAME --app-id ... "
                              "--app-secret ... --token ...")
            return
        header = ("NAME", "KIND", "APP ID", "AGENT", "MODE", "ENABLED", "SECRET", "TOKEN", "AES KEY", "API BASE URL")
        rows = [(a.name, a.channel, a.app_id, a.agent_id or "-", a.encrypt_mode, "yes" if a.enabled else "no", mask_secret(a.app_secret),
                 mask_secret(a.token), mask_secret(a.encoding_aes_key) or "-", a.effective_api_base_url)
                for a in accounts]
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            self.stdout.write("  ".join(str(value).ljust(width) for value, width in zip(row, widths)).rstrip())

    def handle_remove(self, name, yes=False, **options):
        account = self._get(name)
        rules = Rule.objects.filter(account=account).count()
        logs = MessageLog.objects.filter(account=account).count()
        if not yes:
            if not options.get("interactive", True):
                raise CommandError("Refusing to remove without confirmation; pass --yes.")
            answer = input(f"Remove account {name!r} with {rules} rule(s) and {logs} log entries? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                raise CommandError("Cancelled; nothing removed.")
        account.delete()
        self.stdout.write(self.style.SUCCESS(f"Removed account {name!r} ({rules} rule(s), {logs} log entries)."))

    # --- helpers -------------------------------------------------------------------------------
    def _get(self, name):
        try:
            return Account.objects.get(name=name)
        except Account.DoesNotExist:
            raise CommandError(f"No account named {name!r}.") from None

    def _apply(self, account, options, adding):
        """Set the given values on ``account``; return the generated secrets {label: value}."""
        app_id = options.get("app_id")
        if app_id is not None:
            app_id = app_id.strip()
            if account.channel == Account.Channel.WECOM:
                if not re.fullmatch(WECOM_CORP_ID_RE, app_id):
                    raise CommandError(f"Invalid account: app_id: {app_id!r} is not a WeCom corp id (ww..., see "
                                       "我的企业 › 企业信息 in the WeCom admin console). Nothing was saved.")
            elif not APP_ID_RE.match(app_id):
                raise CommandError(f"Invalid account: app_id: {app_id!r} is not an Official Account AppID ('wx' and "
                                   "16 hexadecimal digits, see 开发 → 基本配置 in the WeChat console). "
                                   "Nothing was saved.")
            account.app_id = app_id
        if options.get("agent_id") is not None:
            account.agent_id = options["agent_id"]
        for option, field in (("encrypt_mode", "encrypt_mode"), ("api_base_url", "api_base_url")):
            if options.get(option) is not None:
                setattr(account, field, options[option].strip())
        generated = {}
        if options.get("generate_token"):
            account.token = generated["Token"] = new_token()
        if options.get("generate_aes_key"):
            account.encoding_aes_key = generated["EncodingAESKey"] = new_aes_key()
        for option, (field, env, label) in SECRETS.items():
            if label in generated:
                continue
            value = self._secret(options.get(option), env, label,
                                 required=adding and option != "aes_key", from_env=adding)
            if value is not None:
                setattr(account, field, value)
        return generated

    @staticmethod
    def _secret(value, env, label, *, required, from_env):
        """A secret from its option, else (``ASK``, or needed on add) the environment, else a hidden prompt."""
        if value is not None and value is not ASK:
            return value.strip()
        if value is ASK or from_env:
            if os.environ.get(env, "").strip():
                return os.environ[env].strip()
        if value is not ASK and not required:
            return None
        if not sys.stdin.isatty():
            raise CommandError(f"{label} needed: set {env}, or run in a terminal to be asked. Nothing was saved.")
        answer = getpass.getpass(f"{label}: ").strip()
        if not answer:
            raise CommandError(f"No {label} given. Nothing was saved.")
        return answer

    def _show_generated(self, generated):
        for label, value in generated.items():
            self.stdout.write(f"Generated {label} (enter it in the WeChat console; it is not shown again): {value}")

    def _save(self, account):
        try:
            account.full_clean()
        except ValidationError as err:
            # The message names fields, never their values (a secret may be among them).
            raise CommandError(f"Invalid account: {_validation_message(err)} Nothing was saved.") from None
        with transaction.atomic():
            account.save()
