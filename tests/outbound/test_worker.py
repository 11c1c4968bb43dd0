"""A real Celery worker (Redis broker) delivering to the sandbox over HTTP, under faults.

Runs only when a Redis broker is configured (CI's second pass: CELERY_BROKER_URL).
"""
import time

import pytest
from django.conf import settings

from wechat_app.models import Campaign, OutboundMessage
from wechat_app.services import outbound

from .conftest import APP_ID

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


def wait_until(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_messages_survive_error_bursts_and_drops_exactly_once(worker, sandbox, account, followers):
    path = "/cgi-bin/message/custom/send"
    sandbox.state.add_fault(path, errcode=-1, count=4)
    sandbox.state.add_fault(path, errcode=45009, count=3)
    sandbox.state.add_fault(path, "drop", count=3)
    ids = [outbound.queue_custom(account, followers[i % 5], "text", {"content": f"m{i}"}).pk
           for i in range(20)]
    assert wait_until(lambda: OutboundMessage.objects.filter(pk__in=ids, status="sent").count() == 20), \
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
    assert wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DONE), \
        Campaign.objects.get(pk=campaign.pk).counts()
    assert Campaign.objects.get(pk=campaign.pk).counts()["sent"] == 60
    delivered = [m["touser"] for m in sandbox.state.list_messages(app_id=APP_ID, kind="template")]
    assert sorted(delivered) == sorted(openids)
