"""``wechat_gateway run``: the polling process for all iLink bot accounts (``poll run``'s short form)."""
from . import poll


def register(subparsers):
    parser = subparsers.add_parser("run", help="Run the iLink poller (the same as 'poll run').")
    parser.add_argument("--refresh", type=float, default=2.0, help="Seconds between re-reading which bots to poll.")
    parser.set_defaults(handler=poll.handle_run)
