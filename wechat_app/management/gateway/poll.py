"""``wechat_gateway poll start|stop|status|run|run-once``: the iLink poller.

``run`` is the polling process itself (one for all bot accounts; stop it with Ctrl-C or SIGTERM);
``start``/``stop`` switch polling of bots on or off (all, or ``--account``), which a running
poller follows within seconds; ``run-once`` polls each bot once in this process.
"""
import signal

from ...services import ilink as service
from ._ilink import accounts_named, write_json


def register(subparsers):
    parser = subparsers.add_parser("poll", help="The iLink poller (personal WeChat bots).")
    actions = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
    for name, func, text in (("start", handle_start, "Enable polling of the bots."),
                             ("stop", handle_stop, "Disable polling of the bots."),
                             ("status", handle_status, "The poller and each bot's polling state."),
                             ("run", handle_run, "Run the poller (one process for all bots)."),
                             ("run-once", handle_run_once, "Poll each bot once, here.")):
        action = actions.add_parser(name, help=text)
        if name != "run":
            action.add_argument("--account", action="append", help="Only this account (repeatable).")
            action.add_argument("--json", action="store_true")
        else:
            action.add_argument("--refresh", type=float, default=2.0,
                                help="Seconds between re-reading which bots to poll.")
        action.set_defaults(handler=func)


def _switch(command, options, enabled):
    names = service.set_polling(enabled, accounts_named(options.get("account")))
    if options["json"]:
        write_json(command, {"polling_enabled": enabled, "accounts": names})
    else:
        command.stdout.write(f"Polling {'enabled' if enabled else 'disabled'}: {', '.join(names) or 'no bots'}")


def handle_start(command, options):
    _switch(command, options, True)


def handle_stop(command, options):
    _switch(command, options, False)


def handle_status(command, options):
    status = service.poll_status(accounts_named(options.get("account")))
    if options["json"]:
        write_json(command, status)
        return
    poller = status["poller"]
    command.stdout.write(f"poller: {'running (pid %s)' % poller['pid'] if poller['running'] else 'not running'}")
    for bot in status["bots"]:
        command.stdout.write(f"{bot['account']}: {bot['status']}, polling {'on' if bot['polling_enabled'] else 'off'}, "
                             f"last poll {bot['last_poll_at'] or '-'}, {bot['messages_received']} messages"
                             + (f", last error: {bot['last_error']}" if bot["last_error"] else ""))


def handle_run(command, options):
    poller = service.Poller(refresh=options["refresh"], stdout=command.stdout)
    previous = signal.signal(signal.SIGTERM, lambda *args: poller.stop())
    try:
        poller.run()
    except KeyboardInterrupt:
        poller.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)


def handle_run_once(command, options):
    results = service.run_once(accounts_named(options.get("account")))
    if options["json"]:
        write_json(command, results)
        return
    if not results:
        command.stdout.write("No bot to poll.")
    for name, result in results.items():
        command.stdout.write(f"{name}: {result['received']} received, {result['stored']} stored"
                             + (", session expired" if result["expired"] else "")
                             + (f", error: {result['error']}" if result["error"] and not result["expired"] else ""))
