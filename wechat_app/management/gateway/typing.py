"""``wechat_gateway typing send|cancel``: show or hide the typing indicator to a user (the seed's
``typing:send`` / ``typing:cancel``); the REST API's ``agent/typing/``."""
from django.core.management import CommandError

from ...models import Account
from ...services import agent


def register(subparsers):
    parser = subparsers.add_parser("typing", help="Show or hide the typing indicator to a user.")
    actions = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
    for name, help_text in (("send", "Show 'typing…'."), ("cancel", "Hide it.")):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("--account-id", required=True, help="The account's name.")
        action.add_argument("--to-user-id", required=True)
        action.add_argument("--context-token", default="")
        action.set_defaults(handler=handle, typing_on=name == "send")


def handle(command, options):
    account = Account.objects.filter(name=options["account_id"]).first()
    if account is None:
        raise CommandError(f"No account named {options['account_id']!r}.")
    try:
        agent.typing(account, options["to_user_id"], on=options["typing_on"], context_token=options["context_token"])
    except agent.AgentError as err:
        raise CommandError(str(err)) from None
    command.stdout.write(f"typing {'on' if options['typing_on'] else 'off'} for {options['to_user_id']}")
