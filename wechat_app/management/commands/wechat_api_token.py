"""``manage.py wechat_api_token create|list|revoke``: API tokens from the shell.

    manage.py wechat_api_token create --user alice --name "CRM sync" --account shop --read-only --expires-days 90
    manage.py wechat_api_token list [--user alice]
    manage.py wechat_api_token revoke wat_1a2b3c4d        # its prefix (or id)

``create`` prints the key once, on standard output alone (``KEY=$(manage.py wechat_api_token create
...)``), and what was made on standard error; only its hash is stored. Bad values are a
``CommandError`` naming the field, and nothing is written.
"""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ...models import ApiToken
from ...services import api_tokens


def _message(err: ValidationError) -> str:
    if hasattr(err, "message_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in err.message_dict.items())
    return " ".join(err.messages)


class Command(BaseCommand):
    help = "Create, list or revoke API tokens of the REST API."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{create,list,revoke}")
        create = actions.add_parser("create", help="Create a token and print its key (once).")
        create.add_argument("--user", required=True, help="The owner (username): the token acts as this user.")
        create.add_argument("--name", required=True, help="What the token is for (unique per owner).")
        create.add_argument("--account", action="append", default=[], metavar="NAME",
                            help="Limit the token to this account (repeat for several). Default: every "
                                 "account the owner may access.")
        create.add_argument("--read-only", action="store_true", help="Only GET, HEAD and OPTIONS requests.")
        create.add_argument("--expires-days", type=int, metavar="D", help="Refuse the token after D days.")
        listing = actions.add_parser("list", help="List tokens (never their keys).")
        listing.add_argument("--user", help="Only this owner's tokens.")
        revoke = actions.add_parser("revoke", help="Revoke a token: refused from its next request on.")
        revoke.add_argument("token", metavar="PREFIX_OR_ID", help="The token's prefix (wat_...) or id.")

    def handle(self, *args, action, **options):
        return getattr(self, f"do_{action}")(**options)

    def _user(self, username):
        try:
            return get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"user: no user named {username!r}.") from None

    def do_create(self, user, name, account, read_only, expires_days, **options):
        owner = self._user(user)
        try:
            accounts = api_tokens.accounts_by_name(account)
            token, key = api_tokens.create_token(owner, name, accounts=accounts, read_only=read_only,
                                                 expires_days=expires_days)
        except ValidationError as err:
            raise CommandError(_message(err)) from err
        limits = ", ".join(api_tokens.account_names(token)) or "every account of the owner"
        self.stderr.write(f"Created token {token.prefix} ({token.name!r}) for {owner.get_username()}: "
                          f"{limits}; {'read-only' if token.read_only else 'read-write'}; "
                          f"expires {token.expires_at.isoformat() if token.expires_at else 'never'}. "
                          "The key (shown once, not stored):")
        self.stdout.write(key)

    def do_list(self, user=None, **options):
        tokens = ApiToken.objects.select_related("user").prefetch_related("accounts").order_by("user__username",
                                                                                                "created_at")
        if user:
            tokens = tokens.filter(user=self._user(user))
        rows = [("ID", "PREFIX", "OWNER", "NAME", "ACCOUNTS", "ACCESS", "LAST USED", "EXPIRES", "STATE")]
        for t in tokens:
            rows.append((str(t.pk), t.prefix, t.user.get_username(), t.name,
                         ",".join(sorted(a.name for a in t.accounts.all())) or "*",
                         "read-only" if t.read_only else "read-write",
                         timezone.localtime(t.last_used_at).strftime("%Y-%m-%d %H:%M") if t.last_used_at else "-",
                         timezone.localtime(t.expires_at).strftime("%Y-%m-%d %H:%M") if t.expires_at else "-",
                         t.state()))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip())

    def do_revoke(self, token, **options):
        found = api_tokens.find_token(token)
        if found is None:
            raise CommandError(f"No token with prefix or id {token!r} (see: wechat_api_token list).")
        if not found.revoke():
            self.stdout.write(f"Token {found.prefix} ({found.name!r}) was already revoked.")
            return
        self.stdout.write(f"Revoked token {found.prefix} ({found.name!r}) of {found.user.get_username()}.")
