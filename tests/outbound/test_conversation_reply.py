"""Replying to a user from the conversation view (issue 8 item 5): a customer-service text
message within WeChat's 48-hour window, queued through the outbound service."""
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from wechat_app.models import AccountMembership, MessageLog, OutboundMessage
from wechat_app.services import outbound

_n = {"i": 0}


def log(account, user, *, ago=timedelta(minutes=5), msg_type="text", event="", text="hi"):
    _n["i"] += 1
    row = MessageLog.objects.create(account=account, dedupe_key=f"k{_n['i']}", user=user, msg_type=msg_type,
                                    event=event, text=text, status="replied")
    MessageLog.objects.filter(pk=row.pk).update(created_at=timezone.now() - ago)
    return row


def url(account, user):
    return f"/admin/wechat_app/messagelog/conversation/{account.pk}/?user={user}"


@pytest.fixture
def staff(admin_client):
    return admin_client


def reply_form(client, account, user):
    return client.get(url(account, user)).context["reply_form"]


def test_reply_within_the_window_is_queued_and_delivered(staff, sandbox, account, followers,
                                                         django_capture_on_commit_callbacks):
    user = followers[0]
    log(account, user, ago=timedelta(hours=3))
    page = staff.get(url(account, user)).content.decode()
    assert 'id="wx-reply"' in page and "you can reply for" in page and "disabled" not in page.split('id="wx-reply"')[1]
    key = reply_form(staff, account, user).initial["key"]
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(url(account, user), {"text": "We are on it.", "key": key})
    assert response.status_code == 302 and response.url == url(account, user)
    message = OutboundMessage.objects.get()
    assert (message.kind, message.to_user, message.payload, message.status) == (
        "text", user, {"content": "We are on it."}, "sent")
    assert sandbox.state.list_messages(touser=user)[0]["payload"]["text"]["content"] == "We are on it."
    # the operator's message shows in the thread, after the user's
    page = staff.get(url(account, user)).content.decode()
    assert page.index(">hi<") < page.index("We are on it.") and "sent by an operator" in page
    # a double submit (same form) queues nothing more
    staff.post(url(account, user), {"text": "We are on it.", "key": key})
    assert OutboundMessage.objects.count() == 1


def test_window_closed_after_48_hours(staff, account, followers):
    user = followers[0]
    log(account, user, ago=timedelta(hours=49))
    page = staff.get(url(account, user)).content.decode()
    assert "Reply disabled: the user last wrote 2" in page and "within 48 hours" in page
    box = page.split('id="wx-reply"')[1]
    assert "<textarea" in box and " disabled>" in box or " disabled " in box
    response = staff.post(url(account, user), {"text": "late", "key": "a" * 32})
    assert response.status_code == 200 and "outside that window" in response.content.decode()
    assert not OutboundMessage.objects.exists()


def test_system_events_do_not_open_the_window(account, followers):
    user = followers[0]
    log(account, user, ago=timedelta(hours=60))
    log(account, user, ago=timedelta(minutes=1), msg_type="event", event="TEMPLATESENDJOBFINISH", text="")
    log(account, user, ago=timedelta(minutes=1), msg_type="event", event="VIEW", text="")
    window = outbound.customer_service_window(account, user)
    assert not window.open and window.last_interaction < timezone.now() - timedelta(hours=59)
    log(account, user, ago=timedelta(minutes=2), msg_type="event", event="CLICK", text="")
    assert outbound.customer_service_window(account, user).open


def test_never_wrote(staff, account):
    page = staff.get(url(account, "o_stranger")).content.decode()
    assert "has not written to the account" in page


@pytest.mark.parametrize("text, error", [("", "required"), ("x" * 2049, "At most 2048 bytes"),
                                         ("a\x00b", "Null characters are not allowed")])
def test_bad_text_is_a_form_error(staff, account, followers, text, error):
    log(account, followers[0])
    response = staff.post(url(account, followers[0]), {"text": text, "key": "b" * 32})
    assert response.status_code == 200 and error in response.content.decode()
    assert not OutboundMessage.objects.exists()


def test_bad_openid_or_key_is_refused(staff, account):
    log(account, "bad user!")
    response = staff.post(url(account, "bad user!"), {"text": "hi", "key": "c" * 32})
    assert response.status_code == 200 and "An openid is" in response.content.decode()
    response = staff.post(url(account, "bad"), {"text": "hi", "key": "not-a-key"})
    assert response.status_code == 200 and "Reload the page" in response.content.decode()
    assert not OutboundMessage.objects.exists()


def test_reply_needs_the_add_permission(client, django_user_model, account, followers):
    user = django_user_model.objects.create_user("reader", "r@example.com", "pw-12345678", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_messagelog"]))
    AccountMembership.objects.create(user=user, account=account)
    client.force_login(user)
    log(account, followers[0])
    page = client.get(url(account, followers[0]))
    assert page.status_code == 200 and 'id="wx-reply"' not in page.content.decode()
    assert client.post(url(account, followers[0]), {"text": "hi", "key": "d" * 32}).status_code == 403
    assert not OutboundMessage.objects.exists()
    user.user_permissions.add(Permission.objects.get(codename="add_outboundmessage"))
    client.force_login(django_user_model.objects.get(pk=user.pk))
    assert 'id="wx-reply"' in client.get(url(account, followers[0])).content.decode()


def test_reply_to_another_accounts_user_is_forbidden(client, django_user_model, account, followers):
    from wechat_app.models import Account

    other = Account.objects.create(name="other", app_id="wxother000001", app_secret="s" * 32, token="tok456")
    user = django_user_model.objects.create_user("op", "o@example.com", "pw-12345678", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_messagelog", "add_outboundmessage"]))
    AccountMembership.objects.create(user=user, account=account)
    client.force_login(user)
    log(other, "o_x")
    assert client.post(url(other, "o_x"), {"text": "hi", "key": "e" * 32}).status_code == 404
    assert not OutboundMessage.objects.exists()
