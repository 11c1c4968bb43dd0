"""``manage.py wechat_account add|list|update|remove``: manage official accounts from the shell.

Values are validated through the model (``full_clean``); a bad value is a ``CommandError`` that
names the field, and nothing is written. Secrets are never printed.
"""
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from ...models import Account, MessageLog, Rule
from ...models.accounts import mask_secret

MODES = [choice for choice, _ in Account.EncryptMode.choices]


def _validation_message(err: ValidationError) -> str:
    if hasattr(err, "message_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in err.message_dict.items())
    return " ".join(err.messages)


class Command(BaseCommand):
    help = "Add, list, update or remove WeChat official accounts."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{add,list,update,remove}")

        def credential_options(sub, required):
            sub.add_argument("--app-id", required=required, help="The account's AppID.")
            sub.add_argument("--app-secret", required=required, help="The account's AppSecret.")
            sub.add_argument("--token", required=required, help="The callback Token (3-32 letters or digits).")
            sub.add_argument("--aes-key", help="The EncodingAESKey (43 characters); needed by compatible and safe modes.")
            sub.add_argument("--encrypt-mode", choices=MODES, help="Message encryption mode (default: plain).")
            sub.add_argument("--api-base-url", help="WeChat API base URL (default: https://api.weixin.qq.com).")

        add = actions.add_parser("add", help="Add an account.")
        add.add_argument("name", help="Unique name, used in the callback URL /wechat/callback/<name>/.")
        credential_options(add, required=True)
        add.add_argument("--disabled", action="store_true", help="Create the account disabled.")

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
        account = Account(name=name, enabled=not options["disabled"])
        self._apply(account, options)
        if not account.encrypt_mode:
            account.encrypt_mode = Account.EncryptMode.PLAIN
        self._save(account)
        self.stdout.write(self.style.SUCCESS(
            f"Added account {account.name!r} ({account.get_encrypt_mode_display()}). "
            f"Callback URL path: /wechat/callback/{account.name}/"))

    def handle_update(self, name, **options):
        account = self._get(name)
        self._apply(account, options)
        if options.get("enabled") is not None:
            account.enabled = options["enabled"]
        self._save(account)
        self.stdout.write(self.style.SUCCESS(f"Updated account {account.name!r}."))

    def handle_list(self, **options):
        accounts = list(Account.objects.order_by("name"))
        if not accounts:
            self.stdout.write("No accounts. Add one with: manage.py wechat_account add NAME --app-id ... "
                              "--app-secret ... --token ...")
            return
        header = ("NAME", "APP ID", "MODE", "ENABLED", "SECRET", "TOKEN", "AES KEY", "API BASE URL")
        rows = [(a.name, a.app_id, a.encrypt_mode, "yes" if a.enabled else "no", mask_secret(a.app_secret),
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

    def _apply(self, account, options):
        mapping = {"app_id": "app_id", "app_secret": "app_secret", "token": "token",
                   "aes_key": "encoding_aes_key", "encrypt_mode": "encrypt_mode", "api_base_url": "api_base_url"}
        for option, field in mapping.items():
            if options.get(option) is not None:
                setattr(account, field, options[option].strip())

    def _save(self, account):
        try:
            account.full_clean()
        except ValidationError as err:
            # The message names fields, never their values (a secret may be among them).
            raise CommandError(f"Invalid account: {_validation_message(err)} Nothing was saved.") from None
        with transaction.atomic():
            account.save()
