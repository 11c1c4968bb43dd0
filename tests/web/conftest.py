import html
import re
from urllib.parse import urldefrag, urlsplit

import pytest
import requests

from wechat_app.sandbox.testing import sandbox  # noqa: F401  (pytest fixture)

APP_ID, APP_SECRET = "wx0000000000web01", "web-app-secret-0001"
ALICE = {"openid": "oAlice000000001", "nickname": "Alice", "unionid": "uAlice", "city": "Guangzhou",
         "province": "Guangdong", "country": "China", "sex": "2"}
BOB = {"openid": "oBob0000000000002", "nickname": "Bob"}


@pytest.fixture
def account(db, sandbox):
    """An account on the sandbox with two followers (Alice has a unionid and a profile)."""
    from wechat_app.models import Account

    sandbox.state.add_app(APP_ID, APP_SECRET)
    sandbox.state.add_followers(APP_ID, [ALICE, BOB])
    return Account.objects.create(name="web", app_id=APP_ID, app_secret=APP_SECRET, token="tok123",
                                  api_base_url=sandbox.url, js_domains="testserver\nshop.example.com")


def authorize(location: str, openid: str | None = None, deny: bool = False) -> str:
    """Play the WeChat user on the sandbox's authorize page (``location``, where the app sent the
    browser): pick ``openid`` or deny. Returns where WeChat sends the browser back (path + query)."""
    url, fragment = urldefrag(location)
    assert fragment == "wechat_redirect"
    page = requests.get(url, timeout=5)
    assert page.status_code == 200, page.text
    links = [html.unescape(h) for h in re.findall(r"href='([^']+)'", page.text)]
    wanted = [h for h in links if ("deny=1" in h if deny else f"openid={openid}" in h)]
    assert wanted, links
    base = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    answer = requests.get(base + wanted[0], allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    back = urlsplit(answer.headers["Location"])
    return f"{back.path}?{back.query}"
