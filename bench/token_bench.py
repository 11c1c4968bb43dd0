"""Benchmark 1: 100 concurrent callers in 4 processes on a cold token.

Prints how many token requests reached the (sandbox) WeChat API: the target is exactly 1.
Needs a shared cache: REDIS_URL=redis://127.0.0.1:6379/13 python bench/token_bench.py
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django  # noqa: E402

django.setup()

from django.core.cache import cache  # noqa: E402

from wechat_app.sandbox import SandboxServer  # noqa: E402

PROCESSES, THREADS = 4, 25
APP_ID, SECRET = "wxtokenbench01", "token-bench-secret"


def main():
    if not os.environ.get("REDIS_URL"):
        sys.exit("Set REDIS_URL: processes share tokens through the Redis cache.")
    cache.clear()
    with SandboxServer() as sandbox:
        sandbox.state.add_app(APP_ID, SECRET)
        sandbox.state.add_fault("/cgi-bin/stable_token", "latency", seconds=0.2)  # a realistic WeChat RTT
        start_at = time.time() + 8  # all processes booted (django.setup) and waiting
        worker = ROOT / "tests" / "outbound" / "token_worker.py"
        procs = [subprocess.Popen([sys.executable, str(worker), sandbox.url, APP_ID, SECRET, str(THREADS),
                                   str(start_at)], stdout=subprocess.PIPE, cwd=ROOT) for _ in range(PROCESSES)]
        outputs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
        elapsed = time.time() - start_at
        tokens = [t for out in outputs for t in out["tokens"]]
        upstream = len(sandbox.state.list_calls("/cgi-bin/stable_token"))
    print(f"callers: {len(tokens)} ({PROCESSES} processes x {THREADS} threads), cold cache")
    print(f"distinct tokens handed out: {len(set(tokens))}")
    print(f"upstream token requests: {upstream} (target: exactly 1)")
    print(f"time from the common start until all callers had a token: {elapsed:.2f}s")
    sys.exit(0 if upstream == 1 and len(set(tokens)) == 1 else 1)


if __name__ == "__main__":
    main()
