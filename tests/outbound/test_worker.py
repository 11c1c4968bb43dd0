"""A real Celery worker (Redis broker) delivering to the sandbox over HTTP, under faults.

Runs only when a Redis broker is configured (CI's second pass: CELERY_BROKER_URL).
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.polling import wait_until
from wechat_app.models import Campaign, OutboundMessage
from wechat_app.services import outbound

from .conftest import APP_ID

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.skipif(not settings.CELERY_BROKER_URL.startswith("redis"), reason="needs a Redis broker"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def worker(settings):
    from celery.contrib.testing.worker import start_worker

    from project.celery import app

    settings.WECHAT_APP = {"OUTBOUND_RETRY_DELAY": 0.05, "OUTBOUND_RETRY_MAX_DELAY": 0.5,
                           "OUTBOUND_QUOTA_DELAY": 0.3, "CAMPAIGN_CHUNK_SIZE": 10}
    app.conf.task_always_eager = False
    app.control.purge()
    with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False, shutdown_timeout=30):
        yield app


def test_messages_survive_error_bursts_and_drops_exactly_once(worker, sandbox, account, followers):
    path = "/cgi-bin/message/custom/send"
    sandbox.state.add_fault(path, errcode=-1, count=4)
    sandbox.state.add_fault(path, errcode=45009, count=3)
    sandbox.state.add_fault(path, "drop", count=3)
    ids = [outbound.queue_custom(account, followers[i % 5], "text", {"content": f"m{i}"}).pk
           for i in range(20)]
    assert wait_until(lambda: OutboundMessage.objects.filter(pk__in=ids, status="sent").count() == 20,
                      timeout=30, interval=0.1), \
        list(OutboundMessage.objects.values_list("status", "errcode", "attempts"))
    contents = [m["payload"]["text"]["content"] for m in sandbox.state.list_messages(app_id=APP_ID)]
    assert sorted(contents) == sorted(f"m{i}" for i in range(20))  # nothing lost, nothing twice
    assert OutboundMessage.objects.filter(attempts__gt=1).count() >= 1


def test_campaign_through_the_worker_with_lost_answers(worker, sandbox, account):
    openids = sandbox.state.add_followers(APP_ID, count=60)
    sandbox.state.add_template(APP_ID, "T", "{{first.DATA}}", template_id="tpl_w")
    outbound.sync_templates(account)
    sandbox.state.add_fault("/cgi-bin/message/template/send", "drop_after", count=5)  # sent, answer lost
    campaign = outbound.create_campaign(account, "W", "tpl_w", {"first": "hi"}, openids=openids, rate_limit=200)
    outbound.start_campaign(campaign)
    assert wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DONE,
                      timeout=30, interval=0.1), \
        Campaign.objects.get(pk=campaign.pk).counts()
    assert Campaign.objects.get(pk=campaign.pk).counts()["sent"] == 60
    delivered = [m["touser"] for m in sandbox.state.list_messages(app_id=APP_ID, kind="template")]
    assert sorted(delivered) == sorted(openids)


def _database_url():
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _start_worker(app, name, wait=True):
    """A real worker process on the test database (the project's settings, 2 s leases)."""
    env = dict(os.environ, DATABASE_URL=_database_url(), DJANGO_SETTINGS_MODULE="tests.outbound.worker_settings",
               WECHAT_LOG_LEVEL="WARNING")
    process = subprocess.Popen([sys.executable, "-m", "celery", "-A", "project", "worker", "-P", "threads", "-c", "2",
                                "-n", f"{name}@%h", "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
                                "--without-heartbeat"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if wait:
        _wait_for_worker(app, name, process)
    return process


def _wait_for_worker(app, name, process):
    if not wait_until(lambda: app.control.ping(destination=[f"{name}@{socket.gethostname()}"], timeout=0.3),
                      timeout=20):
        process.kill()
        pytest.fail(f"worker {name} did not start")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the worker process needs the PostgreSQL test database")
def test_a_worker_killed_mid_campaign_loses_nothing_and_sends_nothing_twice(sandbox, account, settings):
    """SIGKILL a worker in the middle of a campaign, start another: every recipient receives the
    message exactly once. The killed worker's claimed rows are taken over when their lease
    expires; those it had already sent are resent with the same client_msg_id and dropped."""
    from project.celery import app
    from wechat_app.tasks import resume_outbound

    settings.WECHAT_APP = {"CAMPAIGN_CONCURRENCY": 2, "CAMPAIGN_CHUNK_SIZE": 100}
    app.conf.task_always_eager = False
    app.control.purge()
    openids = sandbox.state.add_followers(APP_ID, count=200)
    sandbox.state.add_template(APP_ID, "T", "{{first.DATA}}", template_id="tpl_k")
    outbound.sync_templates(account)
    sandbox.state.add_fault("/cgi-bin/message/template/send", "latency", seconds=0.01, count=None)
    campaign = outbound.create_campaign(account, "K", "tpl_k", {"first": "hi"}, openids=openids, rate_limit=1000)
    first = _start_worker(app, "doomed")
    processes = [first]
    try:
        outbound.start_campaign(campaign)
        assert wait_until(lambda: len(sandbox.state.messages) >= 40, timeout=20)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        delivered_then = {m["touser"] for m in sandbox.state.list_messages(app_id=APP_ID)}
        held = set(OutboundMessage.objects.filter(campaign=campaign, status="sending").values_list("to_user", flat=True))
        assert held and len(delivered_then) < 200  # killed mid-batch, mid-campaign
        killed_at = time.monotonic()
        processes.append(_start_worker(app, "successor", wait=False))
        _wait_for_worker(app, "successor", processes[-1])
        # Once the dead worker's leases (2 s) expire, beat would run the sweeper; the test does.
        time.sleep(max(0.0, killed_at + 2.2 - time.monotonic()))
        assert resume_outbound() >= 1
        assert wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DONE, timeout=20), \
            Campaign.objects.get(pk=campaign.pk).counts()
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=20)
    delivered = [m["touser"] for m in sandbox.state.list_messages(app_id=APP_ID, kind="template")]
    assert sorted(delivered) == sorted(openids)  # each exactly once: none lost, none twice
    assert Campaign.objects.get(pk=campaign.pk).counts()["sent"] == 200
    # Rows the dead worker had sent but not recorded were sent again and dropped by client_msg_id.
    assert sandbox.state.resends_dropped == len(held & delivered_then)
