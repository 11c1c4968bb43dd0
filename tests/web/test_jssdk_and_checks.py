"""JS-SDK pages (JS safe domains, rate limit, the template tag), the web side's system checks
(E070-E072, W070), the engine's qrscene_ -> SCAN matching and the sandbox's OAuth error codes."""
import pytest
import requests
from django.template import Context, Template
from django.test import RequestFactory

from wechat_app.checks import check_settings
from wechat_app.client import WeChatAPIError, WeChatClient
from wechat_app.models import Account
from wechat_app.services import oauth

from .conftest import ALICE, APP_ID, APP_SECRET

pytestmark = pytest.mark.django_db


def ids(**overrides):
    from django.test import override_settings

    with override_settings(WECHAT_APP=overrides):
        return sorted(message.id for message in check_settings(None))


@pytest.mark.parametrize(("name", "value", "check_id"), [
    ("OAUTH_CREATE_USERS", "yes", "wechat_app.E070"),
    ("OAUTH_STATE_TTL", 5, "wechat_app.E071"),
    ("OAUTH_STATE_TTL", 10**6, "wechat_app.E071"),
    ("JSSDK_RATE_LIMIT", -1, "wechat_app.E072"),
    ("JSSDK_RATE_LIMIT", 1.5, "wechat_app.E072"),
    ("OAUTH_AUTHORIZE_URL", "http://open.weixin.qq.com/connect/oauth2/authorize", "wechat_app.W070"),
])
def test_checks(name, value, check_id):
    assert check_id in ids(**{name: value})


@pytest.mark.parametrize("url, status", [
    ("https://shop.example.com/p?a=1#x", 200),
    ("https://SHOP.example.com./p", 200),
    ("http://testserver/page", 200),
    ("https://evil.example.com/p", 400),
    ("https://shop.example.com.evil.com/p", 400),
    ("https://user:pw@shop.example.com/p", 400),
    ("https://shop.example.com:8443/p", 400),
    ("ftp://shop.example.com/p", 400),
])
def test_the_config_endpoint_signs_only_js_safe_domains(client, account, url, status):
    response = client.get("/wechat/jssdk/web/", {"url": url})
    assert response.status_code == status, response.json()
    if status == 400:
        assert "JS safe domains" in response.json()["error"] or "page address" in response.json()["error"]


def test_an_account_without_domains_says_so(client, account):
    Account.objects.filter(pk=account.pk).update(js_domains="")
    response = client.get("/wechat/jssdk/web/", {"url": "https://shop.example.com/"})
    assert response.status_code == 400 and "has no JS safe domains" in response.json()["error"]


def test_js_domains_are_validated(account):
    from django.core.exceptions import ValidationError

    for bad in ("https://shop.example.com", "shop.example.com/path", "a\nb\nc\nd\ne\nf"):
        account.js_domains = bad
        with pytest.raises(ValidationError) as err:
            account.full_clean()
        assert "js_domains" in err.value.message_dict


def test_the_config_endpoint_is_rate_limited(client, account, settings):
    settings.WECHAT_APP = {**settings.WECHAT_APP, "JSSDK_RATE_LIMIT": 3}
    answers = [client.get("/wechat/jssdk/web/", {"url": "https://shop.example.com/"}).status_code for _ in range(5)]
    assert answers == [200, 200, 200, 429, 429]
    other = client.get("/wechat/jssdk/web/", {"url": "https://shop.example.com/"}, REMOTE_ADDR="10.0.0.9")
    assert other.status_code == 200


def test_the_template_tag(account, sandbox):
    request = RequestFactory().get("/share/")  # http://testserver/share/: a JS safe domain of the account
    html = Template('{% load wechat_web %}{% wechat_jssdk_config "web" apis="chooseImage" sdk=True %}').render(
        Context({"request": request}))
    assert 'id="wechat-jssdk-config"' in html and '"appId": "wx0000000000web01"' in html
    assert '"jsApiList": ["chooseImage"]' in html and "jweixin-1.6.0.js" in html and "wechat_app/web/jssdk.js" in html
    assert sandbox.state.list_calls("/cgi-bin/ticket/getticket")
    refused = Template('{% load wechat_web %}{% wechat_jssdk_config account "https://evil.com/" %}').render(
        Context({"account": account}))
    assert "not one of the account" in refused and "signature" not in refused


def test_a_subscribe_through_a_code_reaches_the_scan_rule():
    from wechat_app.engine.index import RuleIndex  # noqa: F401 - the module under test
    from wechat_app.engine.spec import RuleSpec  # noqa: F401
    from wechat_app.protocol.messages import parse_message

    from wechat_app.services import rules as rule_services
    from wechat_app.models import Rule

    account = Account.objects.create(name="eng", app_id="wxengine000001", app_secret="s" * 16, token="tok123")
    Rule.objects.create(account=account, name="door", match_kind="event", match_value="SCAN", match_key="door",
                        replies=[{"type": "text", "content": "door!"}])
    index = rule_services.get_index(account)
    for event, key, hit in (("SCAN", "door", True), ("subscribe", "qrscene_door", True),
                            ("subscribe", "door", False), ("subscribe", "qrscene_other", False),
                            ("CLICK", "door", False)):
        xml = (f"<xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime>"
               f"<MsgType>event</MsgType><Event>{event}</Event><EventKey>{key}</EventKey></xml>")
        names = [c.spec.name for c in index.candidates(parse_message(xml))]
        assert (names == ["door"]) is hit, (event, key, names)


def test_sandbox_oauth_errors(sandbox):
    sandbox.state.add_app(APP_ID, APP_SECRET)
    sandbox.state.add_followers(APP_ID, [ALICE])
    client = WeChatClient(APP_ID, APP_SECRET, base_url=sandbox.url)
    for code, errcode in (("nope", 40029),):
        with pytest.raises(WeChatAPIError) as err:
            client.oauth.exchange_code(code)
        assert err.value.errcode == errcode
    bad_secret = WeChatClient(APP_ID, "wrong", base_url=sandbox.url)
    with pytest.raises(WeChatAPIError) as err:
        bad_secret.oauth.exchange_code("x")
    assert err.value.errcode == 40125
    page = requests.get(sandbox.url + "/connect/oauth2/authorize", params={
        "appid": APP_ID, "redirect_uri": "http://x/cb", "response_type": "code", "scope": "snsapi_login"}, timeout=5)
    assert page.status_code == 400 and "10005" in page.text
    with pytest.raises(WeChatAPIError) as err:
        client.oauth.userinfo("not-a-token", ALICE["openid"])
    assert err.value.errcode == 40001
    assert not client.oauth.check("not-a-token", ALICE["openid"])
    with pytest.raises(WeChatAPIError) as err:
        client.oauth.refresh("nope")
    assert err.value.errcode == 40030
    assert oauth.authorize_base_url(Account(app_id=APP_ID, api_base_url=sandbox.url)) == \
        sandbox.url + "/connect/oauth2/authorize"
    assert oauth.authorize_base_url(Account(app_id=APP_ID)) == "https://open.weixin.qq.com/connect/oauth2/authorize"
