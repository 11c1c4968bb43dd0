"""App messages through the REST API (POST /outbound-messages/wecom/) and the admin, and the
account admin of a WeCom app."""
import json

import pytest
from django.contrib.auth import get_user_model

from tests.api_errors import error_fields
from wechat_app.api.outbound import WECOM_EXAMPLES
from wechat_app.models import Account, OutboundMessage

from .conftest import AES_KEY, AGENT_ID, CORP_ID, SECRET, TOKEN

pytestmark = pytest.mark.django_db
MESSAGES = "/wechat/api/outbound-messages"


@pytest.fixture
def api(client, db):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", None))
    return client


def post(client, url, data, **headers):
    return client.post(url, json.dumps(data), content_type="application/json",
                       **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})


@pytest.fixture
def media_id(sandbox, wecom_account):
    from wechat_app.services import wecom

    return wecom.upload_media(wecom_account, "file", "a.pdf", b"%PDF-1.4 data")


@pytest.mark.parametrize("msgtype", sorted(WECOM_EXAMPLES))
def test_every_documented_example_is_sent(api, sandbox, wecom_account, media_id, msgtype,
                                          django_capture_on_commit_callbacks):
    content = WECOM_EXAMPLES[msgtype]
    if msgtype == "file":
        content = {"media_id": media_id}
    with django_capture_on_commit_callbacks(execute=True):
        resp = post(api, f"{MESSAGES}/wecom/", {"account": "hr", "msgtype": msgtype, "content": content,
                                                "touser": ["zhangsan", "ghost"], "toparty": [1]})
    assert resp.status_code == 202, resp.content
    message = api.get(f"{MESSAGES}/{resp.json()['id']}/").json()
    assert message["status"] == "sent" and message["kind"] == "wecom_app", message
    assert message["invalid_user"] == "ghost" and message["wecom_msgid"]
    [delivered] = sandbox.state.wecom.list_messages()
    assert delivered["payload"][msgtype] == content


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"msgtype": "text", "content": {"content": "x"}, "touser": []}, "touser", "no recipient"),
    ({"msgtype": "text", "content": {"content": "x"}, "touser": ["@all", "lisi"]}, "touser", "@all"),
    ({"msgtype": "fax", "content": {}}, "msgtype", "fax"),
    ({"msgtype": "textcard", "content": {"title": "t"}}, "content", "description, url required"),
    ({"msgtype": "markdown", "content": {"content": "x"}, "safe": True}, "content", "safe"),
    ({"msgtype": "text", "content": {"content": "x"}, "toparty": [0]}, "toparty", "0"),
    ({"msgtype": "text", "content": {"content": "x"}, "account": "shop"}, "account", "not a WeCom app"),
])
def test_invalid_app_messages_name_the_field(api, wecom_account, body, field, words):
    Account.objects.create(name="shop", app_id="wx0123456789abcdef", app_secret="s", token="tok")
    resp = post(api, f"{MESSAGES}/wecom/", {"account": "hr", "touser": ["zhangsan"], **body})
    assert resp.status_code == 400, resp.content
    fields = error_fields(resp)
    assert field in fields and words in str(fields[field]), fields
    assert not OutboundMessage.objects.exists()


def test_idempotency_key_replays_the_first_answer(api, sandbox, wecom_account, django_capture_on_commit_callbacks):
    body = {"account": "hr", "msgtype": "text", "content": {"content": "once"}, "touser": ["lisi"]}
    with django_capture_on_commit_callbacks(execute=True):
        first = post(api, f"{MESSAGES}/wecom/", body, **{"Idempotency-Key": "leave-7"})
    again = post(api, f"{MESSAGES}/wecom/", body, **{"Idempotency-Key": "leave-7"})
    assert again.json()["id"] == first.json()["id"] and again["Idempotent-Replayed"] == "true"
    assert len(sandbox.state.wecom.list_messages()) == 1
    listed = api.get(f"{MESSAGES}/?kind=wecom_app").json()
    assert listed["count"] == 1


def test_view_only_users_cannot_send(client, wecom_account):
    from django.contrib.auth.models import Permission

    from wechat_app.models import AccountMembership

    user = get_user_model().objects.create_user("viewer", password=None, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_outboundmessage"))
    AccountMembership.objects.create(user=user, account=wecom_account)
    client.force_login(user)
    body = {"account": "hr", "msgtype": "text", "content": {"content": "x"}, "touser": ["lisi"]}
    assert post(client, f"{MESSAGES}/wecom/", body).status_code == 403
    assert client.get("/admin/wechat_app/outboundmessage/wecom-send/").status_code == 403


# --- the admin ------------------------------------------------------------------------------------
def test_admin_composes_an_app_message(admin_client, sandbox, wecom_account, django_capture_on_commit_callbacks):
    page = admin_client.get("/admin/wechat_app/outboundmessage/")
    assert "/admin/wechat_app/outboundmessage/wecom-send/" in page.content.decode()
    url = "/admin/wechat_app/outboundmessage/wecom-send/"
    assert admin_client.get(url).status_code == 200
    bad = admin_client.post(url, {"account": wecom_account.pk, "msgtype": "text", "text": "", "key": "k" * 32})
    assert bad.status_code == 200 and "text" in bad.context["form"].errors
    nobody = admin_client.post(url, {"account": wecom_account.pk, "msgtype": "text", "text": "hi", "key": "k" * 32})
    assert "no recipient" in str(nobody.context["form"].non_field_errors())
    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client.post(url, {"account": wecom_account.pk, "msgtype": "text", "text": "Hello team",
                                       "touser": "zhangsan, ghost", "toparty": "1", "key": "k" * 32})
    assert done.status_code == 302
    message = OutboundMessage.objects.get()
    assert message.status == "sent" and message.invalid_user == "ghost"
    detail = admin_client.get(f"/admin/wechat_app/outboundmessage/{message.pk}/change/").content.decode()
    assert "ghost" in detail and message.wecom_msgid in detail


def test_admin_creates_and_shows_a_wecom_app(admin_client):
    data = {"name": "ops", "channel": "wecom", "app_id": CORP_ID, "agent_id": str(AGENT_ID), "app_secret": SECRET,
            "token": TOKEN, "encoding_aes_key": AES_KEY, "encrypt_mode": "plain", "api_base_url": "",
            "enabled": "on", "kind": "service", "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000",
            "agent_settings-TOTAL_FORMS": "0", "agent_settings-INITIAL_FORMS": "0",
            "agent_settings-MIN_NUM_FORMS": "0", "agent_settings-MAX_NUM_FORMS": "1"}
    missing = admin_client.post("/admin/wechat_app/account/add/", {**data, "agent_id": ""})
    assert missing.status_code == 200 and "agent_id" in missing.context["adminform"].form.errors
    assert admin_client.post("/admin/wechat_app/account/add/", data).status_code == 302
    account = Account.objects.get(name="ops")
    assert (account.channel, account.agent_id, account.encrypt_mode) == ("wecom", AGENT_ID, "safe")
    page = admin_client.get(f"/admin/wechat_app/account/{account.pk}/change/").content.decode()
    assert "Corp ID" in page and "Agent id" in page and "设置API接收" in page and SECRET not in page and AES_KEY not in page
    # the kind is fixed once created
    change = {**data, "channel": "mp", "app_secret": "", "token": "", "encoding_aes_key": ""}
    assert admin_client.post(f"/admin/wechat_app/account/{account.pk}/change/", change).status_code == 302
    assert Account.objects.get(pk=account.pk).channel == "wecom"


def test_accounts_api_creates_a_wecom_app(api):
    body = {"name": "ops", "channel": "wecom", "app_id": CORP_ID, "agent_id": AGENT_ID, "app_secret": SECRET,
            "token": TOKEN, "encoding_aes_key": AES_KEY}
    missing = post(api, "/wechat/api/accounts/", {**body, "agent_id": None})
    assert missing.status_code == 400 and "agent_id" in error_fields(missing)
    created = post(api, "/wechat/api/accounts/", body)
    assert created.status_code == 201, created.content
    data = created.json()
    assert (data["channel"], data["agent_id"], data["encrypt_mode"]) == ("wecom", AGENT_ID, "safe")
    assert SECRET not in created.content.decode() and AES_KEY not in created.content.decode()
    changed = api.patch("/wechat/api/accounts/ops/", json.dumps({"channel": "mp"}), content_type="application/json")
    assert changed.status_code == 400 and "channel" in error_fields(changed)
    assert Account.objects.get(name="ops").channel == "wecom"
