"""Make or read WeChat short keys (/cgi-bin/shorturl/genshorten, fetchshorten).

Usage::

    python manage.py wechat_shorturl gen "https://shop.example.com/p/1?from=poster" --account NAME [--expire 86400]
    python manage.py wechat_shorturl fetch SHORT_KEY --account NAME

``gen`` prints the short key (and keeps it as a short link, listed in the admin); ``fetch``
prints what a key stands for. Exit codes: 0 done, 1 bad arguments, 4 WeChat refused, 5 WeChat
could not be reached.
"""
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ...client import WeChatAPIError, WeChatTransportError
from ...models import Account
from ...models.web import QR_MAX_EXPIRE
from ...services import qrcodes


class Command(BaseCommand):
    help = "Make (gen) or read (fetch) a WeChat short key."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["gen", "fetch"])
        parser.add_argument("value", help="gen: the long data (a URL...); fetch: the short key.")
        parser.add_argument("--account", required=True, help="Account name.")
        parser.add_argument("--expire", type=int, default=QR_MAX_EXPIRE,
                            help=f"gen: seconds the key lives (1 to {QR_MAX_EXPIRE}; default 30 days).")

    def handle(self, *args, action, value, account, expire, **options):
        try:
            acc = Account.objects.get(name=account)
        except Account.DoesNotExist:
            names = ", ".join(Account.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"No account named {account!r} (known: {names}).") from None
        try:
            if action == "gen":
                link = qrcodes.shorten(acc, value, expire)
                self.stdout.write(link.short_key)
            else:
                answer = qrcodes.expand(acc, value)
                self.stdout.write(f"{answer.get('long_data', '')}\n(created {answer.get('create_time')}, "
                                  f"lives {answer.get('expire_seconds')} s)")
        except ValidationError as err:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in err.message_dict.items())) from None
        except WeChatTransportError as err:
            raise CommandError(f"WeChat could not be reached: {err}", returncode=5) from None
        except WeChatAPIError as err:
            raise CommandError(f"WeChat refused: {err}", returncode=4) from None
