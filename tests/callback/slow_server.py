"""A second, separate callback server process for the cross-process retry test.

Run as ``python -m tests.callback.slow_server`` with DATABASE_URL/REDIS_URL of the test run. Its
rules are a stand-in that sleeps (so a retry arrives while it runs), answers a reply that differs
on every run, and counts its runs in the shared cache. Prints the port it listens on.
"""
import os
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django  # noqa: E402

django.setup()

from django.core.cache import cache  # noqa: E402

from tests.callback.conftest import FakeResult, FakeRule  # noqa: E402
from tests.callback.wsgi_server import serve_forever  # noqa: E402
from wechat_app.protocol import TextReply  # noqa: E402
from wechat_app.services import inbound  # noqa: E402

RUNS_KEY = "test:slow-server:runs"


def slow_rules(account, message, **options):
    if not cache.add(RUNS_KEY, 1):
        cache.incr(RUNS_KEY)
    time.sleep(float(os.environ.get("SLOW_SECONDS", "1.5")))
    return FakeResult(FakeRule("slow"), TextReply(content=f"pid {os.getpid()} at {time.perf_counter_ns()}"), True)


inbound.run_rules = slow_rules
# The stand-in is what Python rules are (slow, a different reply each run): the callback must know
# it runs code, so that the delivery takes the cache claim and the rules run once across processes
# (stored rules alone may answer without a claim: docs/callback-performance.md).
inbound._runs_code = lambda account_name: True


if __name__ == "__main__":
    serve_forever()
