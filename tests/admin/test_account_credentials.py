"""Issue 7, items 1 and 3: credentials bound to their owner, API hosts from an allow-list.

The attack of item 1: an editor of account A points A at B's app id (admin or REST) and then
uses what WeChat granted B (token, JS-SDK ticket) without B's secret. Item 3: a staff user sends
the app secret to a host of their choosing through the API base URL and the "check" page.
"""
import json

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command

from wechat_app.client import DisallowedBaseURL, WeChatAPIError
from wechat_app.models import Account, AccountMembership
from wechat_app.sandbox.testing import sandbox  # noqa: F401  (pytest fixture)
from wechat_app.services import tokens

from .test_accounts import _post
from tests.api_errors import error_fields, message

pytestmark = pytest.mark.django_db

TOKEN_PATHS = ("/cgi-bin/stable_token", "/cgi-bin/token")


def token_calls(sandbox):
    return [c for c in sandbox.state.calls if c["path"] in TOKEN_PATHS]


@pytest.fixture
def on_sandbox(sandbox, account_a, account_b):
    """Both accounts known to the sandbox (each with its own secret) and pointed at it."""
    for account in (account_a, account_b):
        sandbox.state.add_app(account.app_id, account.app_secret)
        Account.objects.filter(pk=account.pk).update(api_base_url=sandbox.url)
        account.refresh_from_db()
    return sandbox


@pytest.fixture
def viewer_a(django_user_model, account_a):
    """A staff member of account alpha who may only look."""
    user = django_user_model.objects.create_user("viewer", "v@example.com", "pw-viewer-123", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_account", "view_rule"]))
    AccountMembership.objects.create(user=user, account=account_a)
    return user


def change_url(account):
    return f"/admin/wechat_app/account/{account.pk}/change/"


def patch(client, account, data):
    return client.patch(f"/wechat/api/accounts/{account.name}/", json.dumps(data), content_type="application/json")


# --- item 1: an editor of A cannot take B's token ----------------------------------------------
def test_editor_cannot_point_an_account_at_another_app_in_the_admin(staff_client, account_a, account_b, on_sandbox):
    token_b = tokens.get_access_token(account_b)
    form = staff_client.get(change_url(account_a)).content.decode()
    for field in ("app_id", "app_secret", "api_base_url"):
        assert f'name="{field}"' not in form, field  # shown, not editable
    assert account_a.app_id in form and account_a.app_secret not in form

    response = staff_client.post(change_url(account_a), _post(
        account_a, app_id=account_b.app_id, app_secret=account_b.app_secret, api_base_url="https://evil.example.com",
        token="newtoken42"))
    assert response.status_code == 302
    stored = Account.objects.get(pk=account_a.pk)
    assert (stored.app_id, stored.app_secret, stored.api_base_url) == (
        account_a.app_id, account_a.app_secret, account_a.api_base_url)
    assert stored.token == "newtoken42"  # the rest of the account stays editable
    assert tokens.get_access_token(stored) != token_b


def test_editor_cannot_point_an_account_at_another_app_through_the_api(staff_client, account_a, account_b, on_sandbox):
    token_b = tokens.get_access_token(account_b)
    for data in ({"app_id": account_b.app_id}, {"app_secret": "guessed-secret"},
                 {"api_base_url": "https://api2.weixin.qq.com"}):
        response = patch(staff_client, account_a, data)
        assert response.status_code == 403, (data, response.content)
        assert "change_account_credentials" in message(response)
    stored = Account.objects.get(pk=account_a.pk)
    assert (stored.app_id, stored.app_secret, stored.api_base_url) == (
        account_a.app_id, account_a.app_secret, account_a.api_base_url)
    assert patch(staff_client, account_a, {"token": "newtoken43", "app_id": account_a.app_id}).status_code == 200
    assert tokens.get_access_token(Account.objects.get(pk=account_a.pk)) != token_b


def test_a_second_account_with_the_same_app_id_is_refused_everywhere(admin_client_, account_a, account_b):
    response = admin_client_.post(change_url(account_a), _post(account_a, app_id=account_b.app_id))
    assert response.status_code == 200
    assert "already uses this app id" in str(response.context["adminform"].form.errors["app_id"])
    response = patch(admin_client_, account_a, {"app_id": account_b.app_id})
    assert response.status_code == 400 and "already uses this app id" in error_fields(response)["app_id"][0]
    # An equivalent spelling of the same host is the same host.
    Account.objects.filter(pk=account_b.pk).update(api_base_url="https://api.weixin.qq.com/")
    response = patch(admin_client_, account_a, {"app_id": account_b.app_id,
                                                "api_base_url": "https://API.weixin.qq.com"})
    assert response.status_code == 400 and "app_id" in error_fields(response)
    with pytest.raises(CommandError, match="app_id"):
        call_command("wechat_account", "update", "alpha", "--app-id", account_b.app_id)
    assert Account.objects.get(pk=account_a.pk).app_id == "wxalpha0001"
    # Another API host (the sandbox, a region) may know the same app id.
    assert patch(admin_client_, account_a, {"app_id": account_b.app_id,
                                            "api_base_url": "https://hk.api.weixin.qq.com"}).status_code == 200


def test_the_database_refuses_a_duplicate_app_id_at_one_host(account_a):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.create(name="copy", app_id=account_a.app_id, app_secret="x", token="tok123")


def test_a_token_is_only_handed_to_the_account_and_credentials_that_obtained_it(account_b, on_sandbox):
    token_b = tokens.get_access_token(account_b)
    # Written around validation: same app id, same host spelled differently, not B's secret.
    intruder = Account.objects.create(name="intruder", app_id=account_b.app_id, app_secret="not-b-secret",
                                      token="tok123", api_base_url=on_sandbox.url + "/")
    assert tokens.token_status(intruder) is None
    with pytest.raises(WeChatAPIError) as caught:
        tokens.get_access_token(intruder)
    assert caught.value.errcode in (40001, 40125)
    # Even B's own secret under another account id gets a token of its own fetching.
    twin = Account.objects.create(name="twin", app_id=account_b.app_id, app_secret=account_b.app_secret,
                                  token="tok123", api_base_url=on_sandbox.url + "//")
    calls = len(token_calls(on_sandbox))
    tokens.get_access_token(twin)
    assert len(token_calls(on_sandbox)) == calls + 1
    assert tokens.get_access_token(account_b) == token_b


def test_cache_keys_carry_no_secret(account_a, on_sandbox):
    from django.core.cache import cache

    tokens.get_access_token(account_a)
    key = tokens.access_token_credential(account_a).key
    assert account_a.app_secret not in key and str(account_a.pk) in key
    assert cache.get(key)["value"]


@pytest.mark.parametrize("how", ["admin", "api", "command"])
def test_a_credential_change_drops_the_cached_token_and_ticket(how, admin_client_, account_a, on_sandbox):
    tokens.get_access_token(account_a)
    tokens.jssdk_config(account_a, "https://example.com/page")
    old_keys = [tokens.access_token_credential(account_a).key, tokens.jsapi_ticket_credential(account_a).key]
    new_secret = "rotated-secret-0123456789"
    on_sandbox.state.add_app(account_a.app_id, new_secret)
    if how == "admin":
        assert admin_client_.post(change_url(account_a), _post(
            account_a, app_secret=new_secret, api_base_url=on_sandbox.url)).status_code == 302
    elif how == "api":
        assert patch(admin_client_, account_a, {"app_secret": new_secret}).status_code == 200
    else:
        call_command("wechat_account", "update", "alpha", "--app-secret", new_secret)
    from django.core.cache import cache

    assert all(cache.get(key) is None for key in old_keys)
    account = Account.objects.get(pk=account_a.pk)
    calls = len(token_calls(on_sandbox))
    tokens.get_access_token(account)
    assert len(token_calls(on_sandbox)) == calls + 1  # with the new secret (the old one is refused now)


def test_saving_other_fields_keeps_the_cached_token(admin_client_, account_a, on_sandbox):
    tokens.get_access_token(account_a)
    assert admin_client_.post(change_url(account_a), _post(
        account_a, token="othertoken1", api_base_url=on_sandbox.url)).status_code == 302
    calls = len(token_calls(on_sandbox))
    tokens.get_access_token(Account.objects.get(pk=account_a.pk))
    assert len(token_calls(on_sandbox)) == calls


def test_a_change_that_bypasses_signals_still_never_gets_the_old_token(account_a, on_sandbox):
    old = tokens.get_access_token(account_a)
    tokens.jssdk_config(account_a, "https://example.com/page")
    on_sandbox.state.add_app(account_a.app_id, "rotated-by-update-01")
    Account.objects.filter(pk=account_a.pk).update(app_secret="rotated-by-update-01")
    account = Account.objects.get(pk=account_a.pk)
    assert tokens.token_status(account) is None
    ticket_calls = len(on_sandbox.state.list_calls("/cgi-bin/ticket/getticket"))
    tokens.jssdk_config(account, "https://example.com/page")
    assert len(on_sandbox.state.list_calls("/cgi-bin/ticket/getticket")) == ticket_calls + 1
    assert tokens.token_status(account)["value"]  # fetched again with the new secret
    assert old  # (the sandbox may hand out the same stable token again: that is WeChat's choice)


def test_deleting_an_account_drops_its_token(account_a, on_sandbox):
    from django.core.cache import cache

    tokens.get_access_token(account_a)
    key = tokens.access_token_credential(account_a).key
    Account.objects.get(pk=account_a.pk).delete()
    assert cache.get(key) is None


def test_a_granted_credentials_permission_lets_staff_change_them(client, staff_a, account_a):
    staff_a.user_permissions.add(Permission.objects.get(codename="change_account_credentials"))
    client.force_login(staff_a)
    assert 'name="app_id"' in client.get(change_url(account_a)).content.decode()
    assert client.post(change_url(account_a), _post(account_a, app_id="wxnewapp0001")).status_code == 302
    assert Account.objects.get(pk=account_a.pk).app_id == "wxnewapp0001"
    assert patch(client, account_a, {"api_base_url": "https://sz.api.weixin.qq.com"}).status_code == 200


def test_staff_creating_an_account_gives_app_id_and_secret_on_the_default_host(client, django_user_model):
    user = django_user_model.objects.create_user("creator", password="pw-creator-1", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["add_account", "view_account",
                                                                      "change_account"]))
    client.force_login(user)
    form = client.get("/admin/wechat_app/account/add/").content.decode()
    assert 'name="app_id"' in form and 'name="app_secret"' in form and 'name="api_base_url"' not in form
    response = client.post("/admin/wechat_app/account/add/", _post(
        Account(name="mine", app_id="wxmine001", encrypt_mode="plain"), app_secret="s3cret", token="tok123",
        api_base_url="https://evil.example.com"))
    assert response.status_code == 302
    assert Account.objects.get(name="mine").api_base_url == ""


def test_a_view_only_member_sees_the_account_with_every_secret_masked(client, viewer_a, account_a):
    client.force_login(viewer_a)
    response = client.get(change_url(account_a))
    assert response.status_code == 200
    page = response.content.decode()
    assert account_a.app_id in page and "••••••••" in page
    for secret in (account_a.app_secret, account_a.token, account_a.encoding_aes_key):
        assert secret not in page


# --- item 3: API base URLs from the allow-list -------------------------------------------------
@pytest.mark.parametrize("url", ["https://evil.example.com", "http://api.weixin.qq.com", "ftp://api.weixin.qq.com",
                                 "https://api.weixin.qq.com.evil.example", "https://user:pw@api.weixin.qq.com",
                                 "https://api.weixin.qq.com/?x=1", "https://api.weixin.qq.com:8443",
                                 "http://10.0.0.1:8081"])
def test_a_url_outside_the_allow_list_is_refused_everywhere(url, admin_client_, account_a):
    response = admin_client_.post(change_url(account_a), _post(account_a, api_base_url=url))
    assert response.status_code == 200 and "api_base_url" in response.context["adminform"].form.errors
    response = patch(admin_client_, account_a, {"api_base_url": url})
    assert response.status_code == 400 and "api_base_url" in error_fields(response)
    with pytest.raises(CommandError, match="api_base_url"):
        call_command("wechat_account", "update", "alpha", "--api-base-url", url)
    assert Account.objects.get(pk=account_a.pk).api_base_url == ""


@pytest.mark.parametrize("url", ["https://api.weixin.qq.com", "https://api2.weixin.qq.com/",
                                 "https://sh.api.weixin.qq.com", "https://sz.api.weixin.qq.com",
                                 "https://hk.api.weixin.qq.com", "http://127.0.0.1:18081"])
def test_wechat_hosts_and_the_projects_sandbox_are_accepted(url, admin_client_, account_a):
    assert patch(admin_client_, account_a, {"api_base_url": url}).status_code == 200
    assert Account.objects.get(pk=account_a.pk).api_base_url == url


def test_the_shipped_default_allows_wechat_hosts_only(shipped_api_allow_list, admin_client_, account_a):
    response = patch(admin_client_, account_a, {"api_base_url": "http://127.0.0.1:18081"})
    assert response.status_code == 400
    assert "https://hk.api.weixin.qq.com" in error_fields(response)["api_base_url"][0]  # it says what is allowed
    assert patch(admin_client_, account_a, {"api_base_url": "https://hk.api.weixin.qq.com"}).status_code == 200


def test_a_stored_url_outside_the_allow_list_is_never_contacted(shipped_api_allow_list, admin_client_, account_a,
                                                                 sandbox):
    # Written around validation (an older row, a raw update): the client refuses it.
    sandbox.state.add_app(account_a.app_id, account_a.app_secret)
    Account.objects.filter(pk=account_a.pk).update(api_base_url=sandbox.url)
    account = Account.objects.get(pk=account_a.pk)
    with pytest.raises(DisallowedBaseURL):
        tokens.get_access_token(account)
    response = admin_client_.get(f"/admin/wechat_app/account/{account_a.pk}/check/")
    api = {str(r.label): r for r in response.context["results"]}["API reachable (access token)"]
    assert not api.ok and "ALLOWED_API_BASE_URLS" in api.detail
    assert sandbox.state.calls == []


def test_the_check_page_needs_change_permission(client, viewer_a, staff_a, account_a, on_sandbox):
    check = f"/admin/wechat_app/account/{account_a.pk}/check/"
    client.force_login(viewer_a)
    assert client.get(check).status_code == 403
    assert "Check configuration" not in client.get(change_url(account_a)).content.decode()
    client.post("/admin/wechat_app/account/", {"action": "check_accounts", "_selected_action": [account_a.pk]})
    assert on_sandbox.state.calls == []  # the secret went nowhere
    client.force_login(staff_a)
    assert "Check configuration" in client.get(change_url(account_a)).content.decode()
    assert client.get(check).status_code == 200
    assert len(token_calls(on_sandbox)) == 1


def test_the_sandbox_command_does_not_point_accounts_at_a_url_outside_the_allow_list(shipped_api_allow_list,
                                                                                      account_a):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CommandError, match="ALLOWED_API_BASE_URLS"):
        call_command("wechat_sandbox", "--port", str(port), "--point-accounts")
    assert Account.objects.get(pk=account_a.pk).api_base_url == ""
