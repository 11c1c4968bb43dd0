"""Benchmark: what a send through the REST API costs, and what a replayed Idempotency-Key costs.

In one process: a throw-away test database (the configured engine: SQLite by default, or
PostgreSQL with DATABASE_URL), the sandbox on an ephemeral port, Celery eager (each send is
delivered to the sandbox within its request, so the figure includes the WeChat call), and
Django's test client (no HTTP server in front). Printed: milliseconds per request (mean, p50, p95)
for

1. ``POST /outbound-messages/template/`` without a key (validate, insert, deliver, answer);
2. the same with a new ``Idempotency-Key`` each time (plus the fingerprint and the stored answer);
3. the same key again (a replay: one indexed lookup, no send).

Usage::

    python bench/api_send_bench.py [--requests 300]
"""
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

APP_ID, SECRET = "wxapibench00001", "api-bench-secret-0001"


def figures(label, durations):
    ms = sorted(d * 1000 for d in durations)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    print(f"{label:<44} n={len(ms):<5} mean {statistics.fmean(ms):7.2f} ms   p50 {statistics.median(ms):7.2f} ms"
          f"   p95 {p95:7.2f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from project.celery import app
    from wechat_app.client.hosts import LOOPBACK_SANDBOX_BASE_URLS, WECHAT_API_BASE_URLS
    from wechat_app.conf import app_settings
    from wechat_app.models import Account, OutboundMessage
    from wechat_app.sandbox.testing import running_sandbox
    from wechat_app.services import outbound

    setup_test_environment()
    settings.WECHAT_APP = {**settings.WECHAT_APP,
                           "ALLOWED_API_BASE_URLS": [*WECHAT_API_BASE_URLS, *LOOPBACK_SANDBOX_BASE_URLS]}
    app_settings.reload()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    app.conf.task_always_eager = True
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        with running_sandbox() as sandbox:
            sandbox.state.configure(record_calls=False)
            sandbox.state.add_app(APP_ID, SECRET)
            (fan,) = sandbox.state.add_followers(APP_ID, count=1)
            sandbox.state.add_template(APP_ID, "Shipped", "{{first.DATA}} {{order.DATA}}", template_id="tpl-bench")
            account = Account.objects.create(name="bench", app_id=APP_ID, app_secret=SECRET, token="benchtoken1",
                                             api_base_url=sandbox.url)
            outbound.sync_templates(account)
            client = Client()
            client.force_login(get_user_model().objects.create_superuser("bench", "bench@example.com", None))
            body = json.dumps({"account": "bench", "to_user": fan, "template_id": "tpl-bench",
                               "data": {"first": "Shipped", "order": "1001"}})
            url = "/wechat/api/outbound-messages/template/"

            def timed(**headers):
                start = time.perf_counter()
                resp = client.post(url, body, content_type="application/json", **headers)
                elapsed = time.perf_counter() - start
                assert resp.status_code in (201, 202), resp.content
                return elapsed, resp

            for i in range(20):  # warm up: token, caches, code paths
                timed(HTTP_IDEMPOTENCY_KEY=f"warm-{i}")
            plain = [timed()[0] for _ in range(args.requests)]
            keyed = [timed(HTTP_IDEMPOTENCY_KEY=f"key-{i}")[0] for i in range(args.requests)]
            replays = []
            for i in range(args.requests):
                elapsed, resp = timed(HTTP_IDEMPOTENCY_KEY=f"key-{i}")
                assert resp["Idempotent-Replayed"] == "true"
                replays.append(elapsed)
            sent = len(sandbox.state.list_messages(APP_ID))
            print(f"database: {connection.vendor}; sandbox received {sent} messages for "
                  f"{OutboundMessage.objects.count()} rows ({20 + 2 * args.requests} expected: replays send nothing)")
            figures("send, no key", plain)
            figures("send, new Idempotency-Key", keyed)
            figures("replay of a key (nothing sent)", replays)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
