"""The agent gateway in the admin: settings on the account page (the shared secret write-only),
the events per account with their attempts, retry and release."""
import pytest
from django.contrib.admin import helpers

from tests.agent.conftest import USER, agent_settings
from tests.wechat_client import message_xml
from wechat_app.models import AgentDeliveryAttempt, AgentEvent, AgentSettings
from wechat_app.protocol import parse_message
from wechat_app.services import agent

pytestmark = pytest.mark.django_db


def account_form(account, **agent_fields):
    data = {"name": account.name, "app_id": account.app_id, "app_secret": "", "token": "", "encoding_aes_key": "",
            "encrypt_mode": account.encrypt_mode, "api_base_url": account.api_base_url, "enabled": "on",
            "kind": account.kind, "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000",
            "agent_settings-TOTAL_FORMS": "1", "agent_settings-INITIAL_FORMS": "0",
            "agent_settings-MIN_NUM_FORMS": "0", "agent_settings-MAX_NUM_FORMS": "1"}
    existing = AgentSettings.objects.filter(account=account).first()
    if existing:
        data.update({"agent_settings-INITIAL_FORMS": "1", "agent_settings-0-id": str(existing.pk)})
    data.update({f"agent_settings-0-{k}": v for k, v in agent_fields.items()})
    data["agent_settings-0-account"] = str(account.pk)
    return data


def test_settings_on_the_account_page_keep_the_secret_write_only(admin_client, shop):
    url = f"/admin/wechat_app/account/{shop.pk}/change/"
    resp = admin_client.post(url, account_form(shop, mode="callback", scope="unanswered",
                                                callback_url="https://agent.example.com/events",
                                                shared_secret="very-secret-value-42", max_attempts="4"))
    assert resp.status_code == 302, resp.context["adminform"].form.errors if resp.context else resp
    settings = AgentSettings.objects.get(account=shop)
    assert settings.shared_secret == "very-secret-value-42" and settings.max_attempts == 4
    page = admin_client.get(url).content.decode()
    assert "very-secret-value-42" not in page and "agent gateway" in page.lower()
    # Saved again with the secret box empty: the stored secret stays.
    resp = admin_client.post(url, account_form(shop, mode="inbox", scope="all", callback_url="",
                                                shared_secret="", max_attempts="4"))
    assert resp.status_code == 302
    settings.refresh_from_db()
    assert settings.mode == "inbox" and settings.shared_secret == "very-secret-value-42"


def test_callback_mode_needs_a_url(admin_client, shop):
    resp = admin_client.post(f"/admin/wechat_app/account/{shop.pk}/change/",
                             account_form(shop, mode="callback", scope="unanswered", callback_url="",
                                          shared_secret="", max_attempts="5"))
    assert resp.status_code == 200 and "needs a callback URL" in resp.content.decode()
    assert not AgentSettings.objects.exists()


def test_a_callback_url_with_credentials_is_refused(admin_client, shop):
    resp = admin_client.post(f"/admin/wechat_app/account/{shop.pk}/change/",
                             account_form(shop, mode="callback", scope="unanswered",
                                          callback_url="https://user:pw@agent.example/events",
                                          shared_secret="", max_attempts="5"))
    assert resp.status_code == 200 and "must not carry a user name or password" in resp.content.decode()
    assert not AgentSettings.objects.exists()


def test_a_view_only_user_sees_the_settings_without_the_secret(client, shop):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    from wechat_app.models import AccountMembership

    agent_settings(shop, mode="callback", callback_url="https://agent.example/events", shared_secret="top-secret-1")
    user = get_user_model().objects.create_user("viewer", password=None, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_account"))
    AccountMembership.objects.create(user=user, account=shop)
    client.force_login(user)
    page = client.get(f"/admin/wechat_app/account/{shop.pk}/change/").content.decode()
    assert "https://agent.example/events" in page and "top-secret-1" not in page


def test_events_list_detail_retry_and_release(admin_client, shop):
    agent_settings(shop, mode="inbox")
    failed = agent.hand_off(shop, parse_message(message_xml("text", user=USER, Content="failed one")))
    claimed = agent.hand_off(shop, parse_message(message_xml("text", user=USER, Content="claimed one")))
    AgentEvent.objects.filter(pk=failed.pk).update(status="failed", error="HTTP 500")
    AgentDeliveryAttempt.objects.create(event=failed, number=1, status_code=500, error="HTTP 500: boom")
    agent.claim(claimed, "w1")
    listing = admin_client.get("/admin/wechat_app/agentevent/?status__exact=failed").content.decode()
    assert "failed one" in listing and "claimed one" not in listing
    detail = admin_client.get(f"/admin/wechat_app/agentevent/{failed.pk}/change/").content.decode()
    assert "HTTP 500: boom" in detail
    admin_client.post("/admin/wechat_app/agentevent/", {"action": "retry_events",
                                                        helpers.ACTION_CHECKBOX_NAME: [failed.pk]})
    admin_client.post("/admin/wechat_app/agentevent/", {"action": "release_events",
                                                        helpers.ACTION_CHECKBOX_NAME: [claimed.pk]})
    assert set(AgentEvent.objects.values_list("status", flat=True)) == {"pending"}


def test_agent_reply_in_the_rule_form(admin_client, shop):
    from wechat_app.models import Rule

    rule = Rule.objects.create(account=shop, name="human", match_kind="exact", match_value="human",
                               replies=[{"type": "agent"}])
    page = admin_client.get(f"/admin/wechat_app/rule/{rule.pk}/change/").content.decode()
    assert "Hand to the agent" in page
    listing = admin_client.get("/admin/wechat_app/rule/").content.decode()
    assert "hand to the agent" in listing
