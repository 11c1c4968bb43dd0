"""Benchmark 2: a 10,000-recipient campaign through Redis and 2 Celery workers to the sandbox.

Prints messages per second, the sandbox's own capacity measured in the same run by a plain loop
of requests (target: at least 80% of it), duplicates and lost messages (target: zero).

Needs PostgreSQL and Redis (the two workers are separate processes)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wechat_bench_outbound \
    REDIS_URL=redis://127.0.0.1:6379/13 CELERY_BROKER_URL=redis://127.0.0.1:6379/14 \
    python bench/campaign_bench.py [--recipients 10000] [--workers 2] [--concurrency 4]
"""
import argparse
import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

APP_ID, SECRET = "wxcampbench001", "campaign-bench-secret"


def plain_loop_capacity(sandbox, openids, template_id, n):
    """Messages per second one client loop gets from the sandbox (no queue, no database)."""
    session = requests.Session()
    token = sandbox.state.issue_stable(APP_ID, SECRET)["access_token"]
    url = f"{sandbox.url}/cgi-bin/message/template/send"
    started = time.perf_counter()
    for i in range(n):
        body = {"touser": openids[i % len(openids)], "template_id": template_id, "data": {"first": {"value": "x"}}}
        assert session.post(url, params={"access_token": token}, json=body).json()["errcode"] == 0
    return n / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        if not os.environ.get(name):
            sys.exit(f"Set {name} (see the module docstring).")

    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command

    from project.celery import app
    from wechat_app.models import Account, Campaign, OutboundMessage
    from wechat_app.sandbox import SandboxServer
    from wechat_app.services import outbound

    call_command("migrate", verbosity=0)
    cache.clear()
    app.control.purge()
    Campaign.objects.filter(account__name="campaign-bench").delete()
    Account.objects.filter(name="campaign-bench").delete()
    with SandboxServer() as sandbox:
        sandbox.state.configure(record_calls=False)
        sandbox.state.add_app(APP_ID, SECRET)
        openids = sandbox.state.add_followers(APP_ID, count=args.recipients)
        template_id = sandbox.state.add_template(APP_ID, "Bench", "{{first.DATA}}", template_id="tpl_bench")
        capacity = plain_loop_capacity(sandbox, openids, template_id, 2000)
        sandbox.state.reset(keep_apps=True)
        sandbox.state.configure(record_calls=False)
        sandbox.state.add_followers(APP_ID, openids)
        sandbox.state.add_template(APP_ID, "Bench", "{{first.DATA}}", template_id="tpl_bench")

        account = Account.objects.create(name="campaign-bench", app_id=APP_ID, app_secret=SECRET, token="bench1",
                                         api_base_url=sandbox.url)
        outbound.sync_templates(account)
        env = dict(os.environ, WECHAT_LOG_LEVEL="WARNING")
        workers = [subprocess.Popen([sys.executable, "-m", "celery", "-A", "project", "worker", "-P", "threads",
                                     "-c", str(args.concurrency), "-n", f"bench{i}@%h", "--loglevel", "WARNING",
                                     "--without-gossip", "--without-mingle", "--without-heartbeat"],
                                    cwd=ROOT, env=env) for i in range(args.workers)]
        try:
            time.sleep(4)  # workers up
            campaign = outbound.create_campaign(account, "bench", template_id, {"first": "hello"}, openids=openids,
                                                rate_limit=1_000_000)
            started = time.perf_counter()
            outbound.start_campaign(campaign)
            while Campaign.objects.get(pk=campaign.pk).status != Campaign.Status.DONE:
                if time.perf_counter() - started > 900:
                    break
                time.sleep(0.2)
            elapsed = time.perf_counter() - started
        finally:
            for w in workers:
                w.send_signal(signal.SIGTERM)
            for w in workers:
                w.wait(timeout=60)
        counts = Campaign.objects.get(pk=campaign.pk).counts()
        delivered = collections.Counter(m["touser"] for m in sandbox.state.list_messages(app_id=APP_ID))
    duplicates = sum(n - 1 for n in delivered.values() if n > 1)
    lost = len(set(openids) - set(delivered))
    rate = args.recipients / elapsed
    print(f"recipients: {args.recipients}, workers: {args.workers} x {args.concurrency} threads, "
          f"database: {django.db.connection.vendor}")
    print(f"sandbox capacity (plain request loop): {capacity:.0f} msg/s")
    print(f"campaign (fan-out + Redis + workers + DB status rows): {rate:.0f} msg/s in {elapsed:.1f}s "
          f"= {100 * rate / capacity:.0f}% of capacity (target >= 80%)")
    print(f"rows by status: {counts}")
    print(f"duplicates: {duplicates}, lost: {lost} (target: 0 and 0)")
    OutboundMessage.objects.filter(account=account).delete()


if __name__ == "__main__":
    main()
