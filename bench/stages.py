"""Where a callback's time goes: microseconds per message and per stage, in process.

    .venv/bin/python bench/stages.py [--rules 1000] [--messages 3000] [--log-buffer] [--django]

Runs ``--messages`` unique encrypted (safe mode) text messages through the project's WSGI
application as gunicorn calls it (``wechat_app.wsgi.callback_fast_path`` around Django's WSGI
handler, as bench/wsgi.py builds it; ``--django``: Django's handler alone, with the project's
middleware) on PostgreSQL + Redis, with a timer around each stage, and prints a markdown table:
the mean wall-clock time and CPU time (``time.process_time``, which a loaded machine disturbs
less) per message of

- HTTP + Django: everything outside ``views.callback_response`` (the function both the fast path
  and the Django view call): the fast path's routing, query parsing, signals and answer; with
  ``--django``, the WSGI handler, middleware, URL resolution, view and response;
- verify + decrypt + parse (``inbound._decode``);
- dedupe + stamps: the cache round trip that claims the delivery and reads the version stamps
  and follow-up state, and the one that stores the answer (with LOG_BUFFER it carries the log
  entry too: see "log"); on Redis, the callback script's call(s) (``services.callbackscript``:
  one per message with LOG_BUFFER);
- engine (``inbound.run_rules``: the index lookup and the rule's reply);
- render + encrypt (``render_reply`` and ``MessageCrypto.encrypt_message``);
- log: building the row and writing it (INSERT), or queueing it for the buffer;
- other: what is left of ``callback_response`` (signals, settings, the account lookup...).

The timers cost about a microsecond each; the total is measured without them in a second pass.
Environment: BENCH_DATABASE_URL, BENCH_REDIS_URL as for callback_bench.py.
"""
from __future__ import annotations

import argparse
import functools
import io
import os
import random
import sys
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STAGES = ["HTTP + Django", "verify + decrypt + parse", "dedupe + stamps (cache)", "engine", "render + encrypt",
          "log", "other"]


class Timers:
    def __init__(self):
        self.wall = defaultdict(float)
        self.cpu = defaultdict(float)
        self.depth = 0
        self.on = True

    def wrap(self, stage, func, outer=False):
        timers = self

        @functools.wraps(func)
        def timed(*args, **kwargs):
            if not timers.on or timers.depth:
                return func(*args, **kwargs)
            timers.depth += 0 if outer else 1
            w, c = time.perf_counter(), time.process_time()
            try:
                return func(*args, **kwargs)
            finally:
                timers.wall[stage] += time.perf_counter() - w
                timers.cpu[stage] += time.process_time() - c
                timers.depth -= 0 if outer else 1

        return timed


def environ_for(url: str, body: bytes) -> dict:
    parts = urlsplit(url)
    return {
        "REQUEST_METHOD": "POST", "PATH_INFO": parts.path, "QUERY_STRING": parts.query, "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "CONTENT_TYPE": "text/xml", "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "127.0.0.1:8000", "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--log-buffer", action="store_true", help="WECHAT_APP['LOG_BUFFER'] (no drain runs)")
    parser.add_argument("--no-load", action="store_true", help="keep the rules already in the database")
    parser.add_argument("--django", action="store_true",
                        help="Django's WSGI handler alone, without the callback fast path")
    parser.add_argument("--profile", type=int, metavar="N", default=0,
                        help="then run the messages once more under cProfile and print the N functions "
                             "of the highest own time")
    args = parser.parse_args()

    from bench import callback_bench as cb

    cb.ensure_database()
    cb.setup_django(log_buffer=args.log_buffer)
    if not args.no_load:
        cb.load_rules(args.rules)
    from django.core.handlers.wsgi import WSGIHandler

    from wechat_app import protocol, views
    from wechat_app.services import cachebatch, callbackscript, inbound, logbuffer
    from wechat_app.wsgi import callback_fast_path

    handler = WSGIHandler() if args.django else callback_fast_path(WSGIHandler())
    path = f"/wechat/callback/{cb.ACCOUNT}/"

    def run(texts):
        requests = [cb.build_request(path, t) for t in texts]
        began_w, began_c = time.perf_counter(), time.process_time()
        for url, body in requests:
            answer = handler(environ_for(url, body), lambda status, headers: None)
            out = b"".join(answer)
            answer.close()  # as the WSGI server does: request_finished
            if b"<Encrypt>" not in out:
                raise SystemExit(f"unexpected answer: {out[:200]!r}")
        return time.perf_counter() - began_w, time.process_time() - began_c

    from wechat_app.services import rule_index

    rule_index.warm(wait=True)  # the index first (as gunicorn --preload builds it), then the warm-up
    rng = random.Random(args.rules)
    run(cb.message_texts(args.rules, 200, rng))  # warm-up: the connections

    timers = Timers()
    patches = [
        (views, "callback_response", "view"),  # both the fast path and the view look it up there
        (inbound, "_decode", "verify + decrypt + parse"),
        (cachebatch.CacheBatch, "execute", "dedupe + stamps (cache)"),
        (callbackscript.Call, "claim", "dedupe + stamps (cache)"),
        (callbackscript.Call, "finish", "dedupe + stamps (cache)"),
        (inbound, "run_rules", "engine"),
        (inbound, "render_reply", "render + encrypt"),
        (protocol.MessageCrypto, "encrypt_message", "render + encrypt"),
        (inbound, "_log_values", "log"),
        (inbound, "_log_model", "log"),
        (inbound, "_save_log", "log"),
        (logbuffer, "enqueue_values", "log"),
    ]
    originals = []
    for owner, name, stage in patches:
        original = owner.__dict__[name]
        originals.append((owner, name, original))
        setattr(owner, name, timers.wrap(stage, original, outer=stage == "view"))
    wall, cpu = run(cb.message_texts(args.rules, args.messages, rng))
    for owner, name, original in originals:
        setattr(owner, name, original)
    timers.on = False
    bare_wall, bare_cpu = run(cb.message_texts(args.rules, args.messages, rng))  # untimed (timers off)

    n = args.messages
    table = {}
    inner = ["verify + decrypt + parse", "dedupe + stamps (cache)", "engine", "render + encrypt", "log"]
    for kind, data, total in (("wall", timers.wall, wall), ("cpu", timers.cpu, cpu)):
        view = data["view"]
        per = {stage: data[stage] / n * 1e6 for stage in inner}
        per["HTTP + Django"] = (total - view) / n * 1e6
        per["other"] = (view - sum(data[s] for s in inner)) / n * 1e6
        table[kind] = per
    mode = "LOG_BUFFER" if args.log_buffer else "row per message"
    entry = "Django's WSGI handler" if args.django else "the callback fast path"
    print(f"\n{args.rules:,} rules, {n} messages, log: {mode}, through {entry}; µs per message (wall / CPU)\n")
    print("| stage | wall µs | CPU µs |")
    print("|---|---|---|")
    for stage in STAGES:
        print(f"| {stage} | {table['wall'][stage]:.0f} | {table['cpu'][stage]:.0f} |")
    print(f"| **total (timed)** | {wall / n * 1e6:.0f} | {cpu / n * 1e6:.0f} |")
    print(f"| total, timers off | {bare_wall / n * 1e6:.0f} | {bare_cpu / n * 1e6:.0f} |")
    if args.profile:
        import cProfile
        import pstats

        texts = cb.message_texts(args.rules, args.messages, rng)
        profiler = cProfile.Profile()
        profiler.runcall(run, texts)
        if os.environ.get("BENCH_PROFILE_DUMP"):  # a file for pstats (print_callers, snakeviz...)
            profiler.dump_stats(os.environ["BENCH_PROFILE_DUMP"])
        print(f"\ncProfile of {n} more messages, the {args.profile} functions of the highest own time:\n")
        stats = pstats.Stats(profiler, stream=sys.stdout).sort_stats(os.environ.get("BENCH_PROFILE_SORT", "tottime"))
        stats.print_stats(args.profile)
        if os.environ.get("BENCH_PROFILE_CALLEES"):  # e.g. "dispatcher.py:159": what those functions call
            stats.print_callees(os.environ["BENCH_PROFILE_CALLEES"])


if __name__ == "__main__":
    os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wechat_bench")
    main()
