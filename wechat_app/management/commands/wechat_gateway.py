"""The agent gateway from the command line: bot logins, the poller, the agent inbox, typing.

Usage (each group is a module of ``wechat_app/management/gateway/``)::

    python manage.py wechat_gateway --help
    python manage.py wechat_gateway <group> [<action>] [options]
"""
from django.core.management.base import BaseCommand, CommandError

from ..gateway import groups


class Command(BaseCommand):
    help = "Operate the agent gateway: bot accounts, QR login, polling, the agent inbox and typing."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="group", required=True, parser_class=type(parser))
        for module in groups():
            module.register(sub)

    def handle(self, *args, handler=None, **options):
        if handler is None:
            raise CommandError("Name a group: wechat_gateway --help lists them.")
        return handler(self, options)
