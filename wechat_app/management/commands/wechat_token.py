"""Show or refresh an account's access token (always masked).

Usage::

    python manage.py wechat_token show --account NAME
    python manage.py wechat_token refresh --account NAME [--force]
"""
import time

from django.core.management.base import BaseCommand, CommandError

from ...client import WeChatAPIError
from ...conf import app_settings
from ...models import Account
from ...services import tokens


def mask_token(value: str | None) -> str:
    """Enough of a token to tell two apart, not enough to use it."""
    if not value:
        return "(none)"
    return f"{value[:4]}…{value[-4:]} ({len(value)} chars)"


class Command(BaseCommand):
    help = "Show or refresh an account's access token (masked)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["show", "refresh"])
        parser.add_argument("--account", required=True, help="Account name.")
        parser.add_argument("--force", action="store_true",
                            help="refresh: ask for a brand-new token (stable_token force_refresh; revokes the old).")

    def handle(self, *args, action, account, force, **options):
        try:
            acc = Account.objects.get(name=account)
        except Account.DoesNotExist:
            names = ", ".join(Account.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"No account named {account!r} (known: {names}).") from None
        source = "TOKEN_PROVIDER" if app_settings.TOKEN_PROVIDER else (
            "stable_token" if app_settings.USE_STABLE_TOKEN else "classic /cgi-bin/token")
        try:
            if action == "refresh":
                if app_settings.TOKEN_PROVIDER:
                    raise CommandError("Tokens come from TOKEN_PROVIDER; refresh them there.")
                value = tokens.refresh_access_token(acc, force=force)
                self.stdout.write(self.style.SUCCESS(f"Refreshed {acc.name}: {mask_token(value)}"))
            elif app_settings.TOKEN_PROVIDER:
                self.stdout.write(f"{acc.name}: {mask_token(tokens.get_access_token(acc))} (from TOKEN_PROVIDER)")
                return
        except WeChatAPIError as err:
            raise CommandError(f"WeChat refused: {err}") from err
        entry = tokens.token_status(acc)
        if entry is None:
            self.stdout.write(f"{acc.name}: no cached token (source: {source}, API {acc.effective_api_base_url})")
            return
        left = int(entry["expires_at"] - time.time())
        self.stdout.write(f"{acc.name}: {mask_token(entry['value'])}, expires in {left}s "
                          f"(source: {source}, API {acc.effective_api_base_url})")
