"""The admin's iLink pages: the bots (expired ones offer a new login), the QR login page, polling on/off."""
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from wechat_app.models import Account, AccountMembership, ILinkBot, ILinkLogin
from wechat_app.sandbox.ilink import ilink_state

from .conftest import login_bot, sandbox_call

pytestmark = pytest.mark.django_db
BOTS = "/admin/wechat_app/ilinkbot/"


@pytest.fixture
def admin_client(client):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_qr_login_page_to_an_active_bot(admin_client, ilink_sandbox):
    page = admin_client.get(BOTS + "login/")
    assert page.status_code == 200
    response = admin_client.post(BOTS + "login/", {"account": "adminbot"})
    assert response.status_code == 302
    status_url = response["Location"]
    page = admin_client.get(status_url)
    body = page.content.decode()
    assert "data:image/png;base64," in body and 'http-equiv="refresh"' in body
    [qrcode] = list(ilink_state(ilink_sandbox.state).logins)
    sandbox_call(ilink_sandbox, "POST", "/ilink/scan", {"qrcode": qrcode})
    assert "Scanned" in admin_client.get(status_url).content.decode()
    sandbox_call(ilink_sandbox, "POST", "/ilink/confirm", {"qrcode": qrcode})
    body = admin_client.get(status_url).content.decode()
    assert "Logged in" in body and "data:image/png" not in body
    bot = ILinkBot.objects.get(account__name="adminbot")
    listing = admin_client.get(BOTS).content.decode()
    assert bot.bot_id in listing and "not running" in listing and bot.bot_token not in listing
    assert bot.bot_token not in admin_client.get(f"{BOTS}{bot.pk}/change/").content.decode()


def test_an_expired_bot_offers_a_new_login_and_polling_switches(admin_client, ilink_sandbox):
    login_bot(ilink_sandbox, "old")
    bot = ILinkBot.objects.get(account__name="old")
    ILinkBot.objects.filter(pk=bot.pk).update(status="expired")
    listing = admin_client.get(BOTS).content.decode()
    assert "log in again" in listing and "login/?account=old" in listing
    again = admin_client.post(BOTS, {"action": "log_in_again", "_selected_action": [bot.pk]})
    assert again.status_code == 302 and again["Location"].endswith("/login/?account=old")
    admin_client.post(BOTS, {"action": "disable_polling", "_selected_action": [bot.pk]})
    assert not ILinkBot.objects.get(pk=bot.pk).polling_enabled
    response = admin_client.post(BOTS + "login/", {"account": "bad name"})
    assert response.status_code == 200 and ILinkLogin.objects.count() == 1


def test_another_teams_logins_and_bots_are_hidden(client, ilink_sandbox):
    login_bot(ilink_sandbox, "theirs")
    theirs = ILinkLogin.objects.get()
    mine = Account.objects.create(name="mine", channel="ilink", app_id="mine@im.bot")
    user = get_user_model().objects.create_user("ed", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=[
        "view_ilinkbot", "change_ilinkbot", "view_ilinklogin", "add_ilinklogin", "change_ilinklogin"]))
    AccountMembership.objects.create(user=user, account=mine)
    client.force_login(user)
    assert "theirs" not in client.get(BOTS).content.decode()
    assert client.get(f"{BOTS}login/{theirs.session_id}/").status_code == 404
    bot = ILinkBot.objects.get(account__name="theirs")
    assert client.get(f"{BOTS}{bot.pk}/change/").status_code in (302, 404)
    assert client.post(BOTS + "login/", {"account": "theirs"}).status_code == 200  # refused on the form
    assert client.post(BOTS + "login/", {"account": "mine"}).status_code == 302


def test_an_ilink_account_edits_without_secrets(admin_client, ilink_sandbox):
    from wechat_app.admin.accounts import check_account

    login_bot(ilink_sandbox, "edit")
    account = Account.objects.get(name="edit")
    page = admin_client.get(f"/admin/wechat_app/account/{account.pk}/change/")
    body = page.content.decode()
    assert page.status_code == 200 and 'name="app_secret"' not in body and 'name="token"' not in body
    response = admin_client.post(f"/admin/wechat_app/account/{account.pk}/change/", {
        "name": "edit", "enabled": "on", "no_match_reply": "Sorry?", "error_reply": "",
        "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0", "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000", "agent_settings-TOTAL_FORMS": "0", "agent_settings-INITIAL_FORMS": "0",
        "agent_settings-MIN_NUM_FORMS": "0", "agent_settings-MAX_NUM_FORMS": "1"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    account.refresh_from_db()
    assert account.no_match_reply == "Sorry?" and account.app_id == account.ilink_bot.bot_id
    assert [r.ok for r in check_account(account)] == [True, True, True]


def test_other_kinds_still_need_their_credentials(db):
    from django.core.exceptions import ValidationError

    account = Account(name="oa", app_id="wx1234567890", channel="mp")
    with pytest.raises(ValidationError) as err:
        account.full_clean()
    assert {"app_secret", "token"} <= set(err.value.message_dict)
    with pytest.raises(ValidationError) as err:
        Account(name="oa", app_id="bot@im.bot", app_secret="s" * 32, token="tok123").full_clean()
    assert "app_id" in err.value.message_dict
    Account(name="bot", app_id="bot@im.bot", channel="ilink").full_clean()
