"""Show or drain the spool: message-log rows kept on disk while the database was down.

Usage::

    python manage.py wechat_spool status
    python manage.py wechat_spool drain

Draining is safe at any time and from several processes (one drain runs at a time per
directory; rows already in the database are skipped).
"""
from django.core.management.base import BaseCommand, CommandError

from ...services import spool


class Command(BaseCommand):
    help = "Show or drain the message-log spool (rows kept on disk while the database was down)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "drain"])

    def handle(self, *args, action, **options):
        if action == "status":
            paths = spool.files()
            self.stdout.write(f"{spool.directory()}: {len(paths)} file(s), {spool.size()} bytes waiting")
            return
        try:
            written = spool.drain()
        except spool.DATABASE_DOWN as err:
            raise CommandError(f"The database is unreachable; the spool is kept for the next drain ({err}).") \
                from None
        self.stdout.write(f"Drained {written} row(s) from {spool.directory()}.")
