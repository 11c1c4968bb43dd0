"""End-to-end: the API's Swagger UI and ReDoc pages, and an API token made in the admin, in Chromium.

Nothing is fetched from outside the test server: any response from another host fails the test
(ReDoc asks its CDN for a logo; the page's Content-Security-Policy blocks it in the browser)."""
import re

import pytest

from tests.browser import browser, logged_in_admin, shot  # noqa: F401  (browser is a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser, live_server, django_user_model):
    with logged_in_admin(browser, live_server, django_user_model, width=1366, height=900) as page:
        outside = []
        local = (live_server.url, "data:", f"blob:{live_server.url}")
        page.on("response", lambda r: None if r.url.startswith(local) else outside.append(r.url))
        yield page
        assert not outside, f"requests to other hosts: {outside}"


def test_swagger_ui_shows_the_app_s_operations(page):
    page.goto("/wechat/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "WeChat app API" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock")
    # Swagger UI renders a long schema virtually (only what is near the viewport): scroll through
    # it and collect the tags it shows.
    tags = set()
    for _ in range(400):
        tags.update(t.strip() for t in page.locator(".opblock-tag").all_inner_texts())
        if page.evaluate("() => window.innerHeight + window.scrollY >= document.body.scrollHeight - 2"):
            break
        page.mouse.wheel(0, 1200)
        page.wait_for_timeout(30)
    assert {"accounts", "rules", "menus", "outbound-messages", "agent", "wecom-members", "ilink-bots"} <= tags, tags
    page.evaluate("() => window.scrollTo(0, 0)")
    assert page.locator("button.authorize").count() == 1  # the ApiToken scheme
    from tests.browser import SHOTS

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "api-docs-swagger.png"))


def test_redoc_renders_the_schema(page):
    page.goto("/wechat/api/redoc/")
    page.wait_for_selector("h1:has-text('WeChat app API')", timeout=20_000)
    page.wait_for_selector("text=/wechat/api/accounts/", timeout=20_000)
    from tests.browser import SHOTS

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "api-docs-redoc.png"))  # the first screen: the whole page is huge


def test_an_api_token_created_in_the_admin_works_once_copied(page, live_server):
    import requests

    page.goto("/admin/wechat_app/apitoken/add/")
    page.fill("#id_name", "CRM sync")
    page.check("#id_read_only")
    shot(page, "api-token-add")
    page.click("input[name=_save]")
    page.wait_for_selector("#api-token-key")
    key = page.input_value("#api-token-key")
    assert re.fullmatch(r"wat_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", key)
    shot(page, "api-token-created")
    resp = requests.get(f"{live_server.url}/wechat/api/accounts/", headers={"Authorization": f"Bearer {key}"},
                        timeout=10)
    assert resp.status_code == 200
    page.goto("/admin/wechat_app/apitoken/")
    assert key not in page.content()
    shot(page, "api-token-list")
