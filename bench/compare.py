"""The callback side by side with a bare protocol view and WeRoBot, driven by wrk.

One command, one run per rule count::

    .venv/bin/pip install -r requirements/bench.txt        # WeRoBot, the peer
    .venv/bin/python bench/compare.py --rules 10,1000,100000

For each rule count it serves, one after the other, with gunicorn (sync workers) on PostgreSQL +
Redis:

- ``bare``: bench/bare_view.py, the protocol work alone (verify, decrypt, parse, O(1) lookup,
  render, encrypt) in a bare Django view: the yardstick of issue 11;
- ``barewsgi``: the same work as a plain WSGI application (no Django): the floor to hold the
  project's WSGI fast path (``wechat_app.wsgi``, on in bench/wsgi.py) against like for like;
- ``default``: this project, one durable log row per message (the default log mode);
- ``buffer``: this project with WECHAT_APP["LOG_BUFFER"] (a Celery worker with beat drains the
  buffer beside gunicorn, so its CPU counts);
- ``werobot``: WeRoBot 1.13 with the same rules as handlers (bench/werobot_app.py);
- on request (``--variants``), ``default-django`` and ``buffer-django``: the project in either log
  mode with the fast path off, every callback through Django's request handling; ``floor-redis``
  and ``floor-pg``: the bare WSGI app plus the least a dedupe and a durable log can cost (one
  Redis round trip, or one INSERT of the row claim; bench/bare_view.py): what no callback that
  dedupes and logs can beat here;

gunicorn runs with ``--preload`` (the project's index is built once, before the workers fork) and
the project is probed until every worker answers a known rule from its index before anything is
sent; then it drives each with wrk (C, so the load generator costs little CPU) replaying pre-signed, unique
encrypted (safe mode) requests (bench/wrk_replay.lua): the same texts for every peer, every MsgId
new. After each project run it checks that every request sent left exactly one log row. It prints
markdown tables: req/s, p50/p99 and the ratios to the bare view and to WeRoBot measured in the same
run, the p99 at the largest rule count against the smallest, and the CPU µs per request that
each process group used during the measured run and the drain after it (gunicorn, the Celery
worker, PostgreSQL, Redis, the rest: wrk and the kernel), read from ``/proc``: the cost to the
machine, not only to the callback's own process.

Quick run (under a minute): ``--rules 10 --requests 1000 --duration 8``.

Environment / flags: ``--database-url`` (default $BENCH_DATABASE_URL or
postgres://postgres@127.0.0.1:5432/wechat_bench, created if missing), ``--redis-url`` (cache,
flushed; default $BENCH_REDIS_URL or redis://127.0.0.1:6379/9), ``--broker-url`` (Celery, for the
buffer's drain; default $BENCH_BROKER_URL or redis://127.0.0.1:6379/8).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = ("bare", "barewsgi", "default", "buffer", "werobot", "default-django", "buffer-django", "floor-redis",
            "floor-pg")
DEFAULT_VARIANTS = ("bare", "barewsgi", "default", "buffer", "werobot")
LABELS = {"bare": "bare view", "barewsgi": "bare WSGI (no Django)", "default": "this project (row per message)",
          "buffer": "this project (LOG_BUFFER)", "werobot": "WeRoBot 1.13",
          "default-django": "this project, row per message, through Django",
          "buffer-django": "this project, LOG_BUFFER, through Django",
          "floor-redis": "floor: bare WSGI + 1 Redis round trip", "floor-pg": "floor: bare WSGI + 1 INSERT"}
PROJECT = ("default", "buffer", "default-django", "buffer-django")
# The variants that are a plain WSGI application, answering on "/" (the others run bench/wsgi.py).
WSGI_APPS = {"werobot": "bench.werobot_app:application", "barewsgi": "bench.bare_view:bare_wsgi",
             "floor-redis": "bench.bare_view:floor_redis", "floor-pg": "bench.bare_view:floor_pg"}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", default="10,1000,100000", help="rule counts, comma-separated")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), help=f"among {','.join(VARIANTS)}")
    parser.add_argument("--requests", type=int, default=6000, help="unique requests per run (the most sent)")
    parser.add_argument("--duration", type=float, default=30, help="seconds a run may last at most")
    parser.add_argument("--warmup", type=int, default=200, help="requests sent before each measured run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--worker-threads", type=int, default=1,
                        help="threads per gunicorn worker (1: sync workers; more: gthread workers)")
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wechat_bench"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"))
    parser.add_argument("--broker-url", default=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/8"))
    parser.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of every variant, interleaved; the tables show each variant's median run")
    parser.add_argument("--json", help="also write the figures to this file")
    return parser.parse_args()


def write_requests(cb, path: str, texts: list[str], target: Path) -> None:
    with open(target, "w") as out:
        for text in texts:
            url, body = cb.build_request(path, text)
            out.write(f"{url}\t{body.decode()}\n")


def run_wrk(args, port: int, file: Path, connections: int, duration: float) -> dict:
    """Replay ``file`` once through wrk; return its figures (rate from first request to last answer)."""
    threads = min(args.threads, connections)
    done = file.with_suffix(".done-")
    for old in file.parent.glob(done.name + "*"):
        old.unlink()
    env = dict(os.environ, WRK_REQUESTS=str(file), WRK_THREADS=str(threads), WRK_DONE=str(done))
    cmd = [args.wrk, "-t", str(threads), "-c", str(connections), "-d", f"{max(1, int(duration))}s",
           "--timeout", "30s", "-s", str(ROOT / "bench" / "wrk_replay.lua"), f"http://127.0.0.1:{port}"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # wrk runs for its whole duration; end it (SIGINT: it still reports) once every thread is done.
    while proc.poll() is None:
        if len(list(file.parent.glob(done.name + "*"))) >= threads:
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.05)
    out, err = proc.communicate(timeout=60)
    line = next((x for x in out.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}\n{err}")
    result = json.loads(line[len("RESULT "):])
    result["rps"] = result["received"] / max(result["elapsed_us"] / 1e6, 1e-6)
    return result


CLK_TCK = os.sysconf("SC_CLK_TCK")
CPU_GROUPS = ("server", "celery", "postgres", "redis", "rest")


def _processes() -> dict[int, tuple[str, int, float]]:
    """pid -> (command name, parent pid, CPU seconds used so far), from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:  # gone meanwhile
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        found[int(entry)] = (name, int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return found


def _machine_cpu() -> tuple[float, float]:
    """(CPU seconds used by anything, CPU seconds taken by the hypervisor: steal) since boot."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK


def cpu_snapshot(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each group: ``roots`` (group -> root pid: the process and its
    descendants), every ``postgres`` and ``redis-server`` process, and the machine (``total``,
    ``steal``). Processes that exit between two snapshots drop out of their group (wrk's own
    CPU lands in ``rest``, the machine's total minus the groups)."""
    procs = _processes()
    children: dict[int, list[int]] = {}
    for pid, (_, ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    snap = {"postgres": 0.0, "redis": 0.0}
    for group, root in roots.items():
        todo, used = [root], 0.0
        while todo:
            pid = todo.pop()
            used += procs.get(pid, ("", 0, 0.0))[2]
            todo += children.get(pid, [])
        snap[group] = used
    for name, _, used in procs.values():
        if name == "postgres":
            snap["postgres"] += used
        elif name.startswith("redis-server"):
            snap["redis"] += used
    snap["total"], snap["steal"] = _machine_cpu()
    return snap


def cpu_per_request(before: dict, after: dict, requests: int) -> dict[str, float]:
    """CPU µs per request of each group between two snapshots (``rest``: the machine's total
    minus the groups: wrk, the kernel's softirqs, this script)."""
    delta = {key: after.get(key, 0.0) - before.get(key, 0.0) for key in after}
    known = sum(delta.get(group, 0.0) for group in CPU_GROUPS if group != "rest")
    delta["rest"] = delta["total"] - known
    return {key: value / max(requests, 1) * 1e6 for key, value in delta.items()}


def serve(cb, args, variant: str, count: int):
    port = cb.free_port()
    env = cb.bench_env(log_buffer=variant.startswith("buffer"))
    env["BENCH_RULES"] = str(count)
    if variant.endswith("-django"):  # the callback through Django's request handling (no fast path)
        env["BENCH_FAST_PATH"] = ""
    app = WSGI_APPS.get(variant, "bench.wsgi")
    if variant == "floor-pg":
        from bench.bare_view import create_floor_table

        create_floor_table(cb.DATABASE_URL)
    # --preload: the project's index is built once in the master, before the workers fork
    # (bench/wsgi.py with WECHAT_WARM_BEFORE_FORK, set by bench_env).
    procs = [subprocess.Popen(
        [sys.executable, "-m", "gunicorn", app, "-w", str(args.workers), "-b", f"127.0.0.1:{port}",
         *(["--worker-class", "sync"] if args.worker_threads == 1 else
           ["--worker-class", "gthread", "--threads", str(args.worker_threads)]),
         "--log-level", "warning", "--timeout", "300", "--preload"],
        cwd=ROOT, env=env, start_new_session=True)]
    if variant.startswith("buffer"):  # the worker whose beat task drains the buffer, as in production
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "project", "worker", "-B", "--pool", "solo",
             "--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    cb.wait_port(port, timeout=300)
    return procs, port


def measure(cb, args, variant: str, count: int, workdir: Path) -> dict:
    path = ("/" if variant in WSGI_APPS else f"/bare/{cb.ACCOUNT}/" if variant == "bare"
            else f"/wechat/callback/{cb.ACCOUNT}/")
    rng = random.Random(count)  # the same texts for every variant at this rule count
    warm, measured = workdir / f"{variant}-warm.txt", workdir / f"{variant}.txt"
    procs, port = serve(cb, args, variant, count)
    project = variant in PROJECT
    before = cb.logged_rows() if project else 0
    retries_before = retry_total(cb) if project else 0
    try:
        # The project: every worker answers a known rule from its index before anything is sent
        # (never the no-match path of an index still building); the probes are logged too.
        probes = cb.wait_ready(port, path, count, args.workers) if project else 0
        # Signed just before use (TIMESTAMP_WINDOW): the warm-up opens every worker's connections.
        # WeRoBot builds nothing ahead (and at 100,000 rules answers a few requests a second).
        warmup = min(args.warmup, 4 * args.workers) if variant == "werobot" else args.warmup
        write_requests(cb, path, cb.message_texts(count, warmup, random.Random(1)), warm)
        warmed = run_wrk(args, port, warm, min(args.connections, 2 * args.workers), 300)
        write_requests(cb, path, cb.message_texts(count, args.requests, rng), measured)
        roots = {"server": procs[0].pid, **({"celery": procs[1].pid} if len(procs) > 1 else {})}
        cpu_before = cpu_snapshot(roots)
        result = run_wrk(args, port, measured, args.connections, args.duration)
        if project:
            sent = probes + warmed["sent"] + result["sent"]
            logged = cb.wait_drained(before + sent, timeout=60) - before
            result["logged"] = logged
            result["expected"] = sent
            result["retries"] = retry_total(cb) - retries_before
        # After the drain: the buffer's rows cost the Celery worker and PostgreSQL their share.
        result["cpu_us"] = cpu_per_request(cpu_before, cpu_snapshot(roots), result["received"])
    finally:
        cb.stop(procs)
    result.update(variant=variant, rules=count)
    return result


def median_run(runs: list[dict]) -> dict:
    """The run of median throughput (its own latencies with it), with every run's rate and the
    rows of all of them (each run must have logged every request)."""
    ordered = sorted(runs, key=lambda r: r["rps"])
    result = dict(ordered[(len(ordered) - 1) // 2])
    result["all_rps"] = [r["rps"] for r in runs]
    if "logged" in result:
        result["logged"] = sum(r["logged"] for r in runs)
        result["expected"] = sum(r["expected"] for r in runs)
        result["retries"] = sum(r["retries"] for r in runs)
    return result


def retry_total(cb) -> int:
    from django.db.models import Sum

    from wechat_app.models import MessageLog

    return MessageLog.objects.filter(account__name=cb.ACCOUNT).aggregate(n=Sum("retry_count"))["n"] or 0


def fmt_rules(count: int) -> str:
    return f"{count:,}"


def _rate(r: dict) -> str:
    """The median rate, and the range of the runs when there were several."""
    rates = r.get("all_rps", [r["rps"]])
    spread = f" ({min(rates):,.0f}–{max(rates):,.0f})" if len(rates) > 1 else ""
    return f"{r['rps']:,.0f}{spread}"


def print_tables(results: list[dict], variants: list[str]) -> None:
    by = {(r["rules"], r["variant"]): r for r in results}
    counts = sorted({r["rules"] for r in results})
    print("\n| rules | " + " | ".join(f"{LABELS[v]} req/s" for v in variants) + " |")
    print("|---|" + "---|" * len(variants))
    for count in counts:
        print(f"| {fmt_rules(count)} | " + " | ".join(
            _rate(by[(count, v)]) if (count, v) in by else "" for v in variants) + " |")

    print("\n| rules | variant | req/s | vs bare | vs bare WSGI | vs WeRoBot | p50 ms | p99 ms | rows logged / requests |")
    print("|---|---|---|---|---|---|---|---|---|")
    for count in counts:
        bare, peer, floor = by.get((count, "bare")), by.get((count, "werobot")), by.get((count, "barewsgi"))
        for v in variants:
            r = by.get((count, v))
            if r is None:
                continue
            vs_bare = f"{r['rps'] / bare['rps']:.0%}" if bare and v != "bare" else ""
            vs_peer = f"{r['rps'] / peer['rps']:.2f}x" if peer and v != "werobot" else ""
            vs_floor = f"{r['rps'] / floor['rps']:.0%}" if floor and v != "barewsgi" else ""
            rows = ""
            if "logged" in r:
                ok = "" if r["logged"] == r["expected"] and not r["retries"] else " **MISMATCH**"
                rows = f"{r['logged']}/{r['expected']}{ok}"
            errors = f" ({r['errors'] + r['bad']} errors)" if r["errors"] or r["bad"] else ""
            print(f"| {fmt_rules(count)} | {LABELS[v]}{errors} | {r['rps']:,.0f} | {vs_bare} | {vs_floor} | {vs_peer} | "
                  f"{r['p50_us'] / 1000:.1f} | {r['p99_us'] / 1000:.1f} | {rows} |")
    print("\nCPU µs per request of each process group during the measured run (and the drain after it):"
          " gunicorn (master and workers), the Celery worker (the buffer's drain), PostgreSQL, Redis, the"
          " rest (wrk, the kernel, this script); steal: what the hypervisor took\n")
    print("| rules | variant | gunicorn | Celery | PostgreSQL | Redis | rest | total | steal |")
    print("|---|---|---|---|---|---|---|---|---|")
    for count in counts:
        for v in variants:
            r = by.get((count, v))
            if r is None or "cpu_us" not in r:
                continue
            c = r["cpu_us"]
            cells = " | ".join(f"{c.get(k, 0.0):,.0f}" for k in ("server", "celery", "postgres", "redis", "rest",
                                                                  "total", "steal"))
            print(f"| {fmt_rules(count)} | {LABELS[v]} | {cells} |")
    if len(counts) > 1:
        lo, hi = counts[0], counts[-1]
        parts = [f"{LABELS[v]} {by[(hi, v)]['p99_us'] / by[(lo, v)]['p99_us']:.2f}x"
                 for v in variants if (lo, v) in by and (hi, v) in by]
        print(f"\np99 at {fmt_rules(hi)} rules / p99 at {fmt_rules(lo)} rules: " + ", ".join(parts))


def main():
    args = parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        sys.exit(f"unknown variants: {', '.join(sorted(unknown))}")
    if "werobot" in variants:
        try:
            import werobot  # noqa: F401
        except ImportError:
            sys.exit("WeRoBot is missing: pip install -r requirements/bench.txt")
    os.environ.update(BENCH_DATABASE_URL=args.database_url, BENCH_REDIS_URL=args.redis_url,
                      BENCH_BROKER_URL=args.broker_url)
    from bench import callback_bench as cb

    cb.ensure_database()
    cb.setup_django()
    kind = "sync workers" if args.worker_threads == 1 else f"gthread workers x {args.worker_threads} threads"
    print(f"gunicorn {args.workers} {kind}; wrk {args.threads} threads x {args.connections} connections; "
          f"{args.requests} unique requests per run (at most {args.duration:g}s)", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="wechat-bench-") as tmp:
        for count in [int(x) for x in args.rules.split(",")]:
            began = time.perf_counter()
            cb.load_rules(count)
            print(f"{count} rules loaded in {time.perf_counter() - began:.1f}s", flush=True)
            runs = {variant: [] for variant in variants}
            for round_ in range(args.repeat):  # the variants interleaved: a noisy minute hits them all
                for variant in variants:
                    r = measure(cb, args, variant, count, Path(tmp))
                    runs[variant].append(r)
                    logged = f"  rows {r['logged']}/{r['expected']} retries {r['retries']}" if "logged" in r else ""
                    print(f"  {variant:8s} {r['rps']:8.0f} req/s  p50 {r['p50_us'] / 1000:6.2f} ms  "
                          f"p99 {r['p99_us'] / 1000:6.2f} ms  sent {r['sent']}  errors {r['errors'] + r['bad']}"
                          f"{logged}", flush=True)
            results += [median_run(runs[variant]) for variant in variants]
    print_tables(results, variants)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
