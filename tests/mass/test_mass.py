"""Mass send against the sandbox: the body WeChat gets, quotas refused before calling WeChat,
idempotent retries (clientmsgid), preview, status, delete, and the job-finish report."""
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from wechat_app.models import Account, MassMessage, Tag
from wechat_app.protocol import parse_message
from wechat_app.sandbox.mass import REPORT_OPENID, report_fields
from wechat_app.sandbox.server import build_event_xml
from wechat_app.services import audience
from wechat_app.services import mass as mass_service

pytestmark = pytest.mark.django_db
Status = MassMessage.Status
SENDALL = "/cgi-bin/message/mass/sendall"


def text(account, **kwargs):
    kwargs.setdefault("audience", "all")
    return mass_service.create_mass(account, name="Sale", kind="text", content={"content": "50% off"}, **kwargs)


def test_send_to_all_followers(queue, sandbox, account, followers):
    mass = queue(text(account))  # eager: sent at commit (here: at once)
    mass.refresh_from_db()
    assert mass.status == Status.SUBMITTED and mass.msg_id and mass.sent_at
    (call,) = sandbox.state.list_calls(SENDALL)
    assert call["body"]["filter"] == {"is_to_all": True}
    assert call["body"]["text"] == {"content": "50% off"} and call["body"]["clientmsgid"] == mass.clientmsgid
    send = sandbox.state.mass.sends[mass.msg_id]
    assert sorted(send["recipients"]) == sorted(followers)


def test_send_to_a_tag_and_to_openids(queue, sandbox, account, followers):
    tag = audience.create_tag(account, "VIP")
    audience.tag_followers(tag, followers[:2])
    by_tag = queue(mass_service.create_mass(
        account, name="VIP", kind="mpnews", content={"media_id": "news_media_1"}, audience="tag", tag=tag,
        send_ignore_reprint=True))
    by_tag.refresh_from_db()
    body = sandbox.state.list_calls(SENDALL)[0]["body"]
    assert body["filter"] == {"is_to_all": False, "tag_id": tag.tag_id} and body["send_ignore_reprint"] == 1
    assert by_tag.msg_data_id and sorted(sandbox.state.mass.sends[by_tag.msg_id]["recipients"]) == sorted(followers[:2])
    by_list = queue(mass_service.create_mass(
        account, name="List", kind="image", content={"media_ids": ["img1", "img2"]}, audience="list",
        openids=followers[2:4]))
    by_list.refresh_from_db()
    body = sandbox.state.list_calls("/cgi-bin/message/mass/send")[0]["body"]
    assert body["touser"] == followers[2:4] and body["images"] == {"media_ids": ["img1", "img2"]}
    assert by_list.status == Status.SUBMITTED


@pytest.mark.parametrize("kwargs, field, message", [
    ({"audience": "list", "openids": ["oonlyone0001"]}, "openids", "2 to 10,000"),
    ({"audience": "list", "openids": [f"o{i:08d}" for i in range(10_001)]}, "openids", "2 to 10,000"),
    ({"audience": "list", "openids": ["bad openid!"]}, "openids", "Not an openid"),
    ({"audience": "tag"}, "tag", "needs a tag"),
    ({"kind": "voice", "content": {}}, "content", "needs media_id"),
    ({"kind": "wxcard", "content": {"media_id": "x"}}, "content", "card_id"),
    ({"kind": "text", "content": {"content": "x" * 2049}}, "content", "2048 bytes"),
    ({"kind": "video", "content": {"media_id": "x"}}, "kind", "not a valid choice"),
])
def test_invalid_mass_messages_are_refused_with_a_reason(sandbox, account, kwargs, field, message):
    kwargs.setdefault("kind", "text")
    kwargs.setdefault("content", {"content": "hi"})
    kwargs.setdefault("audience", "all")
    with pytest.raises(ValidationError) as err:
        mass_service.create_mass(account, name="x", **kwargs)
    assert message in " ".join(err.value.message_dict[field])
    assert not MassMessage.objects.exists() and not sandbox.state.list_calls(SENDALL)


@pytest.mark.parametrize("kind, limit, period_end", [("subscription", 1, timedelta(days=1)),
                                                     ("service", 4, timedelta(days=32))])
def test_the_quota_is_refused_before_calling_wechat(queue, sandbox, account, kind, limit, period_end):
    Account.objects.filter(pk=account.pk).update(kind=kind)
    account.refresh_from_db()
    for _ in range(limit):
        queue(text(account))
    assert mass_service.quota(account).left == 0
    extra = text(account)
    with pytest.raises(ValidationError, match=f"{limit} of {limit} mass send.*Nothing was sent"):
        mass_service.queue_mass(extra)
    assert len(sandbox.state.list_calls(SENDALL)) == limit
    assert MassMessage.objects.get(pk=extra.pk).status == Status.DRAFT
    # Previews do not count; the next period has its quota again.
    later = timezone.now() + period_end
    assert mass_service.quota(account, now=later).left == limit


def test_wechat_quota_answer_fails_the_send_with_the_reason(queue, sandbox, account):
    sandbox.state.mass.config["mass_quota"] = 0
    mass = queue(text(account))
    mass.refresh_from_db()
    assert (mass.status, mass.errcode) == (Status.FAILED, 45028) and "quota" in mass.errmsg


def test_a_retried_send_is_not_sent_twice(queue, sandbox, account, followers):
    """The first call reaches WeChat but its answer is lost: the retry, with the same clientmsgid,
    is answered 45065 with the first msg_id, and nothing is sent again."""
    sandbox.state.add_fault(SENDALL, "drop_after")
    mass = queue(text(account))
    mass.refresh_from_db()
    assert mass.status == Status.QUEUED and mass.msg_id is None  # the answer was lost: retry later
    assert len(sandbox.state.mass.sends) == 1
    MassMessage.objects.filter(pk=mass.pk).update(lease_until=timezone.now())  # the retry is due
    assert mass.pk in mass_service.due_mass_ids()
    assert mass_service.send_mass(mass.pk).status == Status.SUBMITTED
    mass.refresh_from_db()
    (first,) = sandbox.state.mass.sends
    assert mass.msg_id == first and sandbox.state.mass.resends_answered == 1
    assert [c["errcode"] for c in sandbox.state.list_calls(SENDALL)] == [0, 45065]
    # A second run of the task (a redelivered message) finds nothing to send.
    assert mass_service.send_mass(mass.pk).status == Status.SUBMITTED
    assert len(sandbox.state.list_calls(SENDALL)) == 2


def test_transient_errors_retry_and_permanent_ones_fail(queue, sandbox, account):
    sandbox.state.add_fault(SENDALL, "error", errcode=-1)
    mass = queue(text(account))
    mass.refresh_from_db()
    assert mass.status == Status.QUEUED and mass.errcode == -1
    MassMessage.objects.filter(pk=mass.pk).update(lease_until=None)
    assert mass_service.send_mass(mass.pk).status == Status.SUBMITTED
    sandbox.state.add_fault(SENDALL, "error", errcode=45009)  # daily API quota: retried later
    second = queue(text(account))
    second.refresh_from_db()
    assert second.status == Status.QUEUED and second.errcode == 45009
    tag = Tag.objects.create(account=account, tag_id=999, name="Gone on WeChat")
    third = queue(text(account, audience="tag", tag=tag))
    third.refresh_from_db()
    assert (third.status, third.errcode) == (Status.FAILED, 45159)


def test_preview_status_and_delete(queue, sandbox, account, followers):
    mass = mass_service.create_mass(account, name="News", kind="mpnews", content={"media_id": "news_media_1"},
                                    audience="all")
    msg_id = mass_service.preview_mass(mass, followers[0])
    (preview,) = sandbox.state.mass.previews
    assert preview["touser"] == followers[0] and preview["msg_id"] == msg_id
    assert MassMessage.objects.get(pk=mass.pk).status == Status.DRAFT
    with pytest.raises(ValidationError, match="refused"):
        mass_service.preview_mass(mass, "onotafollower1")
    with pytest.raises(ValidationError, match="not been submitted"):
        mass_service.refresh_status(mass)
    queue(mass)
    mass.refresh_from_db()
    assert mass_service.refresh_status(mass).status == Status.DONE
    assert mass.wechat_status == "SEND_SUCCESS"
    mass_service.delete_mass(mass)
    assert mass.status == Status.DELETED and sandbox.state.mass.sends[mass.msg_id]["status"] == "DELETE"
    text_mass = queue(text(account))
    text_mass.refresh_from_db()
    with pytest.raises(ValidationError, match="only articles"):
        mass_service.delete_mass(text_mass)


def report_message(send, **changes):
    fields = dict(report_fields(send), **changes)
    app = type("App", (), {"original_id": "gh_mass"})()
    return parse_message(build_event_xml(app, REPORT_OPENID, fields))


def test_the_report_is_recorded_once_and_may_come_before_the_msg_id(queue, sandbox, account, followers):
    sandbox.state.mass.config["mass_error_count"] = 1
    mass = queue(text(account))
    mass.refresh_from_db()
    send = sandbox.state.mass.sends[mass.msg_id]
    assert mass_service.handle_mass_job_finish(account, report_message(send)) == 1
    mass.refresh_from_db()
    assert (mass.total_count, mass.filter_count, mass.sent_count, mass.error_count) == (5, 5, 4, 1)
    assert mass.status == Status.DONE and mass.wechat_status == "send success"
    # A retried push (with other figures) changes nothing.
    assert mass_service.handle_mass_job_finish(account, report_message(send, SentCount=0)) == 0
    mass.refresh_from_db()
    assert mass.sent_count == 4
    # A report for a msg_id not recorded yet waits, and is applied when the send is recorded.
    early = mass_service.create_mass(account, name="Early", kind="text", content={"content": "x"}, audience="all")
    fake = {"msg_id": 777, "total": 9, "filtered": 8, "sent": 8, "errors": 0}
    assert mass_service.handle_mass_job_finish(account, report_message(fake)) == 0
    MassMessage.objects.filter(pk=early.pk).update(status=Status.SENDING)
    mass_service._record_submitted(early, {"msg_id": 777})
    early.refresh_from_db()
    assert (early.msg_id, early.total_count, early.sent_count, early.status) == (777, 9, 8, Status.DONE)


def test_the_sweeper_sends_a_mass_message_whose_task_was_lost(sandbox, account):
    """Queued, but the task never ran (the broker lost it): the beat's resume_outbound sends it."""
    from wechat_app import tasks

    mass = mass_service.queue_mass(text(account))  # on_commit never fires here: the task is "lost"
    assert MassMessage.objects.get(pk=mass.pk).status == Status.QUEUED
    assert tasks.resume_outbound() >= 1  # eager: the task runs here
    mass.refresh_from_db()
    assert mass.status == Status.SUBMITTED and len(sandbox.state.mass.sends) == 1
    tasks.resume_outbound()
    assert len(sandbox.state.list_calls(SENDALL)) == 1
