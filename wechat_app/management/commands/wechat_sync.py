"""Mirror an account's template messages or followers from WeChat.

Usage::

    python manage.py wechat_sync templates --account NAME    # then: wechat_push template TEMPLATE_ID ...
    python manage.py wechat_sync followers --account NAME

Runs here, in this process (no worker needed), through the same services as the admin's sync.
Templates gone from WeChat are kept but marked inactive; followers the listing no longer
includes are marked unsubscribed.
"""
from django.core.management.base import BaseCommand, CommandError

from ...client import WeChatAPIError
from ...models import Account, Template
from ...services import outbound


class Command(BaseCommand):
    help = "Fetch an account's templates or followers from WeChat into the database."

    def add_arguments(self, parser):
        parser.add_argument("what", choices=["templates", "followers"])
        parser.add_argument("--account", required=True, help="Account name.")

    def handle(self, *args, what, account, **options):
        try:
            acc = Account.objects.get(name=account)
        except Account.DoesNotExist:
            names = ", ".join(Account.objects.order_by("name").values_list("name", flat=True)) or "none"
            raise CommandError(f"No account named {account!r} (known: {names}).") from None
        try:
            if what == "templates":
                self._templates(acc)
            else:
                self._followers(acc)
        except WeChatAPIError as err:
            raise CommandError(f"WeChat refused: {err}. Nothing more was synced.") from err

    def _templates(self, account):
        result = outbound.sync_templates(account)
        line = f"Synced {result['synced']} template(s) of {account.name}"
        if result["deactivated"]:
            line += f"; {result['deactivated']} no longer on WeChat (kept, inactive)"
        self.stdout.write(self.style.SUCCESS(line + "."))
        for template in Template.objects.filter(account=account, active=True).order_by("title"):
            keywords = " ".join(f"--data {name}=..." for name in template.keywords)
            self.stdout.write(f"  {template.template_id}  {template.title}  {keywords}".rstrip())

    def _followers(self, account):
        def progress(done, total):
            self.stderr.write(f"  {done}/{total or '?'} followers", ending="\r")

        result = outbound.sync_followers_tracked(account, progress=progress)
        self.stderr.write("")
        self.stdout.write(self.style.SUCCESS(
            f"Synced {result['synced']} follower(s) of {account.name} ({result['total']} on WeChat); "
            f"{result['unsubscribed']} marked unsubscribed."))
