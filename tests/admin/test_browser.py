"""End-to-end: the admin console in headless Chromium (Playwright driving Debian's chromium).

Screenshots of every screen go to test-artifacts/screenshots/ (git-ignored).
"""
import pytest

from tests.browser import browser, logged_in_admin, shot  # noqa: F401  (browser is a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser, live_server, django_user_model):
    with logged_in_admin(browser, live_server, django_user_model, width=1360, height=900) as page:
        yield page


@pytest.fixture
def account(db):
    from .conftest import make_account

    return make_account("demo")


def test_create_rule_with_follow_up_then_try_it(page, account):
    from wechat_app.models import Rule

    page.goto("/admin/wechat_app/rule/add/")
    page.select_option("#id_account", str(account.pk))
    page.fill("#id_name", "game")
    page.select_option("#id_match_kind", "regex")
    assert page.is_hidden(".field-match_key") and page.is_visible(".field-match_flags")
    page.fill("#id_match_value", "^game$")
    page.fill("#id_replies-0-content", "Pick a number from 1 to 9")
    assert "25 / 2048 bytes" in page.inner_text(".wx-bytes")
    # only the text fields show for a text reply
    assert page.is_hidden("#id_replies-0-media_id")
    page.fill("#id_follow_up_timeout", "120")
    page.click("#follow_ups-group .add-row a")
    page.fill("#id_follow_ups-0-name", "game-answer")
    page.select_option("#id_follow_ups-0-match_kind", "regex")
    page.fill("#id_follow_ups-0-match_value", "^([1-9])$")
    page.fill("#id_follow_ups-0-replies-0-content", "You picked {1}")
    shot(page, "01-rule-form-with-follow-up")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    shot(page, "02-rule-list")
    parent = Rule.objects.get(name="game")
    assert parent.follow_ups.get().replies == [{"type": "text", "content": "You picked {1}"}]

    # The simulator: reply bubble, the matched rule, and the follow-up carrying over.
    page.goto(f"/admin/wechat_app/rule/simulator/?account={account.pk}")
    page.fill("#id_text", "game")
    page.click("#wx-send")
    page.wait_for_selector(".wx-msg-bot .wx-bubble:has-text('Pick a number from 1 to 9')")
    assert page.inner_text(".wx-turn:last-child .wx-rule-link") == "game"
    page.fill("#id_text", "7")
    page.press("#id_text", "Enter")
    page.wait_for_selector(".wx-msg-bot .wx-bubble:has-text('You picked 7')")
    assert page.inner_text(".wx-turn:last-child .wx-rule-link") == "game-answer"
    page.select_option("select[name=kind]", "subscribe")
    page.click("#wx-send")
    page.wait_for_selector(".wx-turn:nth-child(3) .wx-nomatch")
    shot(page, "03-simulator-chat")
    page.click("#wx-reset")
    page.wait_for_selector(".wx-chat-empty")
    from wechat_app.models import MessageLog

    assert not MessageLog.objects.exists()  # the simulator never writes the production log


def test_news_reply_with_ordered_articles(page, account):
    from wechat_app.models import Rule

    page.goto("/admin/wechat_app/rule/add/")
    page.select_option("#id_account", str(account.pk))
    page.fill("#id_name", "digest")
    page.select_option("#id_match_kind", "exact")
    page.fill("#id_match_value", "news")
    page.select_option("#id_replies-0-type", "news")
    assert page.is_hidden("#id_replies-0-content")
    for title in ("First story", "Second story", "Third story"):
        page.click(".wx-field-articles .wx-add-article")
        page.locator(".wx-article input[data-article-field=title]").last.fill(title)
    page.locator(".wx-article").nth(2).locator(".wx-article-up").click()  # third moves above second
    # each article field keeps a visible label once filled in (a placeholder alone disappears)
    assert page.locator(".wx-article").first.locator(".wx-article-field > span").all_inner_texts() == [
        "Title", "Link (opened when tapped)", "Description", "Picture URL"]
    assert "3 / 8 articles" in page.inner_text(".wx-articles-count")
    page.click(".wx-add-reply")
    page.select_option("#id_replies-1-type", "music")
    page.fill("#id_replies-1-title", "Song")
    page.fill("#id_replies-1-thumb_media_id", "THUMB1")
    shot(page, "04-rule-form-news-and-music")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    rule = Rule.objects.get(name="digest")
    assert [a["title"] for a in rule.replies[0]["articles"]] == ["First story", "Third story", "Second story"]
    assert rule.replies[1] == {"type": "music", "title": "Song", "thumb_media_id": "THUMB1"}

    # a regex that does not compile: the error appears next to the field
    page.goto(f"/admin/wechat_app/rule/{rule.pk}/change/")
    page.select_option("#id_match_kind", "regex")
    page.fill("#id_match_value", "((")
    page.click("input[name=_save]")
    page.wait_for_selector(".field-match_value .errorlist")
    assert "invalid regular expression" in page.inner_text(".field-match_value .errorlist")
    shot(page, "05-rule-form-validation")


def test_import_yaml_through_the_preview(page, account, tmp_path):
    from wechat_app.models import Rule

    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- name: welcome\n  match: {event: subscribe}\n  reply: Welcome aboard!\n"
        "- name: news\n  priority: 5\n  match: {exact: news}\n"
        "  reply: {type: news, articles: [{title: A, url: 'http://x/1'}]}\n"
        "- name: fallback\n  match: {default: true}\n  reply: [Sorry?, Say again?]\n", encoding="utf-8")
    page.goto("/admin/wechat_app/rule/")
    page.click("text=Import")
    page.select_option("#id_account", str(account.pk))
    page.set_input_files("#id_file", str(rules))
    page.click("input[name=preview]")
    page.wait_for_selector(".wx-preview")
    assert "3 new" in page.inner_text(".wx-summary")
    assert not Rule.objects.exists()
    shot(page, "06-import-preview")
    page.click("input[name=confirm]")
    page.wait_for_selector(".messagelist .success")
    assert set(Rule.objects.values_list("name", flat=True)) == {"welcome", "news", "fallback"}
    shot(page, "07-rule-list-after-import")


def test_dashboard_account_and_log_screens(page, account):
    from datetime import timedelta

    from django.utils import timezone

    from wechat_app.models import MessageLog

    from .conftest import make_log, make_rule

    hello = make_rule(account, "hello", value="hello", reply="Hi there!")
    menu = make_rule(account, "menu", match_kind="event", value="CLICK", match_key="V1001",
                     replies=[{"type": "news", "articles": [{"title": "Today's specials", "url": "http://x/1"}]}])
    now = timezone.now()
    for day in range(30):
        for i in range(day % 5 + 1):
            log = make_log(account, user=f"o_user{i}", text="hello", rule=hello, latency=2.0 + i)
            MessageLog.objects.filter(pk=log.pk).update(created_at=now - timedelta(days=day, hours=i))
        if day % 3 == 0:
            make_log(account, user="o_user1", text="", msg_type="event", rule=menu, latency=3.5,
                     event="CLICK", event_key="V1001")
    for question in ["opening hours?", "opening hours?", "do you deliver?"]:
        make_log(account, user="o_user2", text=question, status="unmatched", latency=1.5)

    page.goto(f"/admin/wechat_app/account/{account.pk}/dashboard/")
    page.wait_for_function("window.Chart && Chart.getChart('wx-chart-days') && Chart.getChart('wx-chart-rules')")
    assert page.inner_text("#wx-p50").endswith("ms") and "opening hours?" in page.inner_text(".wx-dash-grid")
    shot(page, "08-dashboard")

    page.goto(f"/admin/wechat_app/account/{account.pk}/change/")
    assert account.app_secret not in page.content() and account.token not in page.content()
    assert "/wechat/callback/demo/" in page.inner_text(".wx-callback")
    shot(page, "09-account")

    page.goto("/admin/wechat_app/messagelog/")
    page.wait_for_selector("#result_list")
    shot(page, "10-message-log")
    page.click("#result_list tbody tr:first-child td.field-user_link a")
    page.wait_for_selector(".wx-chat .wx-turn")
    shot(page, "11-conversation")
