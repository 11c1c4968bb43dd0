"""Benchmark 2: a campaign through Redis and Celery workers to the sandbox.

What it measures, in one run on one machine:

1. The sandbox's capacity: a plain loop of template sends (one ``requests.Session``, no queue,
   no database) from this process to the sandbox, which runs in its own process. It is bound
   by the client's CPU (``requests`` costs ~0.8 ms a call), so the same loop with a minimal
   ``http.client`` connection is printed too (the sandbox's ceiling for one serial caller).
2. The campaign: ``start_campaign`` (one row per recipient) until the campaign is done, through
   the Redis broker and ``--workers`` Celery worker processes (``-P threads -c --concurrency``)
   writing status rows to the database, to the same sandbox process.

The rows are created and the lanes enqueued inside the timed span; CPU seconds per message of
the sandbox, the workers and this process are printed (Linux). Target: campaign rate >= 80%
of the capacity, zero duplicates (a recipient delivered twice)
and zero lost (a recipient never delivered). The sandbox also reports how many resends it
dropped by ``client_msg_id`` (sends of a message whose first answer was lost); 0 in a clean run.

Needs PostgreSQL and Redis (the workers are separate processes)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wechat_bench_outbound \\
    REDIS_URL=redis://127.0.0.1:6379/13 CELERY_BROKER_URL=redis://127.0.0.1:6379/14 \\
    python bench/campaign_bench.py [--recipients 10000] [--workers 2] [--concurrency 4]
"""
import argparse
import collections
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

APP_ID, SECRET = "wxcampbench001", "campaign-bench-secret"
LOOP_APP_ID = "wxcampbench002"  # the plain loop's own app, so its sends are not counted as the campaign's
CONTENT = "{{first.DATA}}\nOrder: {{order.DATA}}\n{{remark.DATA}}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sandbox():
    """The sandbox in its own process (``python -m wechat_app.sandbox``); wait until it answers."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "wechat_app.sandbox", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(url + "/_sandbox", timeout=1)
            return proc, url
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    sys.exit("the sandbox did not start")


def cpu_seconds(pid):
    """User + system CPU seconds of a process and its reaped children (Linux /proc; else 0)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def control(url, path, body=None):
    response = requests.post(f"{url}/_sandbox{path}", json=body or {}, timeout=60)
    response.raise_for_status()
    return response.json()


def plain_loop_capacity(url, openids, n, key="loop"):
    """Template sends per second one plain client loop gets from the sandbox."""
    session = requests.Session()
    token = session.post(f"{url}/cgi-bin/stable_token",
                         json={"grant_type": "client_credential", "appid": LOOP_APP_ID, "secret": SECRET}
                         ).json()["access_token"]
    send = f"{url}/cgi-bin/message/template/send"
    data = {"first": {"value": "hello"}, "order": {"value": "-"}, "remark": {"value": "!"}}
    started = time.perf_counter()
    for i in range(n):
        body = {"touser": openids[i % len(openids)], "template_id": "tpl_bench", "data": data,
                "client_msg_id": f"{key}:{i}"}
        assert session.post(send, params={"access_token": token}, json=body).json()["errcode"] == 0
    return n / (time.perf_counter() - started)


def raw_http_capacity(url, openids, n):
    """The same sends from a minimal keep-alive ``http.client`` loop: the sandbox's ceiling for
    one serial caller, without the cost of ``requests`` on the client side."""
    import http.client
    import json
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    token = requests.post(f"{url}/cgi-bin/stable_token", json={"grant_type": "client_credential",
                                                             "appid": LOOP_APP_ID, "secret": SECRET}
                          ).json()["access_token"]
    data = {"first": {"value": "hello"}, "order": {"value": "-"}, "remark": {"value": "!"}}
    started = time.perf_counter()
    for i in range(n):
        body = json.dumps({"touser": openids[i % len(openids)], "template_id": "tpl_bench", "data": data,
                           "client_msg_id": f"raw:{i}"}).encode()
        conn.request("POST", f"/cgi-bin/message/template/send?access_token={token}", body,
                     {"Content-Type": "application/json"})
        assert json.loads(conn.getresponse().read())["errcode"] == 0
    conn.close()
    return n / (time.perf_counter() - started)


def wait_for_workers(app, n, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(app.control.ping(timeout=0.5) or []) >= n:
            return
    sys.exit("the workers did not come up")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4, help="threads per worker")
    parser.add_argument("--loop", type=int, default=3000, help="requests of the plain loop")
    args = parser.parse_args()
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        if not os.environ.get(name):
            sys.exit(f"Set {name} (see the module docstring).")

    import django

    django.setup()
    from django.conf import settings
    from django.core.cache import cache
    from django.core.management import call_command
    from django.test import override_settings

    from project.celery import app
    from wechat_app.models import Account, Campaign, OutboundMessage
    from wechat_app.services import outbound

    call_command("migrate", verbosity=0)
    cache.clear()
    app.control.purge()
    Campaign.objects.filter(account__name="campaign-bench").delete()
    Account.objects.filter(name="campaign-bench").delete()

    sandbox, url = start_sandbox()
    workers = []
    try:
        control(url, "/configure", {"record_calls": False})
        for app_id in (APP_ID, LOOP_APP_ID):
            control(url, "/apps", {"app_id": app_id, "secret": SECRET})
            control(url, "/templates", {"app_id": app_id, "title": "Bench", "content": CONTENT,
                                        "template_id": "tpl_bench"})
        openids = control(url, "/followers", {"app_id": APP_ID, "count": args.recipients})["openids"]
        if len(openids) < args.recipients:  # the control API returns at most 1000 openids
            openids = [f"o{APP_ID[-6:]}{i:010d}" for i in range(args.recipients)]
        loop_openids = control(url, "/followers", {"app_id": LOOP_APP_ID, "count": 1000})["openids"]
        plain_loop_capacity(url, loop_openids, 200, key="warm-up")
        capacity = plain_loop_capacity(url, loop_openids, args.loop)
        ceiling = raw_http_capacity(url, loop_openids, args.loop)

        account = Account.objects.create(name="campaign-bench", app_id=APP_ID, app_secret=SECRET, token="bench1",
                                         api_base_url=url)
        outbound.sync_templates(account)
        env = dict(os.environ, WECHAT_LOG_LEVEL="WARNING")
        workers = [subprocess.Popen([sys.executable, "-m", "celery", "-A", "project", "worker", "-P", "threads",
                                     "-c", str(args.concurrency), "-n", f"bench{i}@%h", "--loglevel", "WARNING",
                                     "--without-gossip", "--without-mingle", "--without-heartbeat"],
                                    cwd=ROOT, env=env) for i in range(args.workers)]
        wait_for_workers(app, args.workers)
        lanes = args.workers * args.concurrency
        with override_settings(WECHAT_APP={**settings.WECHAT_APP, "CAMPAIGN_CONCURRENCY": lanes}):
            campaign = outbound.create_campaign(account, "bench", "tpl_bench",
                                                {"first": "hello", "order": "-", "remark": "!"},
                                                openids=openids, rate_limit=1_000_000)
            pids = {"sandbox": [sandbox.pid], "workers": [w.pid for w in workers], "this process": [os.getpid()]}
            cpu_before = {k: sum(cpu_seconds(p) for p in v) for k, v in pids.items()}
            started = time.perf_counter()
            outbound.start_campaign(campaign)
            queued = time.perf_counter() - started
            while Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.DONE).count() == 0:
                if time.perf_counter() - started > 900:
                    break
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            cpu = {k: sum(cpu_seconds(p) for p in v) - cpu_before[k] for k, v in pids.items()}
        counts = Campaign.objects.get(pk=campaign.pk).counts()
        delivered = requests.get(f"{url}/_sandbox/messages", params={"app_id": APP_ID}, timeout=60).json()["messages"]
        summary = requests.get(f"{url}/_sandbox", timeout=10).json()
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(timeout=60)
        sandbox.terminate()
        sandbox.wait(timeout=10)
    per_user = collections.Counter(m["touser"] for m in delivered)
    duplicates = sum(n - 1 for n in per_user.values() if n > 1)
    lost = len(set(openids) - set(per_user))
    rate = args.recipients / elapsed
    at = sorted(m["at"] for m in delivered)
    print(f"recipients: {args.recipients}, workers: {args.workers} x {args.concurrency} threads, lanes: {lanes}, "
          f"database: {django.db.connection.vendor}, cores: {os.cpu_count()}")
    print(f"sandbox capacity (plain loop of {args.loop} requests, sandbox in its own process): {capacity:.0f} msg/s")
    print(f"sandbox ceiling for one serial caller (plain http.client loop): {ceiling:.0f} msg/s")
    print(f"campaign, start_campaign to done: {rate:.0f} msg/s in {elapsed:.2f}s "
          f"= {100 * rate / capacity:.0f}% of capacity (target >= 80%), {100 * rate / ceiling:.0f}% of the ceiling")
    if len(at) > 1:
        send_rate = (len(at) - 1) / (at[-1] - at[0])
        print(f"  of which creating {args.recipients} rows and enqueueing: {queued:.2f}s; "
              f"first to last delivery: {send_rate:.0f} msg/s")
    print("CPU per message (ms): " + ", ".join(f"{k} {1000 * v / args.recipients:.2f}" for k, v in cpu.items())
          + " (PostgreSQL and Redis not counted)")
    print(f"rows by status: {counts}")
    print(f"duplicates: {duplicates}, lost: {lost} (target: 0 and 0); "
          f"resends dropped by client_msg_id: {summary['resends_dropped']}")
    OutboundMessage.objects.filter(account=account).delete()


if __name__ == "__main__":
    main()
