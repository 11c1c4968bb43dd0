"""``wechat_gateway login start|status|watch|cancel``: log an iLink bot in by QR code.

``start`` prints the session id and the QR code (its content, and with ``--qr`` the code drawn in
the terminal) to scan with WeChat; ``watch`` prints each status change until the login is
confirmed (the account then polls), expired or cancelled.
"""
import time

from django.core.management.base import CommandError

from ...services import ilink as service
from ._ilink import login_by_session, login_dict, write_json


def register(subparsers):
    parser = subparsers.add_parser("login", help="QR login of a personal WeChat bot (iLink).")
    actions = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
    start = actions.add_parser("start", help="Start a QR login for an account (new or expired).")
    start.add_argument("--account", required=True, help="The account's name (created when the login completes).")
    start.add_argument("--api-base-url", help="The iLink API base URL (default: ILINK_API_BASE_URL).")
    start.add_argument("--qr", action="store_true", help="Draw the QR code in the terminal.")
    start.add_argument("--json", action="store_true")
    start.set_defaults(handler=handle_start)
    for name, func, text in (("status", handle_status, "Ask for the login's status once (a long poll)."),
                             ("watch", handle_watch, "Print status changes until confirmed or expired."),
                             ("cancel", handle_cancel, "Cancel the login.")):
        action = actions.add_parser(name, help=text)
        action.add_argument("--session-id", required=True)
        action.add_argument("--json", action="store_true")
        if name in ("status", "watch"):
            action.add_argument("--wait", type=float, default=None, help="Seconds of each long poll.")
        if name == "watch":
            action.add_argument("--timeout", type=float, default=None,
                                help="Give up after this many seconds (default: until the login expires).")
        action.set_defaults(handler=func)


def _show(command, login, options):
    if options.get("json"):
        write_json(command, login_dict(login))
    else:
        command.stdout.write(f"{login.account_name}: {login.status}" + (f" ({login.error})" if login.error else ""))


def handle_start(command, options):
    try:
        login = service.start_login(options["account"], api_base_url=options.get("api_base_url"))
    except service.ILinkError as err:
        raise CommandError(str(err)) from None
    if options["json"]:
        write_json(command, login_dict(login))
        return
    command.stdout.write(f"session_id: {login.session_id}")
    command.stdout.write(f"qrcode_content: {login.qrcode_content}")
    command.stdout.write(f"expires_at: {login.expires_at.isoformat()}")
    if options["qr"]:
        import io

        import segno

        out = io.StringIO()
        segno.make(login.qrcode_content, error="m").terminal(out=out, compact=True)
        command.stdout.write(out.getvalue())
    command.stdout.write(f"Scan it with WeChat, then: wechat_gateway login watch --session-id {login.session_id}")


def handle_status(command, options):
    login = login_by_session(options["session_id"])
    try:
        login = service.login_status(login, wait=options.get("wait"))
    except service.ILinkError as err:
        raise CommandError(str(err)) from None
    _show(command, login, options)


def handle_watch(command, options):
    login = login_by_session(options["session_id"])
    deadline = time.monotonic() + options["timeout"] if options.get("timeout") else None
    last = None
    while True:
        if login.status != last:
            _show(command, login, options)
            last = login.status
        if login.status not in login.OPEN:
            break
        if deadline is not None and time.monotonic() >= deadline:
            raise CommandError(f"Still {login.status} after {options['timeout']:g} s.")
        try:
            login = service.login_status(login, wait=options.get("wait"))
        except service.ILinkError as err:
            command.stderr.write(str(err))
            time.sleep(1)
    if login.status != "confirmed":
        raise CommandError(f"The login ended {login.status}.")


def handle_cancel(command, options):
    _show(command, service.cancel_login(login_by_session(options["session_id"])), options)
