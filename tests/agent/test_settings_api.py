"""The REST API of an account's agent settings: ``accounts/{name}/agent/`` (GET, PUT, PATCH, DELETE)."""
import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from wechat_app.models import Account, AccountMembership, AgentSettings
from wechat_app.services.accounts import lookup_account, stamp_is_current

from .conftest import API

pytestmark = pytest.mark.django_db
URL = f"{API}/accounts/shop/agent/"


@pytest.fixture
def account(db):
    return Account.objects.create(name="shop", app_id="wxagentsettings1", app_secret="s" * 32, token="tok123agent")


def send(client, method, data, url=URL):
    return getattr(client, method)(url, json.dumps(data), content_type="application/json")


def staff(client, name, perms, account):
    user = get_user_model().objects.create_user(name, password=None, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="wechat_app", codename__in=perms))
    AccountMembership.objects.create(user=user, account=account)
    client.force_login(user)
    return client


def test_an_account_without_settings_answers_the_defaults(api, account):
    resp = api.get(URL)
    assert resp.status_code == 200
    assert resp.json() == {"account": "shop", "configured": False, "mode": "off", "scope": "unanswered",
                           "callback_url": "", "shared_secret_set": False, "max_attempts": 5,
                           "created_at": None, "updated_at": None}


def test_put_creates_and_the_secret_is_never_returned(api, account):
    _, stamp = lookup_account("shop")
    resp = send(api, "put", {"mode": "callback", "callback_url": "https://agent.example/events",
                             "shared_secret": "  s3cret-value  ", "max_attempts": 3})
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["configured"] and body["mode"] == "callback" and body["shared_secret_set"] is True
    assert "s3cret" not in resp.content.decode() and "shared_secret" not in body
    stored = AgentSettings.objects.get(account=account)
    assert stored.shared_secret == "s3cret-value" and stored.max_attempts == 3
    assert "s3cret" not in api.get(URL).content.decode()
    # The callback reloads the account with its new settings (the accounts version was bumped).
    assert not stamp_is_current(stamp)
    assert lookup_account("shop", refresh=True)[0].agent_settings.mode == "callback"


def test_put_resets_what_it_leaves_out_but_keeps_the_secret(api, account):
    AgentSettings.objects.create(account=account, mode="callback", scope="all", callback_url="https://a.example/",
                                 shared_secret="keep-me", max_attempts=9)
    resp = send(api, "put", {"mode": "inbox"})
    assert resp.status_code == 200, resp.content
    stored = AgentSettings.objects.get(account=account)
    assert (stored.mode, stored.scope, stored.callback_url, stored.max_attempts) == ("inbox", "unanswered", "", 5)
    assert stored.shared_secret == "keep-me"


def test_patch_changes_only_the_given_fields_and_an_empty_secret_clears_it(api, account):
    AgentSettings.objects.create(account=account, mode="callback", callback_url="https://a.example/",
                                 shared_secret="old-secret", max_attempts=9)
    resp = send(api, "patch", {"scope": "all"})
    assert resp.status_code == 200 and resp.json()["max_attempts"] == 9 and resp.json()["shared_secret_set"]
    assert send(api, "patch", {"shared_secret": ""}).json()["shared_secret_set"] is False
    assert AgentSettings.objects.get(account=account).shared_secret == ""


def test_patch_on_an_account_without_settings_creates_them(api, account):
    assert send(api, "patch", {"mode": "inbox"}).status_code == 200
    assert AgentSettings.objects.get(account=account).mode == "inbox"


def test_delete_removes_the_settings(api, account):
    AgentSettings.objects.create(account=account, mode="inbox")
    assert api.delete(URL).status_code == 204
    assert not AgentSettings.objects.filter(account=account).exists()
    assert api.delete(URL).status_code == 204  # nothing to remove: still no agent


@pytest.mark.parametrize("body, field", [
    ({"mode": "callback"}, "callback_url"),  # callback needs a URL
    ({"mode": "inbox", "callback_url": "ftp://agent.example/x"}, "callback_url"),
    ({"mode": "inbox", "callback_url": "javascript:alert(1)"}, "callback_url"),
    ({"mode": "callback", "callback_url": "https://user:pw@agent.example/"}, "callback_url"),
    ({"mode": "callback", "callback_url": "https://token@agent.example/"}, "callback_url"),
    ({"mode": "callback", "callback_url": "https:///path-only"}, "callback_url"),
    ({"mode": "callback", "callback_url": "https://agent.example:99999/"}, "callback_url"),
    ({"mode": "callback", "callback_url": "not a url"}, "callback_url"),
    ({"mode": "sometimes"}, "mode"),
    ({"mode": "inbox", "scope": "most"}, "scope"),
    ({"mode": "inbox", "max_attempts": 0}, "max_attempts"),
    ({"mode": "inbox", "max_attempts": 51}, "max_attempts"),
    ({"mode": "inbox", "shared_secret": "x" * 129}, "shared_secret"),
    ({"mode": "inbox", "worker": "x"}, "worker"),  # unknown field
])
def test_invalid_input_is_a_400_naming_the_field_and_changes_nothing(api, account, body, field):
    resp = send(api, "put", body)
    assert resp.status_code == 400, resp.content
    error = resp.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"], error
    assert not AgentSettings.objects.filter(account=account).exists()


def test_the_admin_refuses_a_url_with_credentials_too(account):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as err:
        AgentSettings(account=account, mode="callback", callback_url="https://u:p@agent.example/").full_clean()
    assert "callback_url" in err.value.message_dict


def test_a_view_only_user_reads_but_cannot_write(client, account):
    AgentSettings.objects.create(account=account, mode="inbox", shared_secret="never-shown")
    staff(client, "viewer", ["view_account"], account)
    resp = client.get(URL)
    assert resp.status_code == 200 and resp.json()["mode"] == "inbox" and "never-shown" not in resp.content.decode()
    for method in ("put", "patch"):
        assert send(client, method, {"mode": "off"}).status_code == 403
    assert client.delete(URL).status_code == 403
    assert AgentSettings.objects.get(account=account).mode == "inbox"


def test_an_editor_with_change_account_writes(client, account):
    staff(client, "editor", ["view_account", "change_account"], account)
    assert send(client, "put", {"mode": "inbox"}).status_code == 200
    assert client.delete(URL).status_code == 204


def test_another_account_is_not_found(client, account):
    other = Account.objects.create(name="other", app_id="wxagentsettings2", app_secret="s" * 32, token="tok123")
    AgentSettings.objects.create(account=account, mode="inbox")
    staff(client, "editor", ["view_account", "change_account"], other)
    assert client.get(URL).status_code == 404
    assert send(client, "put", {"mode": "off"}).status_code == 404
    assert client.delete(URL).status_code == 404
    assert AgentSettings.objects.get(account=account).mode == "inbox"
    assert client.get(f"{API}/accounts/nope/agent/").status_code == 404


def test_a_read_only_token_reads_only(client, account, root):
    from wechat_app.services.api_tokens import create_token

    _, key = create_token(root, "ro", read_only=True)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    assert client.get(URL).status_code == 200
    resp = send(client, "put", {"mode": "inbox"})
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "read_only_token"


def test_anonymous_is_refused(client, account):
    assert client.get(URL).status_code in (401, 403)
    assert send(client, "put", {"mode": "inbox"}).status_code in (401, 403)
    assert not AgentSettings.objects.exists()
