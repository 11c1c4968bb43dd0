"""Benchmark: tagging followers in batches of 50 and a mass send to a tag, against the sandbox.

Prints, for ``--followers`` followers (default 10,000) in a throwaway test database (SQLite
unless DATABASE_URL points elsewhere) and a sandbox in this process:

1. tagging them all (``services.audience.tag_followers``: one call to WeChat per 50 openids, the
   ``Follower.tags`` mirror updated per batch): seconds, calls, followers per second;
2. the follower list filtered by the tag (``followers_with_tag``: JSON containment on PostgreSQL,
   a match on the JSON text elsewhere): milliseconds for a count;
3. a mass send to the tag (quota check, claim, sendall) and its MASSSENDJOBFINISH report recorded
   (then the same report again, which must change nothing): milliseconds each.

    python bench/audience_bench.py [--followers 10000]
"""
import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")  # the send task runs here, even with a broker configured


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--followers", type=int, default=10_000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0)
    try:
        run(args.followers)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run(count):
    from wechat_app.models import Account, Follower, MassMessage
    from wechat_app.protocol import parse_message
    from wechat_app.sandbox.mass import REPORT_OPENID, report_fields
    from wechat_app.sandbox.server import build_event_xml
    from wechat_app.sandbox.testing import running_sandbox
    from wechat_app.services import audience, mass

    with running_sandbox() as sandbox:
        sandbox.state.configure(record_calls=False)
        sandbox.state.add_app("wxaudbench0001", "bench-secret")
        openids = sandbox.state.add_followers("wxaudbench0001", count=count)
        account = Account.objects.create(name="bench", app_id="wxaudbench0001", app_secret="bench-secret",
                                         token="benchtoken", api_base_url=sandbox.url)
        Follower.objects.bulk_create([Follower(account=account, openid=o) for o in openids], batch_size=1000)
        tag = audience.create_tag(account, "Bench")

        started = time.perf_counter()
        result = audience.tag_followers(tag, openids)
        took = time.perf_counter() - started
        print(f"database: {connection_vendor()}")
        print(f"tag {result.done:,} followers: {took:.2f} s, {result.batches} calls of <= 50, "
              f"{result.done / took:,.0f} followers/s, {len(result.failed)} refused batches")

        started = time.perf_counter()
        tagged = audience.followers_with_tag(Follower.objects.filter(account=account), tag.tag_id).count()
        print(f"count followers with the tag: {tagged:,} in {1000 * (time.perf_counter() - started):.1f} ms")

        message = mass.create_mass(account, name="Bench", kind="text", content={"content": "hi"}, tag=tag)
        started = time.perf_counter()
        mass.queue_mass(message)  # outside a transaction: the task runs here, now
        message.refresh_from_db()
        print(f"mass send to the tag: {message.status}, {1000 * (time.perf_counter() - started):.1f} ms")
        send = sandbox.state.mass.sends[message.msg_id]
        report = parse_message(build_event_xml(type("App", (), {"original_id": "gh_bench"})(), REPORT_OPENID,
                                               report_fields(send)))
        for attempt in ("report", "same report again"):
            started = time.perf_counter()
            updated = mass.handle_mass_job_finish(account, report)
            print(f"{attempt}: {updated} row(s) updated in {1000 * (time.perf_counter() - started):.1f} ms")
        message = MassMessage.objects.get(pk=message.pk)
        print(f"counts: total {message.total_count:,}, sent {message.sent_count:,}")


def connection_vendor():
    from django.db import connection

    return connection.vendor


if __name__ == "__main__":
    main()
