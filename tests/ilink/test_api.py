"""The REST API of iLink bots: QR login to a polling account, the bots (never their token), the poller."""
import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from wechat_app.models import Account, AccountMembership, ILinkBot, MessageLog

from .conftest import inject, login_bot, sandbox_call

pytestmark = pytest.mark.django_db
API = "/wechat/api/"


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def post(client, url, data=None):
    return client.post(API + url, json.dumps(data or {}), content_type="application/json")


def test_login_through_the_api_to_a_polling_account(admin_client, ilink_sandbox):
    response = post(admin_client, "ilink-logins/", {"account": "apibot"})
    assert response.status_code == 201, response.content
    login = response.json()
    assert login["status"] == "wait" and login["qrcode_content"]
    png = admin_client.get(f"{API}ilink-logins/{login['session_id']}/qrcode/")
    assert png.status_code == 200, png.content
    assert png.content.startswith(b"\x89PNG")
    state = ilink_sandbox.state.__dict__["_ilink"]
    [qrcode] = list(state.logins)
    sandbox_call(ilink_sandbox, "POST", "/ilink/scan", {"qrcode": qrcode})
    assert admin_client.get(f"{API}ilink-logins/{login['session_id']}/status/?wait=1").json()["status"] == "scanned"
    sandbox_call(ilink_sandbox, "POST", "/ilink/confirm", {"qrcode": qrcode})
    done = admin_client.get(f"{API}ilink-logins/{login['session_id']}/status/?wait=1").json()
    assert done["status"] == "confirmed" and done["qrcode_content"] == ""
    bots = admin_client.get(API + "ilink-bots/").json()
    assert bots["results"][0]["account"] == "apibot" and bots["results"][0]["status"] == "active"
    bot = ILinkBot.objects.get(account__name="apibot")
    assert bot.bot_token not in json.dumps(bots)
    inject(ilink_sandbox, bot, "through the api")
    assert post(admin_client, "ilink-bots/poll/run-once/").json()["apibot"]["stored"] == 1
    assert MessageLog.objects.filter(account=bot.account, text="through the api").exists()
    stopped = post(admin_client, "ilink-bots/poll/stop/", {"accounts": ["apibot"]}).json()
    assert stopped == {"polling_enabled": False, "accounts": ["apibot"]}
    status = admin_client.get(API + "ilink-bots/poll/status/").json()
    assert status["poller"]["running"] is False and status["bots"][0]["polling_enabled"] is False
    assert post(admin_client, "ilink-bots/poll/start/").json()["accounts"] == ["apibot"]


def test_bad_input_is_a_clear_error(admin_client, ilink_sandbox):
    assert post(admin_client, "ilink-logins/", {"account": "no spaces"}).status_code == 400
    assert post(admin_client, "ilink-bots/poll/stop/", {"accounts": ["missing"]}).status_code == 400
    login = post(admin_client, "ilink-logins/", {"account": "x1"}).json()
    assert admin_client.get(f"{API}ilink-logins/{login['session_id']}/status/?wait=999").status_code == 400
    assert post(admin_client, f"ilink-logins/{login['session_id']}/cancel/").json()["status"] == "cancelled"


def test_another_teams_bots_and_logins_are_hidden(client, ilink_sandbox):
    login_bot(ilink_sandbox, "theirs")
    mine = Account.objects.create(name="mine", channel="ilink", app_id="mine@im.bot")
    user = get_user_model().objects.create_user("ed", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=[
        "view_ilinkbot", "change_ilinkbot", "view_ilinklogin", "add_ilinklogin", "change_ilinklogin"]))
    AccountMembership.objects.create(user=user, account=mine)
    client.force_login(user)
    assert client.get(API + "ilink-bots/").json()["results"] == []
    bot = ILinkBot.objects.get(account__name="theirs")
    assert client.get(f"{API}ilink-bots/{bot.pk}/").status_code == 404
    assert post(client, "ilink-bots/poll/stop/", {"accounts": ["theirs"]}).status_code == 400
    assert ILinkBot.objects.get(pk=bot.pk).polling_enabled
    assert post(client, "ilink-logins/", {"account": "theirs"}).status_code == 400
    assert post(client, "ilink-logins/", {"account": "brandnew"}).status_code == 403  # cannot add accounts
    assert post(client, "ilink-logins/", {"account": "mine"}).status_code == 201
