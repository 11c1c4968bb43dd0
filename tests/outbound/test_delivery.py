"""Delivery of outbound messages (eager Celery here; a real worker in test_worker.py)."""
from datetime import timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from wechat_app.models import Campaign, Follower, OutboundMessage, Template
from wechat_app.protocol import NewsReply, TextReply, parse_message
from wechat_app.protocol.replies import Article
from wechat_app.services import outbound
from wechat_app.signals import message_received
from wechat_app.tasks import deliver_message, resume_outbound, sync_followers

from .conftest import APP_ID

Status = OutboundMessage.Status
CONTENT = "{{first.DATA}}\nOrder: {{order.DATA}}\n{{remark.DATA}}"


@pytest.fixture
def template(sandbox, account):
    sandbox.state.add_template(APP_ID, "Order paid", CONTENT, template_id="tpl_order_paid")
    outbound.sync_templates(account)
    return Template.objects.get(template_id="tpl_order_paid")


def delivered(sandbox, **filters):
    return sandbox.state.list_messages(app_id=APP_ID, **filters)


def test_custom_message_is_sent_and_recorded(sandbox, account, followers, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = outbound.queue_custom(account, followers[0], "text", {"content": "Hello"})
    message.refresh_from_db()
    assert message.status == Status.SENT and message.attempts == 1 and message.sent_at
    assert [m["payload"]["text"]["content"] for m in delivered(sandbox)] == ["Hello"]


def test_invalid_message_is_refused_and_nothing_queued(account, followers):
    with pytest.raises(ValidationError, match="needs media_id"):
        outbound.queue_custom(account, followers[0], "image", {})
    with pytest.raises(ValidationError, match="Unknown template"):
        outbound.queue_template(account, followers[0], "nope", {"first": "x"})
    assert not OutboundMessage.objects.exists()


def test_template_sync_parses_keywords_and_validates_sends(sandbox, account, template, followers):
    assert template.keywords == ["first", "order", "remark"] and template.title == "Order paid"
    with pytest.raises(ValidationError, match="unknown template keyword"):
        outbound.queue_template(account, followers[0], template.template_id,
                                {"first": "a", "order": "b", "remark": "c", "extra": "d"})
    with pytest.raises(ValidationError, match="missing template keyword.*remark"):
        outbound.queue_template(account, followers[0], template.template_id, {"first": "a", "order": "b"})
    sandbox.state.templates[APP_ID].clear()
    assert outbound.sync_templates(account) == {"synced": 0, "deactivated": 1}
    with pytest.raises(ValidationError):
        outbound.queue_template(account, followers[0], template.template_id, {"first": "a"})


def test_template_message_gets_msgid_and_job_finish_report(sandbox, account, template, followers,
                                                           django_capture_on_commit_callbacks):
    data = {"first": "Paid", "order": {"value": "A1", "color": "#173177"}, "remark": "Thanks"}
    with django_capture_on_commit_callbacks(execute=True):
        message = outbound.queue_template(account, followers[0], template.template_id, data,
                                          url="https://example.com/o/A1")
    message.refresh_from_db()
    sent = delivered(sandbox, kind="template")[0]
    assert message.status == Status.SENT and message.msgid == sent["msgid"]
    assert sent["payload"]["client_msg_id"] == message.idempotency_key
    xml = (f"<xml><ToUserName>gh_x</ToUserName><FromUserName>{followers[0]}</FromUserName><CreateTime>1</CreateTime>"
           f"<MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event><MsgID>{message.msgid}</MsgID>"
           "<Status>failed:user block</Status></xml>")
    message_received.send(sender=type(account), account=account, message=parse_message(xml))
    message.refresh_from_db()
    assert message.delivery_status == "failed:user block"


def test_idempotency_key_and_double_runs_send_once(sandbox, account, followers, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = outbound.queue_custom(account, followers[0], "text", {"content": "once"}, idempotency_key="k1")
        again = outbound.queue_custom(account, followers[0], "text", {"content": "once"}, idempotency_key="k1")
    assert first.pk == again.pk
    deliver_message.apply(args=(first.pk,))  # the task delivered twice (lost ack, retry...)
    deliver_message.apply(args=(first.pk,))
    assert len(delivered(sandbox)) == 1
    first.refresh_from_db()
    assert first.attempts == 1


def test_a_message_held_by_another_worker_is_not_sent_again(sandbox, account, followers):
    message = OutboundMessage.objects.create(account=account, kind="text", to_user=followers[0],
                                             payload={"content": "x"})
    assert outbound.claim(message.pk)  # a worker holds it
    assert outbound.deliver(message.pk).status == Status.SENDING
    assert delivered(sandbox) == []
    # That worker died: once its lease expired, the sweeper takes the message over.
    OutboundMessage.objects.filter(pk=message.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert resume_outbound() == 1
    message.refresh_from_db()
    assert message.status == Status.SENT and message.attempts == 2 and len(delivered(sandbox)) == 1


def test_permanent_errors_fail_at_once_with_the_reason(sandbox, account, followers):
    sandbox.state.followers[APP_ID][followers[1]].subscribe = 0
    sandbox.state.followers[APP_ID][followers[2]].interaction_expired = True
    results = {}
    for openid in (followers[1], followers[2], "onotfollowing01"):
        message = OutboundMessage.objects.create(account=account, kind="text", to_user=openid,
                                                 payload={"content": "x"})
        deliver_message.apply(args=(message.pk,))
        message.refresh_from_db()
        results[openid] = (message.status, message.errcode, message.attempts)
    assert results == {followers[1]: (Status.FAILED, 43004, 1), followers[2]: (Status.FAILED, 45015, 1),
                       "onotfollowing01": (Status.FAILED, 40003, 1)}
    assert OutboundMessage.objects.get(to_user=followers[1]).errmsg.startswith("require subscribe")


def test_transient_errors_retry_with_backoff_then_succeed(sandbox, account, followers, settings):
    settings.WECHAT_APP = {"OUTBOUND_RETRY_DELAY": 0.01}
    sandbox.state.add_fault("/cgi-bin/message/custom/send", errcode=-1, count=2)
    message = OutboundMessage.objects.create(account=account, kind="text", to_user=followers[0],
                                             payload={"content": "x"})
    outcome = outbound.deliver(message.pk)
    assert outcome.status == Status.QUEUED and 0 < outcome.retry_in < 1
    message.refresh_from_db()
    assert message.errcode == -1 and message.next_attempt_at is not None
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    resume_outbound()  # eager: the sweeper re-runs the due retry
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    resume_outbound()
    message.refresh_from_db()
    assert message.status == Status.SENT and message.attempts == 3 and len(delivered(sandbox)) == 1


def test_transient_errors_give_up_after_max_attempts(sandbox, account, followers, settings):
    settings.WECHAT_APP = {"OUTBOUND_MAX_ATTEMPTS": 2}
    sandbox.state.add_fault("/cgi-bin/message/custom/send", "http", status=502, count=None)
    message = OutboundMessage.objects.create(account=account, kind="text", to_user=followers[0],
                                             payload={"content": "x"})
    assert outbound.deliver(message.pk).status == Status.QUEUED
    assert outbound.deliver(message.pk).status == Status.FAILED
    message.refresh_from_db()
    assert "gave up after 2 attempts" in message.errmsg


def test_quota_errors_wait_without_limit(sandbox, account, followers, settings):
    settings.WECHAT_APP = {"OUTBOUND_MAX_ATTEMPTS": 1, "OUTBOUND_QUOTA_DELAY": 42}
    sandbox.state.add_fault("/cgi-bin/message/custom/send", errcode=45047, count=3)
    message = OutboundMessage.objects.create(account=account, kind="text", to_user=followers[0],
                                             payload={"content": "x"})
    for _ in range(3):
        outcome = outbound.deliver(message.pk)
        assert outcome.status == Status.QUEUED and outcome.retry_in == 42
    assert outbound.deliver(message.pk).status == Status.SENT


def test_dropped_connection_template_resend_is_deduplicated(sandbox, account, template, followers):
    sandbox.state.add_fault("/cgi-bin/message/template/send", "drop_after")  # sent, answer lost
    message = OutboundMessage.objects.create(
        account=account, kind="template", to_user=followers[0], template=template,
        payload={"template_id": template.template_id, "data": {"first": {"value": "x"}}})
    assert outbound.deliver(message.pk).status == Status.QUEUED
    assert outbound.deliver(message.pk).status == Status.SENT
    assert len(delivered(sandbox, kind="template")) == 1  # WeChat dropped the resend by client_msg_id


def test_send_reply_later_queues_customer_service_messages(sandbox, account, followers,
                                                          django_capture_on_commit_callbacks):
    reply = NewsReply(articles=[Article(title="A", url="https://a"), Article(title="B", url="https://b")])
    with django_capture_on_commit_callbacks(execute=True):
        messages = outbound.send_reply_later(account, followers[0], reply, idempotency_key="msg:1")
        outbound.send_reply_later(account, followers[0], reply, idempotency_key="msg:1")  # WeChat's retry
        outbound.send_reply_later(account, followers[1], TextReply(content="late"))
    assert [m.kind for m in messages] == ["news", "news"]
    assert [m["msgtype"] for m in delivered(sandbox)] == ["news", "news", "text"]


def test_followers_follow_events_and_sync(sandbox, account, followers):
    sandbox.state.add_followers(APP_ID, count=245)
    sandbox.state.configure(user_page_size=100)
    Follower.objects.create(account=account, openid="ogone000000001", subscribed=True)
    result = sync_followers.apply(args=(account.pk,)).get()
    assert result == {"total": 250, "synced": 250, "unsubscribed": 1}
    assert Follower.objects.filter(account=account, subscribed=True).count() == 250
    assert outbound.sync_followers_progress(account.pk) == {"status": "done", "done": 250, "total": 250}
    batch_calls = [c for c in sandbox.state.calls if c["path"] == "/cgi-bin/user/info/batchget"]
    assert len(batch_calls) == 3
    unsubscribe = (f"<xml><ToUserName>gh</ToUserName><FromUserName>{followers[0]}</FromUserName>"
                   "<CreateTime>1700000000</CreateTime><MsgType>event</MsgType><Event>unsubscribe</Event></xml>")
    message_received.send(sender=type(account), account=account, message=parse_message(unsubscribe))
    assert not Follower.objects.get(account=account, openid=followers[0]).subscribed
    message_received.send(sender=type(account), account=account,
                          message=parse_message(unsubscribe.replace("unsubscribe", "subscribe")
                                                .replace(followers[0], "onewfollower001")))
    assert Follower.objects.get(account=account, openid="onewfollower001").subscribed


def test_campaign_fans_out_and_counts(sandbox, account, template, followers, settings,
                                      django_capture_on_commit_callbacks):
    settings.WECHAT_APP = {"CAMPAIGN_CHUNK_SIZE": 2}
    sandbox.state.followers[APP_ID][followers[3]].subscribe = 0
    campaign = outbound.create_campaign(account, "Launch", template.template_id,
                                        {"first": "Hi", "order": "-", "remark": "!"},
                                        openids=followers + [followers[0]])
    with django_capture_on_commit_callbacks(execute=True):
        assert outbound.start_campaign(campaign) == 5
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE
    assert campaign.counts() == {"queued": 0, "sending": 0, "sent": 4, "failed": 1, "cancelled": 0}
    assert sorted(m["touser"] for m in delivered(sandbox, kind="template")) == sorted(set(followers) - {followers[3]})
    with pytest.raises(ValidationError):
        outbound.start_campaign(campaign)


def test_campaign_pause_resume_cancel(sandbox, account, template, followers, django_capture_on_commit_callbacks):
    campaign = outbound.create_campaign(account, "Later", template.template_id,
                                        {"first": "Hi", "order": "-", "remark": "!"}, openids=followers)
    with django_capture_on_commit_callbacks(execute=False):  # chunks not run yet
        outbound.start_campaign(campaign)
    outbound.pause_campaign(campaign)
    outbound.enqueue_campaign_chunks(campaign.pk)  # a chunk that runs while paused sends nothing
    assert delivered(sandbox) == []
    with django_capture_on_commit_callbacks(execute=True):
        outbound.start_campaign(campaign)  # resume
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE and campaign.counts()["sent"] == 5
    other = outbound.create_campaign(account, "Never", template.template_id,
                                     {"first": "Hi", "order": "-", "remark": "!"}, openids=followers)
    with django_capture_on_commit_callbacks(execute=False):
        outbound.start_campaign(other)
    assert outbound.cancel_campaign(other) == 5
    outbound.enqueue_campaign_chunks(other.pk)
    assert len(delivered(sandbox)) == 5 and other.counts()["cancelled"] == 5


def test_campaign_validation(account, template):
    with pytest.raises(ValidationError, match="missing template keyword"):
        outbound.create_campaign(account, "x", template.template_id, {"first": "a"}, openids=["o1"])
    with pytest.raises(ValidationError, match="at least one openid"):
        outbound.create_campaign(account, "x", template.template_id, {"first": "a", "order": "b", "remark": "c"})


def test_wechat_push_command(sandbox, account, template, followers, django_capture_on_commit_callbacks):
    out = StringIO()
    call_command("wechat_push", "text", "Hi there", "--account", "demo", "--to", followers[0], stdout=out)
    assert ": queued" in out.getvalue()  # in the test transaction; on commit it is delivered
    with django_capture_on_commit_callbacks(execute=True):
        call_command("wechat_push", "template", template.template_id, "--data", "first=Hello", "--data",
                     "order=A1#173177", "--data", "remark=ok", "--account", "demo", "--to", followers[0],
                     stdout=out)
    assert delivered(sandbox, kind="template")[0]["payload"]["data"]["order"] == {"value": "A1", "color": "#173177"}
    with pytest.raises(CommandError, match="missing template keyword"):
        call_command("wechat_push", "template", template.template_id, "--data", "first=x",
                     "--account", "demo", "--to", followers[0])
    sandbox.state.followers[APP_ID][followers[1]].subscribe = 0
    with django_capture_on_commit_callbacks(execute=True):
        call_command("wechat_push", "text", "x", "--account", "demo", "--to", followers[1], stdout=out)
    assert OutboundMessage.objects.get(to_user=followers[1]).errcode == 43004


def _started(account, template, openids):
    campaign = outbound.create_campaign(account, "Chunks", template.template_id,
                                        {"first": "Hi", "order": "-", "remark": "!"}, openids=openids)
    with mock.patch.object(outbound, "enqueue_campaign_chunks"):  # no lane runs: the test drives them
        outbound.start_campaign(campaign)
    return campaign


def test_campaign_rows_are_complete(account, template, followers):
    campaign = _started(account, template, followers)
    row = OutboundMessage.objects.filter(campaign=campaign).order_by("id").first()
    assert (row.status, row.attempts, row.kind, row.template_id, row.errmsg, row.claim) == \
        (Status.QUEUED, 0, "template", template.pk, "", "")
    assert row.idempotency_key == f"campaign:{campaign.pk}:{row.to_user}" and row.created_at and row.updated_at
    assert row.payload == {"template_id": template.template_id, "data": {
        "first": {"value": "Hi"}, "order": {"value": "-"}, "remark": {"value": "!"}}}
    assert campaign.messages.count() == 5


def test_campaign_batches_are_claimed_once_and_each_row_gets_its_msgid(sandbox, account, template, followers):
    campaign = _started(account, template, followers)
    first_claim, first = outbound.claim_campaign_batch(campaign.pk, 3)
    second_claim, second = outbound.claim_campaign_batch(campaign.pk, 3)
    assert len(first) == 3 and len(second) == 2 and not {m.pk for m in first} & {m.pk for m in second}
    assert outbound.claim_campaign_batch(campaign.pk, 3)[1] == []  # all held by live claims
    assert all(m.attempts == 1 for m in first + second)
    # The first claimer's worker died: its lease expires and the next claimer takes its rows.
    OutboundMessage.objects.filter(claim=first_claim).update(lease_until=timezone.now() - timedelta(seconds=1))
    result = outbound.deliver_chunk(campaign.pk)
    assert result.tally == {"sent": 3} and not result.more
    assert OutboundMessage.objects.filter(claim=first_claim).count() == 0  # a dead claim records nothing
    msgids = {m["touser"]: m["msgid"] for m in delivered(sandbox, kind="template")}
    assert dict(OutboundMessage.objects.filter(status=Status.SENT).values_list("to_user", "msgid")) == msgids


def test_a_quota_error_puts_the_rest_of_the_batch_back(sandbox, account, template, followers, settings):
    settings.WECHAT_APP = {"OUTBOUND_QUOTA_DELAY": 30}
    campaign = _started(account, template, followers)
    sandbox.state.add_fault("/cgi-bin/message/template/send", errcode=45009)
    result = outbound.deliver_chunk(campaign.pk)
    assert result.retry_in == 30 and not result.more and delivered(sandbox) == []
    rows = OutboundMessage.objects.filter(campaign=campaign)
    assert set(rows.values_list("status", flat=True)) == {Status.QUEUED}
    assert sorted(rows.values_list("attempts", flat=True)) == [0, 0, 0, 0, 1]  # only one was tried
    assert outbound.deliver_chunk(campaign.pk).tally == {}  # not due yet
    rows.update(next_attempt_at=timezone.now())
    assert outbound.due_campaign_ids() == [campaign.pk]
    resume_outbound()  # eager: the sweeper runs the campaign's lane
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE and len(delivered(sandbox)) == 5


def test_sweeper_resumes_a_campaign_whose_lanes_were_lost(sandbox, account, template, followers, settings):
    settings.WECHAT_APP = {"CAMPAIGN_CHUNK_SIZE": 2}
    campaign = _started(account, template, followers)
    assert outbound.due_campaign_ids() == []  # fresh: its lanes are presumably in the queue
    OutboundMessage.objects.filter(campaign=campaign).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert outbound.due_campaign_ids() == [campaign.pk]
    assert resume_outbound() == 1
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE
    assert sorted(m["touser"] for m in delivered(sandbox)) == sorted(followers)


def test_rate_limit_slots_are_shared_per_second(account):
    with mock.patch.object(outbound.time, "time", return_value=1_000_000.5):
        assert outbound.acquire_send_slots(account.pk, 25, 10) == 10
        assert outbound.acquire_send_slots(account.pk, 25, 10) == 10
        assert outbound.acquire_send_slots(account.pk, 25, 10) == 5  # what is left of this second
    assert outbound.acquire_send_slots(account.pk, 0, 7) == 7  # no limit
