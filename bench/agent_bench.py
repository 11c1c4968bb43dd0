"""Benchmark: the agent gateway's inbox throughput and callback delivery latency.

In one process: a throw-away database (SQLite in a temporary file by default, or PostgreSQL with
DATABASE_URL), the sandbox on an ephemeral port, the app served over real HTTP by a threaded WSGI
server, no Celery broker (tasks run in this process: the callback's delivery in a thread, a
customer-service message within the /send request that queues it). Printed:

1. **inbox**: ``--events`` events waiting in an inbox account; ``--workers`` competing workers
   (``sandbox.agent.inbox_worker``: claim-next, /send an echo, complete; all over HTTP) drain it.
   Events per second, and a check that each event was claimed exactly once and each echo reached
   the sandbox.
2. **callback**: ``--messages`` user messages posted to the Official Account callback (signed, as
   WeChat would) on an account in callback mode whose agent is ``sandbox.agent.FakeAgent``; the
   delivery latency (from posting the message to the agent holding the event) p50/p99, and the
   callback's own answer time (WeChat's wait) p50/p99.
3. **ilink**: an iLink bot (QR login in the sandbox) in inbox mode; ``--ilink-events`` user
   messages injected in the sandbox are polled in (``poll_once``: log, hand-off with the context
   token), then ``--workers`` inbox workers drain them, each echo going out with ``sendmessage``.
   Messages polled in per second, events per second drained, and checks (claimed once each, every
   echo in the sandbox with its conversation's context token).

Usage::

    python bench/agent_bench.py [--events 400] [--workers 4] [--messages 200] [--ilink-events 200]
"""
import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

APP_ID, SECRET = "wxagentbench0001", "agent-bench-secret-01"
SHARED = "bench-shared-secret"


class _Server(WSGIServer):
    daemon_threads = True
    request_queue_size = 256

    def process_request(self, request, client_address):  # one thread per connection
        thread = threading.Thread(target=self._handle, args=(request, client_address), daemon=True)
        thread.start()

    def _handle(self, request, client_address):
        from django.db import connections

        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            connections.close_all()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--ilink-events", type=int, default=200)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection
    from django.test.utils import setup_test_environment

    from project.celery import app
    from tests.wechat_client import WeChatServer, message_xml
    from wechat_app.client.hosts import LOOPBACK_SANDBOX_BASE_URLS, WECHAT_API_BASE_URLS
    from wechat_app.conf import app_settings
    from wechat_app.models import Account, AgentEvent, AgentSettings, MessageLog
    from wechat_app.protocol import parse_message
    from wechat_app.sandbox.agent import FakeAgent, inbox_worker
    from wechat_app.sandbox.testing import running_sandbox
    from wechat_app.services import agent, api_tokens

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["*"]
    settings.DEBUG = False
    settings.WECHAT_APP = {**settings.WECHAT_APP, "API_THROTTLE_RATES": {"token": None, "user": None, "anon": None},
                           "ALLOWED_API_BASE_URLS": [*WECHAT_API_BASE_URLS, *LOOPBACK_SANDBOX_BASE_URLS],
                           "ILINK_LONG_POLL_SECONDS": 1}
    app_settings.reload()
    app.conf.task_always_eager = False
    app.conf.broker_url = None
    tmp = tempfile.TemporaryDirectory()
    if connection.vendor == "sqlite":  # threads need a database file, not one connection's memory
        connection.settings_dict.setdefault("TEST", {})["NAME"] = os.path.join(tmp.name, "bench.sqlite3")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    server = _Server(("127.0.0.1", 0), _QuietHandler)
    server.set_app(WSGIHandler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with running_sandbox() as sandbox:
            sandbox.state.configure(record_calls=False)
            sandbox.state.add_app(APP_ID, SECRET)
            fans = sandbox.state.add_followers(APP_ID, count=50)
            account = Account.objects.create(name="bench", app_id=APP_ID, app_secret=SECRET, token="benchtoken1",
                                             api_base_url=sandbox.url)
            root = get_user_model().objects.create_superuser("bench", "bench@example.com", None)
            _, key = api_tokens.create_token(root, "bench")
            api = f"{base}/wechat/api"
            # Message ids of this run (a shared Redis remembers earlier runs' deliveries for DEDUPE_TTL).
            run = random.randint(10**12, 9 * 10**12)

            # 1. the inbox
            AgentSettings.objects.create(account=account, mode="inbox")
            for i in range(args.events):
                xml = message_xml("text", user=fans[i % len(fans)], Content=f"question {i}", msg_id=run + 10**6 + i)
                agent.hand_off(account, parse_message(xml))
            handled = [[] for _ in range(args.workers)]

            def work(n):
                handled[n] = inbox_worker(api, key, f"worker-{n}", idle_rounds=2)

            threads = [threading.Thread(target=work, args=(n,)) for n in range(args.workers)]
            start = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - start
            ids = [event["id"] for events in handled for event in events]
            echoes = len(sandbox.state.list_messages(APP_ID))
            print(f"database: {connection.vendor}")
            print(f"inbox: {len(ids)} events drained by {args.workers} workers in {elapsed:.2f} s: "
                  f"{len(ids) / elapsed:.1f} events/s (claim + send + complete over HTTP); "
                  f"per worker {[len(h) for h in handled]}; claimed once each: {len(ids) == len(set(ids)) == args.events}; "
                  f"echoes in the sandbox: {echoes}")
            assert AgentEvent.objects.filter(status="completed").count() == args.events

            # 2. the callback
            with FakeAgent(SHARED, reply=None) as fake:
                AgentSettings.objects.filter(account=account).update(mode="callback", callback_url=fake.url,
                                                                     shared_secret=SHARED)
                from wechat_app.services.accounts import bump_accounts_version

                bump_accounts_version()
                wechat = WeChatServer(base, account.name, account.token, account.app_id)
                posted, answered = {}, []
                for i in range(args.messages):
                    text = f"callback {i}"
                    xml = message_xml("text", user=fans[i % len(fans)], Content=text, msg_id=run + i)
                    posted[text] = time.time()
                    t0 = time.perf_counter()
                    result = wechat.send(xml)
                    answered.append((time.perf_counter() - t0) * 1000)
                    assert result.response.status_code == 200
                if not fake.wait_for(events=args.messages, timeout=60):
                    from django.db.models import Count

                    raise SystemExit(f"only {len(fake.events)} events reached the agent: "
                                     f"{list(AgentEvent.objects.values_list('delivery', 'status').annotate(n=Count('id')))}; "
                                     f"log {list(MessageLog.objects.values_list('status', flat=True))}; "
                                     f"settings {list(AgentSettings.objects.values_list('mode', 'callback_url'))}")
                latencies = [(e["received_at"] - posted[e["event"]["text"]]) * 1000 for e in fake.events]
                print(f"callback: {len(fake.events)} events delivered to the fake agent (Bearer checked, "
                      f"{fake.refused} refused); delivery latency p50 {statistics.median(latencies):.1f} ms, "
                      f"p99 {pct(latencies, 0.99):.1f} ms; WeChat's wait for the answer p50 "
                      f"{statistics.median(answered):.1f} ms, p99 {pct(answered, 0.99):.1f} ms")

            # 3. an iLink bot's conversations through the inbox
            if args.ilink_events:
                ilink_leg(sandbox, api, key, args.ilink_events, args.workers)
    finally:
        server.shutdown()
        from django.db import connections

        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0)
        tmp.cleanup()


def ilink_leg(sandbox, api, key, count, workers):
    from django.conf import settings

    from wechat_app.conf import app_settings
    from wechat_app.models import AgentEvent, AgentSettings, ILinkBot
    from wechat_app.sandbox.agent import inbox_worker
    from wechat_app.sandbox.ilink import ilink_state, inject
    from wechat_app.services import ilink

    settings.WECHAT_APP = {**settings.WECHAT_APP, "ILINK_API_BASE_URL": sandbox.url,
                           "ILINK_CDN_BASE_URL": sandbox.url + "/c2c"}
    app_settings.reload()
    state = ilink_state(sandbox.state)
    state.config.update(longpoll_seconds=0.2, qr_poll_seconds=0.2)
    login = ilink.start_login("ilinkbench")
    _sandbox_post(sandbox, "/ilink/scan", {"qrcode": login.qrcode})  # the phone scans and confirms
    _sandbox_post(sandbox, "/ilink/confirm", {"qrcode": login.qrcode})
    while login.status != "confirmed":
        login = ilink.login_status(login, wait=0.2)
    bot = ILinkBot.objects.select_related("account").get(account=login.account)
    AgentSettings.objects.create(account=bot.account, mode="inbox")
    users = [f"user{n}@im.wechat" for n in range(20)]
    tokens = {}
    for i in range(count):
        message = inject(sandbox.state, bot.bot_id, users[i % len(users)], text=f"ilink {i}")
        tokens[users[i % len(users)]] = message["context_token"]
    start = time.perf_counter()
    while AgentEvent.objects.filter(account=bot.account).count() < count:
        bot = ILinkBot.objects.select_related("account", "account__agent_settings").get(pk=bot.pk)
        ilink.poll_once(bot)
    polled = time.perf_counter() - start
    handled = [[] for _ in range(workers)]

    def work(n):
        handled[n] = inbox_worker(api, key, f"ilink-worker-{n}", account=bot.account.name, idle_rounds=2)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    ids = [event["id"] for events in handled for event in events]
    with state.cond:
        echoes = [s for s in state.sent if s["bot_id"] == bot.bot_id]
    tokens_ok = all(s["context_token"] == tokens[s["to_user_id"]] for s in echoes)
    print(f"ilink: {count} messages polled in and handed over in {polled:.2f} s ({count / polled:.1f}/s); "
          f"{len(ids)} events drained by {workers} workers in {elapsed:.2f} s: {len(ids) / elapsed:.1f} events/s "
          f"(claim + sendmessage + complete over HTTP); claimed once each: {len(ids) == len(set(ids)) == count}; "
          f"echoes in the sandbox: {len(echoes)}, with their context tokens: {tokens_ok}")
    assert AgentEvent.objects.filter(account=bot.account, status="completed").count() == count


def _sandbox_post(sandbox, path, body):
    import json
    import urllib.request

    request = urllib.request.Request(f"{sandbox.url}/_sandbox{path}", method="POST", data=json.dumps(body).encode())
    urllib.request.urlopen(request, timeout=10).read()  # noqa: S310 - loopback


if __name__ == "__main__":
    main()
