"""Callback throughput and latency under gunicorn with PostgreSQL and Redis.

For 10, 1,000 and 100,000 rules, serves encrypted (safe mode) text messages through the real
callback and through a bare view doing the same protocol work with O(1) routing
(bench/bare_view.py), and prints requests/s and p50/p99 latency for both.

Targets (issue 2): at every rule count at least 70% of the bare view's throughput, and p99 at
100,000 rules within 1.5x of p99 at 10 rules.

Two ways of writing the message log are measured: the default (one INSERT per message) and,
with ``--log-buffer``, WECHAT_APP["LOG_BUFFER"] (rows through Redis, bulk-inserted by a Celery
worker with beat, which runs beside gunicorn during the measurement so that its CPU counts).
Either way the script checks afterwards that every request left exactly one log row. gunicorn
runs with ``--preload`` (the index built once before the workers fork) and nothing is measured
before every worker answers a known rule from its index (``wait_ready``).

Usage (PostgreSQL and Redis of this machine by default)::

    .venv/bin/python bench/callback_bench.py [--rules 10,1000,100000] [--requests 4000]
        [--workers 2] [--clients 2] [--threads 4] [--log-buffer]

Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/wechat_bench, created
if missing), BENCH_REDIS_URL (default redis://127.0.0.1:6379/9, flushed).
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wechat_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
TOKEN = "benchtoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wxbench0000000001"
ACCOUNT = "bench"


def backend_cpu(pid):
    """Seconds of CPU the PostgreSQL backend ``pid`` has used (None if it is not on this machine)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:  # nanoseconds on the CPU
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:  # utime + stime, in clock ticks
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def ensure_database():
    import psycopg

    url = urlparse(DATABASE_URL)
    name = url.path.lstrip("/")
    admin = url._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/8")


def bench_env(log_buffer=False):
    env = dict(os.environ)
    env.update(DJANGO_SETTINGS_MODULE="bench.settings", DATABASE_URL=DATABASE_URL, REDIS_URL=REDIS_URL,
               CELERY_BROKER_URL=BROKER_URL, BENCH_TOKEN=TOKEN, BENCH_AES_KEY=AES_KEY, BENCH_APP_ID=APP_ID,
               BENCH_LOG_BUFFER="1" if log_buffer else "", PYTHONPATH=str(ROOT),
               WECHAT_WARM_BEFORE_FORK="1")  # with gunicorn --preload: the index built before the fork
    return env


def setup_django(log_buffer=False):
    os.environ.update({k: v for k, v in bench_env(log_buffer).items() if k != "PYTHONPATH"})
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.core.cache import cache

    cache.clear()


def rule_specs(count: int):
    """The generated rules as (kind, value, key, reply) tuples, the same for every peer measured."""
    specs = []
    for i in range(count):
        kind = i % 10
        if kind <= 3:
            specs.append(("exact", f"kw{i}", "", f"exact reply {i}"))
        elif kind <= 7:
            specs.append(("contains", f"ck{i}z", "", f"contains {i}"))
        elif kind == 8:
            specs.append(("regex", rf"^rx{i} (\d+)$", "", f"regex {i} {{1}}"))
        else:
            specs.append(("event", "CLICK", f"K{i}", f"click {i}"))
    return specs


def load_rules(count: int):
    """Replace the bench account's rules with ``count`` generated rules plus one default."""
    from wechat_app.models import Account, MessageLog, Rule

    account, _ = Account.objects.update_or_create(
        name=ACCOUNT,
        defaults=dict(app_id=APP_ID, app_secret="benchsecret", token=TOKEN, encoding_aes_key=AES_KEY,
                      encrypt_mode=Account.EncryptMode.SAFE, enabled=True),
    )
    # A quick delete: no collection of up to 100,000 instances, no signal per rule (each bumps
    # the account's revision); the log rows of earlier runs keep their rows, not the link.
    Rule.objects.filter(account=account).update(parent=None)
    MessageLog.objects.filter(account=account, rule__isnull=False).update(rule=None)
    Rule.objects.filter(account=account)._raw_delete(Rule.objects.db)
    rows = [Rule(account=account, name=f"r{i}", position=i + 1, priority=0, match_kind=kind, match_value=value,
                 match_key=key, replies=[reply])
            for i, (kind, value, key, reply) in enumerate(rule_specs(count))]
    rows.append(Rule(account=account, name="fallback", position=count + 1, match_kind="default",
                     replies=["default reply"]))
    for start in range(0, len(rows), 5000):
        Rule.objects.bulk_create(rows[start:start + 5000])
    from wechat_app.services.rules import bump_rules_version

    bump_rules_version(account.pk)  # (bulk_create and the raw delete send no signal)
    account.refresh_from_db()
    account.save()  # bumps the account's version stamp: every process recompiles its index
    vacuum()
    return account


def vacuum():
    """On PostgreSQL, VACUUM ANALYZE the tables a rule load rewrote (the rules, and the log rows
    whose rule link it cleared): autovacuum's pass over them would otherwise land in the first
    measured runs, on the same cores, and count as the callback's PostgreSQL time."""
    from django.db import connection

    from wechat_app.models import MessageLog, Rule

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in (Rule, MessageLog):
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def message_texts(count: int, n: int, rng: random.Random):
    """A realistic mix: 40% exact hits, 30% contains hits, 10% regex hits, 20% unmatched."""
    texts = []
    for _ in range(n):
        roll = rng.random()
        i = rng.randrange(count)
        base = i - i % 10
        if roll < 0.4:
            texts.append(f"kw{base + rng.randrange(min(4, count - base))}")
        elif roll < 0.7 and count >= 5:
            j = base + 4 + rng.randrange(4)
            texts.append(f"hello ck{j if j < count else 4}z there")
        elif roll < 0.8 and count >= 9:
            j = base + 8
            texts.append(f"rx{j if j < count else 8} {rng.randrange(100)}")
        else:
            texts.append(f"nothing here {rng.randrange(10**6)}")
    return texts


def build_request(path: str, text: str):
    from wechat_app.protocol import MessageCrypto, make_signature

    crypto = MessageCrypto(TOKEN, AES_KEY, APP_ID)
    now = str(int(time.time()))
    nonce = uuid.uuid4().hex[:10]
    xml = (f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[u{random.randrange(5000)}]]>"
           f"</FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
           f"<Content><![CDATA[{text}]]></Content><MsgId>{uuid.uuid4().int >> 66}</MsgId></xml>")
    encrypted = crypto.encrypt(xml)
    query = urlencode({"timestamp": now, "nonce": nonce, "encrypt_type": "aes",
                       "msg_signature": make_signature(TOKEN, now, nonce, encrypted),
                       "signature": make_signature(TOKEN, now, nonce)})
    body = f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    return f"{path}?{query}", body.encode()


def ready_probe(count: int) -> tuple[str, str]:
    """A text answered by a stored rule (the last exact one) and its reply: it gets that reply
    only once the worker's index is built (before that: the no-match path)."""
    i = max(j for j, (kind, *_rest) in enumerate(rule_specs(count)) if kind == "exact") if count else None
    return (f"kw{i}", f"exact reply {i}") if i is not None else ("anything", "default reply")


def wait_ready(port: int, path: str, count: int, workers: int, timeout: float = 600) -> int:
    """Send the probe until ``4 * workers`` answers in a row carry its rule's reply (every worker's
    index is ready); return how many requests were sent (each leaves a log row)."""
    import re

    from wechat_app.protocol import MessageCrypto

    crypto = MessageCrypto(TOKEN, AES_KEY, APP_ID)
    text, expected = ready_probe(count)
    deadline, sent, in_a_row = time.time() + timeout, 0, 0
    while in_a_row < 4 * workers:
        if time.time() > deadline:
            raise RuntimeError(f"the workers did not answer {text!r} with {expected!r} within {timeout:.0f}s")
        url, body = build_request(path, text)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", url, body, {"Content-Type": "text/xml"})
        data = conn.getresponse().read()
        conn.close()
        sent += 1
        found = re.search(rb"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", data)
        answer = crypto.decrypt(found.group(1).decode()) if found else ""
        if f"<![CDATA[{expected}]]>" in answer:
            in_a_row += 1
        else:
            in_a_row = 0
            time.sleep(0.2)
    return sent


def client_process(port, path, texts, threads, start_at, queue):
    """Send pre-built requests over ``threads`` connections; report latencies and errors."""
    requests = [build_request(path, t) for t in texts]
    latencies, errors = [], []
    lock = threading.Lock()
    chunks = [requests[i::threads] for i in range(threads)]

    def run(chunk):
        local, bad = [], []
        for url, body in chunk:
            began = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("POST", url, body, {"Content-Type": "text/xml"})
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                if resp.status != 200 or b"<Encrypt>" not in data:
                    bad.append(f"{resp.status} {data[:80]!r}")
            except OSError as err:
                bad.append(repr(err))
            local.append(time.perf_counter() - began)
        with lock:
            latencies.extend(local)
            errors.extend(bad)

    while time.time() < start_at:
        time.sleep(0.001)
    began = time.perf_counter()
    workers = [threading.Thread(target=run, args=(c,)) for c in chunks]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    queue.put((latencies, errors[:5], len(errors), began, time.perf_counter()))


def wait_port(port, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not listen on {port}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_load(port, path, count, args, seed):
    rng = random.Random(seed)
    per_client = args.requests // args.clients
    queue = mp.Queue()
    start_at = time.time() + 1.5 + per_client / 4000  # time for every client to pre-build its requests
    procs = [mp.Process(target=client_process,
                        args=(port, path, message_texts(count, per_client, rng), args.threads, start_at, queue))
             for _ in range(args.clients)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(x for r in results for x in r[0])
    errors = sum(r[2] for r in results)
    wall = max(r[4] for r in results) - min(r[3] for r in results)
    if errors:
        print(f"  !! {errors} errors, e.g. {results[0][1] or results[-1][1]}", flush=True)
    return {
        "requests": len(latencies), "errors": errors, "rps": len(latencies) / wall,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "mean_ms": 1000 * statistics.fmean(latencies),
    }


def serve(workers, log_buffer=False):
    port = free_port()
    procs = [subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "bench.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{port}",
         "--worker-class", "sync", "--log-level", "warning", "--timeout", "120", "--preload"],
        cwd=ROOT, env=bench_env(log_buffer), start_new_session=True)]
    if log_buffer:  # the worker whose beat task drains the buffer, as in production
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "project", "worker", "-B", "--pool", "solo",
             "--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=bench_env(log_buffer), start_new_session=True))
    wait_port(port)
    return procs, port


def stop(procs):
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=30)


def logged_rows():
    from wechat_app.models import MessageLog

    return MessageLog.objects.filter(account__name=ACCOUNT).count()


def wait_drained(expected, timeout=60):
    """With the buffer, rows arrive within a few seconds of the last request."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if logged_rows() >= expected:
            break
        time.sleep(0.5)
    return logged_rows()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", default="10,1000,100000")
    parser.add_argument("--requests", type=int, default=4000, help="measured requests per run")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--clients", type=int, default=2, help="load-generating processes")
    parser.add_argument("--threads", type=int, default=4, help="concurrent connections per client process")
    parser.add_argument("--log-buffer", action="store_true", help="WECHAT_APP['LOG_BUFFER'] with a Celery worker")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    ensure_database()
    setup_django(args.log_buffer)
    print(f"message log: {'buffered in Redis, drained by a Celery worker' if args.log_buffer else 'one INSERT per message'};"
          f" gunicorn {args.workers} sync workers; load: {args.clients} processes x {args.threads} connections",
          flush=True)
    rows = []
    for count in [int(x) for x in args.rules.split(",")]:
        began = time.perf_counter()
        load_rules(count)
        print(f"{count} rules loaded in {time.perf_counter() - began:.1f}s", flush=True)
        for label, path in (("callback", f"/wechat/callback/{ACCOUNT}/"), ("bare view", f"/bare/{ACCOUNT}/")):
            is_callback = label == "callback"
            procs, port = serve(args.workers, log_buffer=args.log_buffer and is_callback)
            rows_before = logged_rows()
            warmup = 40 * args.workers
            try:
                # Every worker answers with its index before anything is measured, then a warm-up
                # opens the connections.
                probes = wait_ready(port, path, count, args.workers) if is_callback else 0
                run_load(port, path, count, argparse.Namespace(requests=warmup, clients=1,
                                                               threads=args.workers), seed=1)
                result = run_load(port, path, count, args, seed=count)
                if is_callback:
                    sent = probes + warmup + result["requests"] - result["errors"]
                    logged = wait_drained(rows_before + sent) - rows_before
                    result["logged"] = f"{logged}/{sent} rows logged"
            finally:
                stop(procs)
            result.update(rules=count, view=label)
            rows.append(result)
            print(f"  {label:9s} {result['rps']:8.0f} req/s  p50 {result['p50_ms']:6.2f} ms  "
                  f"p99 {result['p99_ms']:6.2f} ms  errors {result['errors']}  {result.get('logged', '')}", flush=True)

    print("\nrules     callback req/s  bare req/s  ratio   p50 ms  p99 ms (callback)")
    by = {(r["rules"], r["view"]): r for r in rows}
    counts = sorted({r["rules"] for r in rows})
    for count in counts:
        cb, bare = by[(count, "callback")], by[(count, "bare view")]
        print(f"{count:<9d} {cb['rps']:14.0f} {bare['rps']:11.0f} {cb['rps'] / bare['rps']:6.0%} "
              f"{cb['p50_ms']:8.2f} {cb['p99_ms']:7.2f}")
    if len(counts) > 1:
        lo, hi = by[(counts[0], "callback")], by[(counts[-1], "callback")]
        print(f"p99 at {counts[-1]} rules / p99 at {counts[0]} rules: {hi['p99_ms'] / lo['p99_ms']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    mp.set_start_method("fork")
    main()
