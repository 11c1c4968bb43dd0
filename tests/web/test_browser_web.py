"""The demo H5 pages in headless Chromium against the sandbox (issue 14): visit "My profile", get
sent to WeChat's (the sandbox's) authorize page, pick a user, land back logged in with the profile
shown; the share page's JS-SDK configuration; the admin's QR code list with images.
Screenshots go to test-artifacts/screenshots/ (git-ignored)."""
from urllib.parse import urlsplit

import pytest

from tests.browser import browser, logged_in_admin, shot  # noqa: F401  (browser is a fixture)

from .conftest import ALICE, APP_ID, APP_SECRET, BOB

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 414, "height": 896}


@pytest.fixture
def demo(sandbox, live_server):
    from wechat_app.models import Account

    sandbox.state.add_app(APP_ID, APP_SECRET)
    sandbox.state.add_followers(APP_ID, [ALICE, BOB])
    return Account.objects.create(name="demo", app_id=APP_ID, app_secret=APP_SECRET, token="tok123",
                                  api_base_url=sandbox.url, js_domains=urlsplit(live_server.url).netloc)


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(viewport=PHONE, base_url=live_server.url)
    context.set_default_timeout(10_000)
    # WeChat's JS-SDK is not reachable offline: the share page must still work without it.
    context.route("https://res.wx.qq.com/**", lambda route: route.abort())
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    yield page
    context.close()
    assert not errors, errors


def test_log_in_with_wechat_and_see_the_profile(phone, demo, sandbox, live_server):
    from wechat_app.models import WeChatUser

    phone.goto("/demo/profile/")
    phone.wait_for_url(f"{sandbox.url}/connect/oauth2/authorize?**")
    assert "snsapi_userinfo" in phone.inner_text("body")
    shot(phone, "web-oauth-authorize")
    phone.click("text=Log in as Alice")
    phone.wait_for_url(f"{live_server.url}/demo/profile/")
    assert phone.inner_text("#nickname") == "Alice"
    assert phone.inner_text("#openid") == ALICE["openid"]
    assert "Guangzhou, Guangdong, China" in phone.inner_text("#profile")
    shot(phone, "web-profile")
    assert WeChatUser.objects.get(openid=ALICE["openid"]).user.username == f"wx_demo_{ALICE['openid']}"
    # Back later: no new trip to WeChat.
    calls = len(sandbox.state.list_calls("/connect/oauth2/authorize"))
    phone.goto("/demo/profile/")
    assert phone.inner_text("#nickname") == "Alice"
    assert len(sandbox.state.list_calls("/connect/oauth2/authorize")) == calls
    # Logging out, then denying: a clear page, not logged in.
    phone.click("text=Log out")
    phone.goto("/demo/profile/")
    phone.click("text=Deny")
    assert phone.inner_text("#oauth-error") == "Login cancelled"
    shot(phone, "web-oauth-denied")


def test_the_share_page_gets_its_jssdk_configuration(phone, demo, sandbox):
    phone.goto("/demo/share/")
    assert phone.inner_text("#jssdk-state").startswith("signed")
    assert phone.evaluate("window.wechatJSSDK.config.appId") == APP_ID
    assert phone.evaluate("window.wechatJSSDK.config.jsApiList") == ["updateAppMessageShareData",
                                                                      "updateTimelineShareData"]
    shot(phone, "web-share")
    assert sandbox.state.list_calls("/cgi-bin/ticket/getticket")


def test_the_admin_lists_qr_codes_with_their_images(browser, live_server, django_user_model, demo, sandbox):
    from wechat_app.models import QRCode
    from wechat_app.services import qrcodes

    for name, kind, scene in (("Shop door poster", "permanent", {"scene_str": "door"}),
                              ("Spring flyer", "temporary", {"scene_id": 2026, "expire_seconds": 86400})):
        qr = QRCode(account=demo, name=name, kind=kind, **scene)
        qr.full_clean(exclude=["ticket", "url", "scene"])
        qrcodes.create_qrcode(qr)
    with logged_in_admin(browser, live_server, django_user_model, width=1366, height=800) as page:
        assert page.is_visible("#demo-pages")
        page.goto("/admin/wechat_app/qrcode/")
        images = page.locator("td.field-thumbnail img, th.field-thumbnail img")
        assert images.count() == 2
        assert all(page.evaluate("(img) => img.naturalWidth > 0", handle) for handle in images.element_handles())
        shot(page, "web-admin-qrcodes")
        page.click("text=Shop door poster")
        page.wait_for_url("**/change/")
        page.locator("img[alt='QR code door']").wait_for()
        shot(page, "web-admin-qrcode")
