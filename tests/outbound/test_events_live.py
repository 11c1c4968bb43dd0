"""Events pushed by the sandbox over HTTP to the real callback (live server), signed and
AES-encrypted like WeChat's: delivery reports (TEMPLATESENDJOBFINISH) give campaign recipients
their final status; subscribe/unsubscribe keep Follower rows current."""
import time

import pytest
from django.urls import reverse

from tests.polling import wait_until
from wechat_app.models import Account, Campaign, Follower, OutboundMessage
from wechat_app.services import outbound

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

APP_ID, SECRET, TOKEN = "wxevents000001", "events-app-secret", "evtoken123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.fixture
def account(live_server, sandbox):
    """A safe-mode (encrypted) account whose API is the sandbox and whose callback, as the
    sandbox knows it, is the live server's."""
    account = Account.objects.create(name="events", app_id=APP_ID, app_secret=SECRET, token=TOKEN,
                                     encoding_aes_key=AES_KEY, encrypt_mode="safe", api_base_url=sandbox.url)
    callback = live_server.url + reverse("wechat_app:callback", kwargs={"account_name": account.name})
    sandbox.state.add_app(APP_ID, SECRET, callback_url=callback, token=TOKEN, encoding_aes_key=AES_KEY,
                          encrypt_mode="safe", original_id="gh_events")
    return account


def test_delivery_reports_reach_the_callback_and_set_each_recipients_final_status(sandbox, account):
    ok, blocked, broken = sandbox.state.add_followers(APP_ID, count=3)
    sandbox.state.followers[APP_ID][blocked].blocks_templates = True
    sandbox.state.followers[APP_ID][broken].template_job_status = "failed: system failed"
    sandbox.state.add_template(APP_ID, "Paid", "{{first.DATA}}", template_id="tpl_paid")
    # The reports come 1 s after each send. The test waits for them on the sandbox, not the
    # database: with SQLite the live server shares the test's connection, which two threads
    # must not use at once.
    sandbox.state.configure(push_job_finish=True, job_finish_delay=1.0)
    outbound.sync_templates(account)
    campaign = outbound.create_campaign(account, "Reports", "tpl_paid", {"first": "Paid"}, openids=[ok, blocked, broken])
    outbound.start_campaign(campaign)  # eager: sent at commit; the reports come back over HTTP
    assert wait_until(lambda: len(sandbox.state.pushes) == 3)  # recorded once the callback answered
    assert all(p["status"] == 200 for p in sandbox.state.pushes)
    rows = OutboundMessage.objects.filter(campaign=campaign)
    assert dict(rows.values_list("to_user", "delivery_status")) == {
        ok: "success", blocked: "failed:user block", broken: "failed: system failed"}
    assert Campaign.objects.get(pk=campaign.pk).delivery_counts() == {
        "failed: system failed": 1, "failed:user block": 1, "success": 1}


def test_a_report_that_arrives_before_the_msgid_is_recorded_waits_for_it(sandbox, account):
    openid = sandbox.state.add_followers(APP_ID, count=1)[0]
    message = OutboundMessage.objects.create(account=account, kind="text", to_user=openid, payload={"content": "x"})
    event = {"Event": "TEMPLATESENDJOBFINISH", "MsgID": "4242", "Status": "failed:user block"}
    assert sandbox.push_event(APP_ID, openid, event)["status"] == 200
    message.refresh_from_db()
    assert message.delivery_status == ""  # nothing carries msgid 4242 yet
    claim = outbound.claim(message.pk)
    outbound._record_sent(account.pk, claim, {message.pk: 4242})
    message.refresh_from_db()
    assert (message.status, message.msgid, message.delivery_status) == ("sent", 4242, "failed:user block")


def test_subscribe_and_unsubscribe_events_update_followers(sandbox, account):
    now = int(time.time())

    def push(event, at):  # distinct CreateTimes: the same event in the same second is a retry
        return sandbox.push_event(APP_ID, "onewfollower0001", {"Event": event, "CreateTime": at})["status"]

    assert push("subscribe", now - 2) == 200
    follower = Follower.objects.get(account=account, openid="onewfollower0001")
    assert follower.subscribed and follower.subscribe_time.timestamp() == now - 2
    assert push("unsubscribe", now - 1) == 200
    follower.refresh_from_db()
    assert not follower.subscribed and follower.unsubscribed_at.timestamp() == now - 1
    assert push("subscribe", now) == 200
    follower.refresh_from_db()
    assert follower.subscribed and follower.unsubscribed_at is None
