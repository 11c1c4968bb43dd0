"""OAuth login for H5 pages against the sandbox (real HTTP to it): the flow, its failure pages,
the decorator, the refresh path. The browser run is in test_browser_web.py."""
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from wechat_app.models import WeChatUser
from wechat_app.services import oauth

from .conftest import ALICE, BOB, authorize

pytestmark = pytest.mark.django_db


def start(client, next_url="/demo/profile/", scope="snsapi_userinfo", account="web"):
    response = client.get(f"/wechat/oauth/{account}/login/", {"next": next_url, "scope": scope})
    assert response.status_code == 302, response.content
    return response["Location"]


def test_the_login_redirects_to_the_authorize_page_with_a_state(client, account, sandbox):
    location = start(client)
    parts = urlsplit(location)
    assert location.startswith(sandbox.url + "/connect/oauth2/authorize?") and parts.fragment == "wechat_redirect"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["appid"] == account.app_id and query["scope"] == "snsapi_userinfo"
    assert query["response_type"] == "code" and query["redirect_uri"] == "http://testserver/wechat/oauth/web/callback/"
    assert query["state"].isalnum() and len(query["state"]) == 32
    assert query["state"] in client.session[oauth.SESSION_KEY]


def test_userinfo_login_creates_a_user_with_the_profile(client, account):
    back = authorize(start(client), ALICE["openid"])
    response = client.get(back)
    assert response.status_code == 302 and response["Location"] == "/demo/profile/"
    wechat_user = WeChatUser.objects.get(account=account, openid=ALICE["openid"])
    assert wechat_user.unionid == "uAlice" and wechat_user.profile["nickname"] == "Alice"
    assert wechat_user.scope == "snsapi_userinfo" and wechat_user.user.username == f"wx_web_{ALICE['openid']}"
    assert not wechat_user.user.has_usable_password()
    assert client.session["_auth_user_id"] == str(wechat_user.user.pk)
    # The OAuth access token is not kept; the refresh token only encrypted.
    assert wechat_user.refresh_token_encrypted and "access" not in str(wechat_user.profile)
    assert oauth.decrypt(wechat_user.refresh_token_encrypted) not in wechat_user.refresh_token_encrypted


def test_a_second_login_reuses_the_user(client, account):
    client.get(authorize(start(client), BOB["openid"]))
    other = Client()
    other.get(authorize(start(other, scope="snsapi_base"), BOB["openid"]))
    assert WeChatUser.objects.filter(openid=BOB["openid"]).count() == 1
    assert get_user_model().objects.filter(username__startswith="wx_web_").count() == 1
    assert WeChatUser.objects.get(openid=BOB["openid"]).scope == "snsapi_userinfo"  # kept, not narrowed


def test_denied(client, account):
    response = client.get(authorize(start(client), deny=True))
    assert response.status_code == 403 and b"Login cancelled" in response.content
    assert "_auth_user_id" not in client.session and not WeChatUser.objects.exists()


def test_a_replayed_code_is_refused(client, account):
    back = authorize(start(client), ALICE["openid"])
    assert client.get(back).status_code == 302
    # Replaying the same return URL: the state was used once.
    replay = Client()
    response = replay.get(back)
    assert response.status_code == 400 and b"no longer valid" in response.content
    # The same code with a fresh state of the replaying browser: WeChat says 40163.
    state = parse_qs(urlsplit(start(replay)).query)["state"][0]
    code = parse_qs(urlsplit(back).query)["code"][0]
    response = replay.get("/wechat/oauth/web/callback/", {"code": code, "state": state})
    assert response.status_code == 400 and b"40163" in response.content and b"did not complete" in response.content


def test_an_expired_code(client, account, sandbox):
    back = authorize(start(client), ALICE["openid"])
    sandbox.state.web.codes[parse_qs(urlsplit(back).query)["code"][0]]["expires_at"] = 0
    response = client.get(back)
    assert response.status_code == 400 and b"42003" in response.content


@pytest.mark.parametrize("state", ["", "0" * 32, "x" * 200])
def test_a_bad_state_is_refused(client, account, state):
    back = authorize(start(client), ALICE["openid"])
    code = parse_qs(urlsplit(back).query)["code"][0]
    response = client.get("/wechat/oauth/web/callback/", {"code": code, "state": state})
    assert response.status_code == 400 and b"no longer valid" in response.content
    assert not WeChatUser.objects.exists()


def test_a_state_from_another_browser_is_refused(client, account):
    back = authorize(start(client), ALICE["openid"])
    response = Client().get(back)
    assert response.status_code == 400 and "_auth_user_id" not in client.session


def test_an_expired_state(client, account, settings):
    settings.WECHAT_APP = {**settings.WECHAT_APP, "OAUTH_STATE_TTL": 30}
    back = authorize(start(client), ALICE["openid"])
    session = client.session
    for entry in session[oauth.SESSION_KEY].values():
        entry["at"] -= 31
    session.save()
    assert client.get(back).status_code == 400


@pytest.mark.parametrize("target", ["https://evil.example.com/x", "//evil.example.com/x", "http:///evil.com",
                                    "javascript:alert(1)", "\\\\evil.com"])
def test_no_open_redirect(client, account, target):
    response = client.get(authorize(start(client, next_url=target), ALICE["openid"]))
    assert response.status_code == 302 and response["Location"] == "/"


def test_wechat_down(client, account, sandbox):
    back = authorize(start(client), ALICE["openid"])
    sandbox.state.add_fault("/sns/oauth2/access_token", kind="http", status=503)
    response = client.get(back)
    assert response.status_code == 502 and b"not answering" in response.content
    sandbox.state.add_fault("/sns/userinfo", kind="drop")
    response = client.get(authorize(start(client), ALICE["openid"]))
    assert response.status_code == 502


def test_unknown_account_and_bad_scope_are_pages(client, account):
    assert client.get("/wechat/oauth/nope/login/").status_code == 404
    response = client.get("/wechat/oauth/web/login/", {"scope": "snsapi_login"})
    assert response.status_code == 400 and b"Bad login request" in response.content


def test_only_linking_existing_users(client, account, settings, django_user_model):
    settings.WECHAT_APP = {**settings.WECHAT_APP, "OAUTH_CREATE_USERS": False}
    response = client.get(authorize(start(client), ALICE["openid"]))
    assert response.status_code == 403 and b"No account of this site" in response.content
    assert not django_user_model.objects.exists()
    # A signed-in user who logs in with WeChat links the identity to themselves.
    carol = django_user_model.objects.create_user("carol", password="pw-123456789")
    client.force_login(carol)
    assert client.get(authorize(start(client), ALICE["openid"])).status_code == 302
    assert WeChatUser.objects.get(openid=ALICE["openid"]).user == carol
    fresh = Client()
    assert fresh.get(authorize(start(fresh), ALICE["openid"])).status_code == 302
    assert fresh.session["_auth_user_id"] == str(carol.pk)


def test_the_decorator(client, account, rf):
    from django.contrib.auth.models import AnonymousUser
    from django.http import HttpResponse

    from wechat_app.auth import wechat_login_required

    @wechat_login_required(account="web", scope="snsapi_userinfo")
    def page(request):
        return HttpResponse(request.wechat_user.nickname)

    request = rf.get("/demo/profile/?tab=1")
    request.user = AnonymousUser()
    response = page(request)
    assert response.status_code == 302
    assert response["Location"] == "/wechat/oauth/web/login/?next=%2Fdemo%2Fprofile%2F%3Ftab%3D1&scope=snsapi_userinfo"
    client.get(authorize(start(client, scope="snsapi_base"), BOB["openid"]))
    request.user = WeChatUser.objects.get(openid=BOB["openid"]).user
    assert page(request).status_code == 302  # base scope is not enough for userinfo
    client.get(authorize(start(client), BOB["openid"]))
    response = page(request)
    assert response.status_code == 200 and response.content == b"Bob"


def test_refresh_profile(client, account, sandbox):
    client.get(authorize(start(client), ALICE["openid"]))
    wechat_user = WeChatUser.objects.get(openid=ALICE["openid"])
    sandbox.state.followers[account.app_id][ALICE["openid"]].nickname = "Alice L."
    oauth.refresh_profile(wechat_user)
    assert WeChatUser.objects.get(pk=wechat_user.pk).profile["nickname"] == "Alice L."
    paths = [c["path"] for c in sandbox.state.calls]
    assert "/sns/oauth2/refresh_token" in paths and "/sns/auth" in paths
    sandbox.state.web.refresh_tokens.clear()
    with pytest.raises(oauth.OAuthFailure) as failure:
        oauth.refresh_profile(wechat_user)
    assert failure.value.kind == "code" and "40030" in failure.value.detail


def test_oauth_tokens_and_the_secret_never_leak(client, account, sandbox, caplog, admin_client):
    import logging

    from .conftest import APP_SECRET

    caplog.set_level(logging.DEBUG)
    pages = [client.get(authorize(start(client), ALICE["openid"])).content.decode()]
    wechat_user = WeChatUser.objects.get(openid=ALICE["openid"])
    oauth.refresh_profile(wechat_user)
    issued = list(sandbox.state.web.tokens) + list(sandbox.state.web.refresh_tokens)
    assert len(issued) == 3
    pages.append(admin_client.get("/admin/wechat_app/wechatuser/").content.decode())
    pages.append(admin_client.get(f"/admin/wechat_app/wechatuser/{wechat_user.pk}/change/").content.decode())
    pages.append(repr(wechat_user) + str(wechat_user))
    seen = "\n".join(pages + [caplog.text, str(sandbox.state.calls)])
    assert ALICE["openid"] in pages[1]
    for secret in [APP_SECRET, *issued]:
        assert secret not in seen


def test_a_wechat_login_never_signs_in_a_staff_user(client, account, admin_user):
    client.force_login(admin_user)  # a signed-in superuser goes through a WeChat login
    assert client.get(authorize(start(client), ALICE["openid"])).status_code == 302
    wechat_user = WeChatUser.objects.get(openid=ALICE["openid"])
    assert wechat_user.user != admin_user  # not linked to the staff user: a user of its own
    WeChatUser.objects.filter(pk=wechat_user.pk).update(user=admin_user)  # linked by hand anyway
    fresh = Client()
    response = fresh.get(authorize(start(fresh), ALICE["openid"]))
    assert response.status_code == 403 and b"cannot log in with WeChat" in response.content
    assert "_auth_user_id" not in fresh.session
