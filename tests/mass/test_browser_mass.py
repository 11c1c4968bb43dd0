"""The audience screens in headless Chromium at 1366 px: tags synced and applied to followers from
the follower list, the list filtered by tag, and a mass message to the tag (quota panel, preview,
send). Screenshots go to test-artifacts/screenshots/ (git-ignored)."""
import pytest

from tests.browser import browser, logged_in_admin, shot  # noqa: F401  (browser is a fixture)

from .conftest import APP_ID

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser, live_server, django_user_model):
    with logged_in_admin(browser, live_server, django_user_model, width=1366, height=900) as page:
        yield page


def test_tag_followers_then_mass_send_to_the_tag(page, sandbox, account, followers):
    from wechat_app.models import MassMessage

    sandbox.state.add_tag(APP_ID, "VIP", 101)
    page.goto("/admin/wechat_app/tag/")
    page.click("button:has-text('Sync tags from WeChat')")
    page.wait_for_selector(".messagelist .success")
    assert "1 tag(s) synced" in page.inner_text(".messagelist")

    page.goto("/admin/wechat_app/follower/")
    for openid in followers[:3]:
        page.locator("tr", has_text=openid).locator("input.action-select").check()
    page.select_option("select[name=action]", "add_tag")
    page.select_option("select[name=tag]", label="VIP (0)")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist .success")
    assert "tagged 3 follower(s) in 1 call(s)" in page.inner_text(".messagelist")
    page.click("#changelist-filter a:has-text('VIP')")
    page.wait_for_selector("#changelist .results")
    assert page.locator("#result_list tbody tr").count() == 3
    shot(page, "mass-01-followers-tagged-and-filtered")

    page.goto("/admin/wechat_app/massmessage/add/")
    assert "0 / 4 this month" in page.inner_text(".wx-mass-quota")
    page.fill("#id_name", "VIP spring sale")
    page.select_option("#id_audience", "tag")
    page.select_option("#id_tag", label="VIP (3)")
    page.select_option("#id_kind", "text")
    page.fill("#id_text", "VIP only: 30% off this weekend")
    shot(page, "mass-02-form")
    page.click("input[name=_continue]")
    page.wait_for_selector("#id_preview_openid")
    page.fill("#id_preview_openid", followers[0])
    page.click("button:has-text('Send a preview')")
    page.wait_for_selector(".messagelist .success")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Send')  >> nth=0")
    page.wait_for_selector(".messagelist .success")
    assert "queued" in page.inner_text(".messagelist")
    mass = MassMessage.objects.get()
    assert mass.status == "submitted" and sorted(sandbox.state.mass.sends[mass.msg_id]["recipients"]) == sorted(
        followers[:3])
    page.reload()
    assert "1 / 4 this month" in page.inner_text(".wx-mass-quota")
    shot(page, "mass-03-sent")
    page.goto("/admin/wechat_app/massmessage/")
    shot(page, "mass-04-list")
