"""The admin's lists at 1366 px with the navigation sidebar open: the key columns stay on screen.

A laptop screen is where operators read the log; a column pushed past the right edge (or inside a
horizontally scrolled table) is one they never see. Screenshots go to test-artifacts/screenshots/.
"""
from datetime import timedelta

import pytest

from tests.browser import browser, logged_in_admin, shot  # noqa: F401  (browser is a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTH, HEIGHT = 1366, 768
OPENIDS = ["oHq9x5Jx4Rw0Qx_tbP3xmAo0m7xY", "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "oLVPpjqs9BhvzwPj5A-vTYAX3GLc"]


@pytest.fixture
def laptop(browser, live_server, django_user_model):
    # No JavaScript-error check here: these tests look at layout only.
    with logged_in_admin(browser, live_server, django_user_model, width=WIDTH, height=HEIGHT,
                         check_js_errors=False) as page:
        yield page


def assert_columns_visible(page, columns):
    """Each column's header and first cell lie inside the viewport and inside the (possibly
    horizontally scrollable) results box, without scrolling."""
    assert page.is_visible("#nav-sidebar"), "the navigation sidebar should be open"
    box = page.locator("#changelist .results").bounding_box()
    right_edge = min(WIDTH, box["x"] + box["width"])
    for column in columns:
        for selector in (f"#result_list thead th.column-{column}",
                         f"#result_list tbody tr:first-child :is(td, th).field-{column}"):
            cell = page.locator(selector).bounding_box()
            assert cell is not None, f"{selector} is not on the page"
            assert cell["x"] >= 0 and cell["x"] + cell["width"] <= right_edge + 0.5, (
                f"{selector} ends at {cell['x'] + cell['width']:.0f} px, past the visible {right_edge:.0f} px")
    scroll = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll <= WIDTH, f"the page scrolls sideways ({scroll} px wide)"


@pytest.fixture
def busy_account(db):
    """An account with realistic rules and a realistic log: long openids, texts and replies."""
    from django.utils import timezone

    from wechat_app.models import MessageLog

    from .conftest import make_account, make_log, make_rule

    account = make_account("coffee-shop-shanghai-downtown", app_id="wx5f8a1c2e9b7d3a01", token="coffeetoken123")
    # A second account: the lists show which account each row belongs to.
    tea_house = make_account("tea-house-hangzhou-west-lake", app_id="wx5f8a1c2e9b7d3a02", token="teatoken123")
    make_rule(tea_house, "welcome-new-followers-with-a-coupon", match_kind="event", value="subscribe",
              reply="Welcome! Show this message for 10% off your first tea.")
    hours = make_rule(account, "opening-hours-and-holiday-schedule", value="opening hours",
                      reply="We are open from 8:00 to 22:00 every day, including public holidays. "
                            "On Chinese New Year's Eve we close at 18:00.")
    menu = make_rule(account, "menu-click-today-specials", match_kind="event", value="CLICK",
                     match_key="V1001_TODAY_SPECIALS_AND_SEASONAL_DRINKS",
                     replies=[{"type": "news", "articles": [
                         {"title": "Today's specials: osmanthus latte, chestnut cake", "url": "https://example.com/1"},
                         {"title": "Seasonal drinks for the autumn", "url": "https://example.com/2"}]}])
    make_rule(account, "fallback", match_kind="default", value="",
              replies=[{"type": "text", "content": "Sorry, I did not understand. Send 'help' for what I can do."},
                       {"type": "text", "content": "Say again?"}])
    make_rule(account, "song-of-the-day", match_kind="regex", value=r"^(?:song|music|歌曲|音乐)(?: of the day)?$",
              match_flags="i", replies=[{"type": "music", "title": "Moonlight over the Lotus Pond",
                                         "music_url": "https://example.com/lotus.mp3", "thumb_media_id": "THUMB1"}])
    now = timezone.now()
    rows = [
        ("what are your opening hours on national day holiday?", hours, "replied", "text", {}),
        ("", menu, "replied", "event", {"event": "CLICK", "event_key": "V1001_TODAY_SPECIALS_AND_SEASONAL_DRINKS"}),
        ("do you deliver to Pudong district near the Oriental Pearl tower?", None, "unmatched", "text", {}),
        ("", None, "unmatched", "event", {"event": "TEMPLATESENDJOBFINISH"}),
    ]
    for i in range(12):
        text, rule, status, msg_type, extra = rows[i % len(rows)]
        log = make_log(account, user=OPENIDS[i % 3], text=text, rule=rule, status=status, msg_type=msg_type,
                       latency=1.23 + i, **extra)
        MessageLog.objects.filter(pk=log.pk).update(created_at=now - timedelta(minutes=i),
                                                    reply=rule.replies[0] if rule else None)
    return account


def test_message_log_key_columns_at_1366(laptop, busy_account):
    laptop.goto("/admin/wechat_app/messagelog/")
    laptop.wait_for_selector("#result_list")
    shot(laptop, "20-message-log-1366")
    assert_columns_visible(laptop, ["user_and_account", "message_display", "reply_display", "status_display",
                                    "latency_display"])
    # filtered to one account, the account goes
    laptop.goto(f"/admin/wechat_app/messagelog/?account__id__exact={busy_account.pk}")
    assert_columns_visible(laptop, ["user_link", "message_display", "reply_display", "status_display",
                                    "latency_display"])


def test_rule_list_key_columns_at_1366(laptop, busy_account):
    laptop.goto("/admin/wechat_app/rule/")
    laptop.wait_for_selector("#result_list")
    shot(laptop, "21-rule-list-1366")
    assert_columns_visible(laptop, ["rule_display", "account", "reply_display", "enabled", "hits_7d"])
    laptop.click(".wx-menu summary")  # one export per account, in a menu
    assert laptop.locator(".wx-menu-list a").all_inner_texts() == [
        "coffee-shop-shanghai-downtown", "tea-house-hangzhou-west-lake"]
    shot(laptop, "21b-rule-list-export-menu")


def test_campaign_list_key_columns_at_1366(laptop, busy_account):
    from wechat_app.models import Campaign, Template

    template = Template.objects.create(
        account=busy_account, template_id="TM00015-ORDER-STATUS-UPDATE-LONG-ID", title="Order status update",
        content="{{first.DATA}}\nOrder: {{keyword1.DATA}}\nStatus: {{keyword2.DATA}}\n{{remark.DATA}}",
        keywords=["first", "keyword1", "keyword2", "remark"])
    for name in ("Autumn menu announcement to every follower", "Loyalty card holders: double points week"):
        Campaign.objects.create(account=busy_account, name=name, template=template,
                                data={"first": "Hello", "keyword1": "A-1", "keyword2": "Ready", "remark": "Thanks"},
                                openids=OPENIDS, total=len(OPENIDS))
    laptop.goto("/admin/wechat_app/campaign/")
    laptop.wait_for_selector("#result_list")
    shot(laptop, "22-campaign-list-1366")
    assert_columns_visible(laptop, ["status_display", "progress"])


def test_message_log_entry_shows_the_reply_as_the_user_saw_it(laptop, busy_account):
    from wechat_app.models import MessageLog

    entry = MessageLog.objects.filter(account=busy_account, msg_type="event", event="CLICK").first()
    laptop.goto(f"/admin/wechat_app/messagelog/{entry.pk}/change/")
    laptop.wait_for_selector(".wx-reply-preview .wx-news")
    shot(laptop, "23-message-log-entry-1366")
    assert "Today's specials" in laptop.inner_text(".wx-reply-preview")
    assert laptop.locator("label", has_text="Rule:").count() == 1
