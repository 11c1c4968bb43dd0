"""Admin screens of the outbound side render and their buttons and actions act."""
import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from wechat_app.models import Campaign, Follower, OutboundMessage, Template
from wechat_app.services import outbound

from .conftest import APP_ID


@pytest.fixture
def staff(admin_client):
    return admin_client


def test_changelists_render(staff, account, followers):
    OutboundMessage.objects.create(account=account, kind="text", to_user=followers[0], payload={"content": "x"})
    for name in ("outboundmessage", "template", "campaign", "follower"):
        response = staff.get(f"/admin/wechat_app/{name}/")
        assert response.status_code == 200, name


def test_resend_action(staff, sandbox, account, followers, django_capture_on_commit_callbacks):
    message = OutboundMessage.objects.create(account=account, kind="text", to_user=followers[0],
                                             payload={"content": "again"}, status="failed", errcode=-1)
    with django_capture_on_commit_callbacks(execute=True):
        staff.post("/admin/wechat_app/outboundmessage/", {"action": "resend", ACTION_CHECKBOX_NAME: [message.pk]})
    message.refresh_from_db()
    assert message.status == "sent" and len(sandbox.state.list_messages()) == 1


def test_outbound_message_page_is_read_only_without_internal_fields(staff, account, followers):
    message = OutboundMessage.objects.create(account=account, kind="text", to_user=followers[0],
                                             payload={"content": "hello"}, claim="c" * 32)
    html = staff.get(f"/admin/wechat_app/outboundmessage/{message.pk}/change/").content.decode()
    assert 'name="_save"' not in html and 'name="_continue"' not in html
    assert "field-lease_until" not in html and "field-claim" not in html and "c" * 32 not in html
    assert "field-to_user" in html and "field-status" in html
    # a POST cannot change it either
    staff.post(f"/admin/wechat_app/outboundmessage/{message.pk}/change/", {"to_user": "someone-else"})
    message.refresh_from_db()
    assert message.to_user == followers[0]


def test_template_sync_button_on_an_empty_list(staff, sandbox, account):
    """Django hides the actions bar on an empty list: the first sync is a button (POST, CSRF)."""
    sandbox.state.add_template(APP_ID, "T", "{{first.DATA}}")
    html = staff.get("/admin/wechat_app/template/").content.decode()
    assert re.search(r'<form method="post" action="/admin/wechat_app/template/sync/"', html)
    assert "csrfmiddlewaretoken" in html
    response = staff.post("/admin/wechat_app/template/sync/")
    assert response.status_code == 302
    assert Template.objects.get(account=account).keywords == ["first"]
    assert "1 template(s) synced" in staff.get(response.url).content.decode()
    # a GET does nothing but go back to the list
    assert staff.get("/admin/wechat_app/template/sync/").status_code == 302


def test_sync_buttons_need_csrf(account, admin_user, sandbox):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    sandbox.state.add_template(APP_ID, "T", "{{first.DATA}}")
    assert client.post("/admin/wechat_app/template/sync/").status_code == 403
    assert not Template.objects.exists()


def test_follower_sync_button_on_an_empty_list(staff, sandbox, account, followers):
    html = staff.get("/admin/wechat_app/follower/").content.decode()
    assert 'action="/admin/wechat_app/follower/sync/"' in html
    response = staff.post("/admin/wechat_app/follower/sync/")
    assert response.status_code == 302
    assert set(Follower.objects.filter(account=account).values_list("openid", flat=True)) == set(followers)
    assert "Follower sync — demo: done 5/5" in staff.get(response.url).content.decode()


def test_account_page_syncs_its_templates_and_followers(staff, sandbox, account, followers):
    from wechat_app.models import Account

    other = Account.objects.create(name="other", app_id="wxother000001", app_secret="s" * 32, token="tok456",
                                   api_base_url=sandbox.url)
    sandbox.state.add_template(APP_ID, "T", "{{first.DATA}}")
    html = staff.get(f"/admin/wechat_app/account/{account.pk}/change/").content.decode()
    assert 'action="/admin/wechat_app/template/sync/"' in html and 'action="/admin/wechat_app/follower/sync/"' in html
    assert f'name="account" value="{account.pk}"' in html
    response = staff.post("/admin/wechat_app/template/sync/", {"account": account.pk})
    assert response.url == f"/admin/wechat_app/template/?account__id__exact={account.pk}"
    assert Template.objects.filter(account=account).count() == 1
    # only that account: the other (unknown to the sandbox, it would fail) was not asked
    shown = [str(m) for m in staff.get(response.url).context["messages"]]
    assert shown == ["demo: 1 template(s) synced, 0 gone from WeChat."]
    response = staff.post("/admin/wechat_app/follower/sync/", {"account": account.pk})
    assert Follower.objects.filter(account=account).count() == 5 and not Follower.objects.filter(account=other)
    for bad in ("abc", "²", "1\x00"):
        assert staff.post("/admin/wechat_app/template/sync/", {"account": bad}).status_code == 403
    assert staff.post("/admin/wechat_app/template/sync/", {"account": 999999}).status_code == 404


def test_campaign_progress_and_actions(staff, sandbox, account, followers, django_capture_on_commit_callbacks):
    sandbox.state.add_template(APP_ID, "T", "{{first.DATA}}", template_id="tpl1")
    outbound.sync_templates(account)
    campaign = outbound.create_campaign(account, "C", "tpl1", {"first": "x"}, openids=followers)
    with django_capture_on_commit_callbacks(execute=True):
        staff.post("/admin/wechat_app/campaign/", {"action": "start", ACTION_CHECKBOX_NAME: [campaign.pk]})
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE
    page = staff.get("/admin/wechat_app/campaign/").content.decode()
    assert "<progress" in page and "100% · 5/5" in page and "sent 5" in page
