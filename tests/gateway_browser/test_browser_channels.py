"""End-to-end in Chromium at 1366 px: the screens of the three account kinds and the agent gateway —
adding a WeCom app, the WeCom department tree, an iLink bot's QR login through to a logged-in bot,
and the agent's events. Screenshots go to test-artifacts/screenshots/."""
import pytest

from tests.browser import browser, logged_in_admin, shot  # noqa: F401  (browser is a fixture)
from tests.ilink.conftest import ilink_sandbox, sandbox_call  # noqa: F401  (fixture)
from tests.wecom.conftest import AES_KEY, AGENT_ID, CORP_ID, SECRET, TOKEN, corp_app  # noqa: F401  (fixture)
from wechat_app.models import Account, AgentEvent
from wechat_app.sandbox.ilink import ilink_state
from wechat_app.sandbox.testing import sandbox  # noqa: F401  (fixture)
from wechat_app.sandbox.wecom_contacts import contact_book

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTH = 1366


@pytest.fixture
def page(browser, live_server, django_user_model):
    with logged_in_admin(browser, live_server, django_user_model, width=WIDTH, height=900) as page:
        yield page


def no_horizontal_scroll(page):
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_add_a_wecom_app_then_sync_and_see_its_department_tree(page, sandbox, corp_app):
    page.goto("/admin/wechat_app/account/add/")
    page.fill("#id_name", "hr")
    page.select_option("#id_channel", "wecom")
    page.fill("#id_app_id", CORP_ID)
    page.fill("#id_agent_id", str(AGENT_ID))
    page.fill("#id_app_secret", SECRET)
    page.fill("#id_token", TOKEN)
    page.fill("#id_encoding_aes_key", AES_KEY)
    page.fill("#id_api_base_url", sandbox.url)
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    account = Account.objects.get(name="hr")
    assert (account.channel, account.agent_id, account.encrypt_mode) == ("wecom", AGENT_ID, "safe")

    book = contact_book(sandbox.state, CORP_ID)
    with book.lock:
        sales = book.create_department({"name": "销售部 Sales", "parentid": 1})["id"]
        book.create_department({"name": "华北 North", "parentid": sales})
        book.create_user({"userid": "alice", "name": "Alice", "department": [sales], "email": "alice@example.com"})
    from wechat_app.services import wecom_contacts

    wecom_contacts.sync_contacts(account)
    page.goto("/admin/wechat_app/wecomdepartment/tree/")
    tree = page.inner_text("#content")
    assert "销售部 Sales" in tree and "华北 North" in tree
    assert no_horizontal_scroll(page)
    shot(page, "wecom-department-tree")


def test_ilink_bot_logs_in_by_qr_code(page, ilink_sandbox):
    page.goto("/admin/wechat_app/ilinkbot/")
    page.click("text=Log in a bot (QR code)")
    page.fill("input[name=account]", "support-bot")
    page.click("#content [type=submit]")
    qr = page.locator("img[src^='data:image/png']")
    qr.wait_for()
    box = qr.bounding_box()
    assert box["width"] >= 150 and box["height"] >= 150  # big enough to scan from a phone
    shot(page, "ilink-login-qr")
    [qrcode] = list(ilink_state(ilink_sandbox.state).logins)
    sandbox_call(ilink_sandbox, "POST", "/ilink/scan", {"qrcode": qrcode})
    sandbox_call(ilink_sandbox, "POST", "/ilink/confirm", {"qrcode": qrcode})
    page.wait_for_selector("text=Logged in", timeout=20_000)  # the page refreshes itself
    bot = Account.objects.get(name="support-bot").ilink_bot
    page.goto("/admin/wechat_app/ilinkbot/")
    rows = page.inner_text("#result_list")
    assert bot.bot_id in rows and "Active" in rows and bot.bot_token not in page.content()
    assert no_horizontal_scroll(page)
    shot(page, "ilink-bots")


def test_agent_events_list_and_retry(page):
    account = Account.objects.create(name="shop", app_id="wxagentbrowser01", app_secret="s", token="tok123")
    AgentEvent.objects.create(account=account, dedupe_key="msg:1", chat_id="oUser0001", user_id="oUser0001",
                              text="我的订单到哪了？", status=AgentEvent.Status.FAILED, attempts=5,
                              error="HTTP 503 from the agent")
    page.goto("/admin/wechat_app/agentevent/")
    rows = page.inner_text("#result_list")
    assert "我的订单到哪了" in rows and "oUser0001" in rows
    assert no_horizontal_scroll(page)
    shot(page, "agent-events")
    page.check("#result_list tbody input[type=checkbox]")
    page.select_option("select[name=action]", "retry_events")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist li")
    assert AgentEvent.objects.get().status == AgentEvent.Status.PENDING
