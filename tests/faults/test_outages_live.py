"""Items 7, 8 and 9 for real: a callback server (gunicorn) on a Redis and a PostgreSQL of the test's
own, which are stopped, frozen and restarted while signed messages keep coming.

Every message must be answered 200 with its rule's reply within WeChat's 5 s, and be in the log
exactly once afterwards: in plain mode (every message takes the cache claim) and in safe mode
(encrypted messages of stored rules take the row claim: no cache call, the row's unique key
dedupes; docs/callback-performance.md). A rule changed while Redis is frozen (its cache announcement is lost)
must reach the server through the database revision within about RECHECK_INTERVAL (1 s here; 3 s allowed).
"""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

from tests.faults import servers
from wechat_app.protocol import MessageCrypto
from wechat_app.protocol.simulator import build_message, read_reply, sign_request

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "tok123"

pytestmark = [pytest.mark.live, pytest.mark.skipif(servers.available() is not None,
                                                    reason=servers.available() or "")]


AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx00000000000000aa"


@pytest.fixture(params=["plain", "safe"])
def stack(request):
    """(env, redis, postgres, spool dir, base URL, crypto) with the callback server running; the
    account's mode is the parameter (crypto: None in plain mode)."""
    mode = request.param
    redis, postgres = servers.RedisServer(), servers.PostgresServer()
    spool_dir = tempfile.mkdtemp(prefix="wechat-faults-spool-")
    server = None
    try:
        redis.start()
        postgres.init()
        postgres.start()
        env = dict(os.environ, PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="tests.faults.server_settings",
                   DATABASE_URL=postgres.url, REDIS_URL=redis.url, CELERY_BROKER_URL="memory://",
                   CONN_MAX_AGE="0", WECHAT_SPOOL_DIR=spool_dir, WECHAT_LOG_LEVEL="WARNING")
        subprocess.run([sys.executable, "-m", "tests.faults.live_setup", "setup", mode], cwd=ROOT, env=env, check=True)
        port = servers.free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "project.wsgi", "-w", "1", "-k", "gthread", "--threads", "8",
             "-b", f"127.0.0.1:{port}", "--log-level", "warning", "--timeout", "30"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(Path(spool_dir) / "server.log", "w"))
        servers.wait_for_port(port)
        crypto = MessageCrypto(TOKEN, AES_KEY, APP_ID) if mode == "safe" else None
        yield env, redis, postgres, spool_dir, f"http://127.0.0.1:{port}", crypto
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=15)
        redis.cleanup()
        postgres.cleanup()
        log = Path(spool_dir) / "server.log"
        if log.exists():
            print(log.read_text()[-5000:])  # shown when the test fails
        subprocess.run(["rm", "-rf", spool_dir], check=False)


class Sender:
    """Two threads posting signed messages (and one WeChat retry in five) until stopped."""

    def __init__(self, base_url, crypto=None):
        self.url = f"{base_url}/wechat/callback/shop/"
        self.crypto = crypto
        self.results = []  # (msg_id, text, sent at, seconds, status, reply content)
        self.ids = itertools.count(1)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run) for _ in range(2)]

    def post(self, session, msg_id, text):
        xml = build_message("text", [text], user="oUser000001", sp="gh_shop", msg_id=msg_id)
        params, body = sign_request(xml, TOKEN, crypto=self.crypto)
        sent = time.monotonic()
        try:
            response = session.post(f"{self.url}?{urlencode(params)}", data=body, timeout=10)
            status, content = response.status_code, response.content
        except requests.RequestException as err:
            status, content = repr(err), b""
        took = time.monotonic() - sent
        fields = read_reply(content, self.crypto)[0] if status == 200 else None
        with self.lock:
            self.results.append((msg_id, text, sent, took, status, fields and fields.get("Content")))

    def run(self):
        session = requests.Session()
        while not self.stop.is_set():
            msg_id = next(self.ids)
            text = "hi" if msg_id % 2 else f"other {msg_id}"
            self.post(session, msg_id, text)
            if msg_id % 5 == 0:
                self.post(session, msg_id, text)  # WeChat's retry of the same message
            time.sleep(0.03)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join()


def logged_ids(postgres) -> list[str]:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=postgres.port, user="postgres", dbname="postgres") as conn:
        return [row[0] for row in conn.execute("SELECT msg_id FROM wechat_app_messagelog")]


def test_redis_and_postgres_outages_lose_no_message(stack):
    env, redis, postgres, spool_dir, url, crypto = stack
    phases = {}
    with Sender(url, crypto) as sender:
        time.sleep(1.5)  # warm: the account and its rules are in the server's memory
        redis.stop()
        time.sleep(2)
        redis.start()  # back, empty: recovery without a restart of the server
        time.sleep(1.5)
        redis.freeze()  # frozen: connections hang until the socket timeout
        # A rule saved meanwhile: its announcement in the cache times out and is lost.
        subprocess.run([sys.executable, "-m", "tests.faults.live_setup", "change"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        phases["rule changed"] = time.monotonic()
        time.sleep(1)
        redis.thaw()
        time.sleep(1.5)
        postgres.stop()
        phases["database down"] = time.monotonic()
        time.sleep(2.5)
        postgres.start()
        time.sleep(2.5)  # the server writes its spool back once the database answers again
    results = sender.results

    assert len(results) > 100
    failures = [r for r in results if r[4] != 200 or r[3] >= 5]
    assert not failures, failures[:5]
    for msg_id, text, sent, _, _, content in results:
        if text != "hi":
            assert content == "what?", (msg_id, content)
        elif sent > phases["rule changed"] + 3:
            assert content == "hello v2", (msg_id, content)
        else:
            assert content in ("hello", "hello v2"), (msg_id, content)
    assert any(sent > phases["database down"] + 0.5 and sent < phases["database down"] + 2.5
               for _, _, sent, *_ in results), "messages were sent while the database was down"

    sent_ids = {str(msg_id) for msg_id, *_ in results}
    deadline = time.monotonic() + 15
    while True:
        logged = logged_ids(postgres)
        if set(logged) == sent_ids or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert len(logged) == len(set(logged)), "a message was logged twice"
    assert set(logged) == sent_ids, f"{len(sent_ids - set(logged))} messages missing from the log"
    assert not list(Path(spool_dir).glob("*.jsonl")) and not list(Path(spool_dir).glob("*.draining"))
