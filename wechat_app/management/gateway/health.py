"""``wechat_gateway health``: is the gateway's database and cache reachable, which channels exist."""
import json

from django.core.cache import cache
from django.db import connection

from ... import channels


def register(subparsers):
    parser = subparsers.add_parser("health", help="Check the database and the cache; list the channels.")
    parser.add_argument("--json", action="store_true", help="Print JSON.")
    parser.set_defaults(handler=handle)


def handle(command, options):
    report = {"database": _check(lambda: connection.ensure_connection()),
              "cache": _check(lambda: cache.get("wechat-gateway-health")),
              "channels": sorted(channels.registered())}
    if options["json"]:
        command.stdout.write(json.dumps(report))
    else:
        for key, value in report.items():
            command.stdout.write(f"{key}: {', '.join(value) if isinstance(value, list) else value}")


def _check(probe) -> str:
    try:
        probe()
    except Exception as err:  # the report says what failed; it is a health check
        return f"error: {type(err).__name__}"
    return "ok"
