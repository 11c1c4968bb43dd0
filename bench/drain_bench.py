"""The buffer's drain: what writing the buffered log rows costs, per row (issue 11).

    BENCH_REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python bench/drain_bench.py [--rows 10000] [--batches 500,2000]

Builds ``--rows`` log rows as the callback does with LOG_BUFFER (``inbound._log_row`` of a text
message with its rule's reply, reply XML of about 300 bytes, the raw XML; ``logbuffer.row_of``),
then for each batch size:

1. ``write_rows``: the rows written in batches of that size, one transaction each, as the drain
   writes them (the account and rule look-ups, the INSERT, the commit);
2. ``drain()``: the same number of new rows queued in Redis (``logbuffer.enqueue_values``) and drained
   with ``drain(limit=batch)`` until the list is empty (LRANGE, unpickling, write_rows, LTRIM).

Printed per row: wall time, the client's CPU (``time.process_time``) and the CPU of the
PostgreSQL backend serving the connection (``/proc/<pg_backend_pid()>/schedstat``, so only when
the database runs on this machine). PostgreSQL, Redis and the callback share the CPUs in
production too, so the client's and the server's CPU both count.

Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/wechat_bench_drain,
created if missing), BENCH_REDIS_URL (default redis://127.0.0.1:6379/9, flushed). The rows of
the bench account (``drain-bench``) are deleted at the start.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wechat_bench_drain")

from bench import callback_bench as cb  # noqa: E402  (its helpers: database, Django set-up)

ACCOUNT = "drain-bench"


def make_logs(account, rule, count):
    """``count`` unsaved log rows of distinct text messages, answered by ``rule``."""
    from wechat_app.protocol import TextReply, parse_message, render_reply
    from wechat_app.services import inbound

    run = uuid.uuid4().hex[:8]
    logs = []
    for n in range(count):
        xml = (f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[oUser{n % 5000:06d}"
               f"abcdefghijkl]]></FromUserName><CreateTime>{1700000000 + n}</CreateTime><MsgType><![CDATA[text]]>"
               f"</MsgType><Content><![CDATA[opening hours {run} {n}]]></Content><MsgId>{run}{n:012d}</MsgId></xml>")
        message = parse_message(xml)
        reply = TextReply(content="We are open 9:00-18:00 Monday to Friday, 10:00-16:00 on Saturdays. 欢迎光临!")
        reply_xml = render_reply(reply, message.uid, "gh_bench", 1700000000 + n)
        logs.append(inbound._log_row(account, message, xml, True, rule=rule, reply=reply, reply_xml=reply_xml,
                                     status="replied", latency_ms=1.25 + n % 7))
    return logs


class Meter:
    """Wall, client CPU and backend CPU between ``start()`` and ``stop()``."""

    def __init__(self, pid):
        self.pid = pid

    def start(self):
        self.began = time.perf_counter(), time.process_time(), cb.backend_cpu(self.pid)

    def stop(self):
        wall, cpu, server = self.began
        server_now = cb.backend_cpu(self.pid)
        return (time.perf_counter() - wall, time.process_time() - cpu,
                None if server is None or server_now is None else server_now - server)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10000, help="rows per batch size and method")
    parser.add_argument("--batches", default="500,2000", help="batch sizes, comma-separated")
    args = parser.parse_args()

    cb.ensure_database()
    cb.setup_django(log_buffer=True)
    from django.core.cache import cache
    from django.db import connection

    from wechat_app.models import Account, MessageLog, Rule
    from wechat_app.services import logbuffer
    from wechat_app.services.cachebatch import CacheBatch
    from wechat_app.services.rules import import_rules

    account, _ = Account.objects.update_or_create(
        name=ACCOUNT, defaults=dict(app_id="wxdrainbench00001", app_secret="benchsecret", token=cb.TOKEN))
    MessageLog.objects.filter(account=account)._raw_delete(MessageLog.objects.db)
    if not Rule.objects.filter(account=account, name="hours").exists():
        import_rules(account, "- name: hours\n  match: {contains: hours}\n  reply: We are open 9:00-18:00\n")
    rule = Rule.objects.get(account=account, name="hours")
    assert logbuffer.enabled(), "LOG_BUFFER needs django-redis: set BENCH_REDIS_URL"

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    meter = Meter(pid)
    server_known = cb.backend_cpu(pid) is not None
    sizes = [int(size) for size in args.batches.split(",")]
    n = args.rows
    results = []

    # A warm-up batch: the connection, the statements, the caches.
    logbuffer.write_rows([logbuffer.row_of(log) for log in make_logs(account, rule, 200)])

    for size in sizes:
        rows = [logbuffer.row_of(log) for log in make_logs(account, rule, n)]
        meter.start()
        for start in range(0, n, size):
            logbuffer.write_rows(rows[start:start + size])
        results.append((f"write_rows, batches of {size}", n, *meter.stop()))

        logs = make_logs(account, rule, n)
        for start in range(0, n, 500):
            batch = CacheBatch(cache)
            for log in logs[start:start + 500]:
                logbuffer.enqueue_values(batch, account.pk, logbuffer.row_of(log))
            batch.execute()
        assert logbuffer.pending() == n
        meter.start()
        handled = 0
        while handled < n:
            handled += logbuffer.drain(limit=size)
        results.append((f"drain(limit={size})", n, *meter.stop()))

    expected = (len(sizes) * 2 * n) + 200
    assert MessageLog.objects.filter(account=account).count() == expected

    print(f"\n{n} rows per line; µs per row\n")
    print("| what | wall µs | client CPU µs | PostgreSQL CPU µs |")
    print("|---|---|---|---|")
    for what, count, wall, cpu, server in results:
        server_text = f"{server / count * 1e6:.1f}" if server is not None else "n/a"
        print(f"| {what} | {wall / count * 1e6:.1f} | {cpu / count * 1e6:.1f} | {server_text} |")
    if not server_known:
        print("\n(PostgreSQL's CPU: n/a, the backend is not a process of this machine)")


if __name__ == "__main__":
    main()
