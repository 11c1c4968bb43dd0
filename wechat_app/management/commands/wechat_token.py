"""Show or refresh an account's access token (always masked).

Usage::

    python manage.py wechat_token show --account NAME
    python manage.py wechat_token refresh --account NAME [--force]

Tokens live in the app's cache (``WECHAT_APP["CACHE_ALIAS"]``), read and written only through
``services.tokens``. With a shared cache (Redis) ``show`` sees what ``refresh``, the server and
the workers stored. A local-memory cache is private to each process: this command then says
that it cannot see the others' tokens, rather than pretending there is none.
"""
import time

from django.core.cache import caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.management.base import BaseCommand, CommandError

from ...client import WeChatAPIError
from ...conf import app_settings
from ...models import Account
from ...services import tokens


def process_local_cache() -> str | None:
    """The backend name when the token cache is private to this process (nothing shared), else None."""
    cache = caches[app_settings.CACHE_ALIAS]
    return type(cache).__name__ if isinstance(cache, (LocMemCache, DummyCache)) else None


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
                local = process_local_cache()
                if local:
                    self.stderr.write(f"Note: the cache {app_settings.CACHE_ALIAS!r} is {local}, private to this "
                                      "process: the token is gone when this command ends, and the server and "
                                      "workers keep their own. A shared cache (Redis) makes them share one.")
            elif app_settings.TOKEN_PROVIDER:
                self.stdout.write(f"{acc.name}: {mask_token(tokens.get_access_token(acc))} (from TOKEN_PROVIDER)")
                return
        except WeChatAPIError as err:
            raise CommandError(f"WeChat refused: {err}") from err
        entry = tokens.token_status(acc)
        if entry is None:
            local = process_local_cache()
            where = (f"the cache {app_settings.CACHE_ALIAS!r} is {local}, private to each process, so tokens "
                     "fetched by the server, workers or `refresh` are not visible here"
                     if local else "none fetched yet, or expired; `refresh` fetches one")
            self.stdout.write(f"{acc.name}: no cached token ({where}; source: {source}, "
                              f"API {acc.effective_api_base_url})")
            return
        left = int(entry["expires_at"] - time.time())
        self.stdout.write(f"{acc.name}: {mask_token(entry['value'])}, expires in {left}s "
                          f"(source: {source}, API {acc.effective_api_base_url})")
