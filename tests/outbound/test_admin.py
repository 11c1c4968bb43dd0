"""Admin screens of the outbound side render and their actions act."""
import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from wechat_app.models import Campaign, OutboundMessage, Template
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


def test_template_sync_action_on_empty_list(staff, sandbox, account):
    sandbox.state.add_template(APP_ID, "T", "{{first.DATA}}")
    staff.post("/admin/wechat_app/template/", {"action": "sync", "index": 0})
    assert Template.objects.get(account=account).keywords == ["first"]


def test_campaign_progress_and_actions(staff, sandbox, account, followers, django_capture_on_commit_callbacks):
    sandbox.state.add_template(APP_ID, "T", "{{first.DATA}}", template_id="tpl1")
    outbound.sync_templates(account)
    campaign = outbound.create_campaign(account, "C", "tpl1", {"first": "x"}, openids=followers)
    with django_capture_on_commit_callbacks(execute=True):
        staff.post("/admin/wechat_app/campaign/", {"action": "start", ACTION_CHECKBOX_NAME: [campaign.pk]})
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE
    page = staff.get("/admin/wechat_app/campaign/").content.decode()
    assert "<progress" in page and "100% — sent 5" in page
