"""``wechat_gateway accounts``: the accounts, how each hands conversations to an agent, and, for
iLink bots, their session and polling state."""
from ...models import Account
from ._ilink import write_json


def register(subparsers):
    parser = subparsers.add_parser("accounts", help="List the accounts (iLink bots with their status).")
    parser.add_argument("--channel", choices=[c for c, _ in Account.Channel.choices], help="Only this kind.")
    parser.add_argument("--json", action="store_true", help="Print JSON.")
    parser.set_defaults(handler=handle)


def handle(command, options):
    qs = Account.objects.select_related("ilink_bot", "agent_settings").order_by("name")
    if options["channel"]:
        qs = qs.filter(channel=options["channel"])
    rows = []
    for account in qs:
        bot = getattr(account, "ilink_bot", None) if account.channel == Account.Channel.ILINK else None
        agent = getattr(account, "agent_settings", None)
        rows.append({"name": account.name, "channel": account.channel, "enabled": account.enabled,
                     "agent_mode": agent.mode if agent else "off", "agent_scope": agent.scope if agent else None,
                     "bot_id": bot.bot_id if bot else None, "status": bot.status if bot else None,
                     "polling_enabled": bot.polling_enabled if bot else None,
                     "last_poll_at": bot.last_poll_at if bot else None})
    if options["json"]:
        write_json(command, rows)
        return
    if not rows:
        command.stdout.write("No accounts.")
    for row in rows:
        extra = f"  agent={row['agent_mode']}" + (f" ({row['agent_scope']})" if row["agent_mode"] != "off" else "")
        if row["channel"] == "ilink":
            extra += (f"  bot={row['bot_id'] or '-'} status={row['status'] or 'not logged in'}"
                      f" polling={'on' if row['polling_enabled'] else 'off'}")
        command.stdout.write(f"{row['name']}  [{row['channel']}]{'' if row['enabled'] else ' (disabled)'}{extra}")
