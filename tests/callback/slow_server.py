"""A second, separate callback server process for the cross-process retry test.

Run as ``python -m tests.callback.slow_server`` with DATABASE_URL/REDIS_URL of the test run. Its
rules are a stand-in that sleeps (so a retry arrives while it runs), answers a reply that differs
on every run, and counts its runs in the shared cache. Prints the port it listens on.
"""
import os
import sys
import time
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django  # noqa: E402

django.setup()

from django.core.cache import cache  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

from tests.callback.conftest import FakeResult, FakeRule  # noqa: E402
from wechat_app.protocol import TextReply  # noqa: E402
from wechat_app.services import inbound  # noqa: E402

RUNS_KEY = "test:slow-server:runs"


def slow_rules(account, message, **options):
    if not cache.add(RUNS_KEY, 1):
        cache.incr(RUNS_KEY)
    time.sleep(float(os.environ.get("SLOW_SECONDS", "1.5")))
    return FakeResult(FakeRule("slow"), TextReply(content=f"pid {os.getpid()} at {time.perf_counter_ns()}"), True)


inbound.run_rules = slow_rules


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


if __name__ == "__main__":
    httpd = make_server("127.0.0.1", 0, get_wsgi_application(), server_class=Server, handler_class=QuietHandler)
    print(httpd.server_port, flush=True)
    sys.stdout.close()
    httpd.serve_forever()
