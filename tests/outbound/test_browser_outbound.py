"""The outbound screens in headless Chromium at 1366 px with the sidebar open: the first template
sync from an empty list, the campaign form (keyword fields follow the template, live preview),
the campaign page (test send, Start), progress that refreshes itself, and a reply from the
conversation view. Screenshots go to test-artifacts/screenshots/ (git-ignored)."""
from datetime import timedelta

import pytest

from tests.browser import browser, logged_in_admin, right_edge, shot  # noqa: F401  (browser is a fixture)

from .conftest import APP_ID

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTH = 1366


@pytest.fixture
def page(browser, live_server, django_user_model):
    with logged_in_admin(browser, live_server, django_user_model, width=WIDTH, height=900) as page:
        yield page


def assert_columns_in_view(page, *selectors):
    """Each cell ends inside the viewport and inside the list's own box (which scrolls sideways
    rather than grow: a column past its edge is hidden until the user scrolls)."""
    limit = min(WIDTH, right_edge(page, "#changelist .results"))
    for selector in selectors:
        assert right_edge(page, selector) <= limit + 0.5, selector


def test_campaign_from_first_sync_to_progress(page, sandbox, account, followers):
    from wechat_app.models import Campaign, OutboundMessage

    sandbox.state.add_template(APP_ID, "Order shipped", "{{first.DATA}}\nOrder: {{keyword1.DATA}}\n{{remark.DATA}}",
                               template_id="tpl-ship")
    sandbox.state.add_template(APP_ID, "Welcome", "Hello {{name.DATA}}!", template_id="tpl-hello")

    # The template list is empty: the sync button is there anyway.
    page.goto("/admin/wechat_app/template/")
    page.click("button:has-text('Sync templates from WeChat')")
    page.wait_for_selector(".messagelist .success")
    assert "2 template(s) synced" in page.inner_text(".messagelist")
    shot(page, "outbound-01-templates-synced")

    # The form: keyword fields follow the chosen template; the preview follows the values.
    page.goto("/admin/wechat_app/campaign/add/")
    assert page.is_visible("#nav-sidebar")
    page.fill("#id_name", "Shipping notice")
    page.select_option("#id_template", label="Welcome")
    page.wait_for_selector("#id_data__name")
    page.select_option("#id_template", label="Order shipped")
    page.wait_for_selector("#id_data__keyword1")
    assert page.locator("#id_data__name").count() == 0
    page.fill("#id_data__first", "Your order is on its way")
    page.fill("#id_data__keyword1", "A-1024")
    page.fill("#id_data__remark", "Thank you")
    assert page.inner_text(".wx-keywords .wx-template-preview") == "Your order is on its way\nOrder: A-1024\nThank you"
    page.select_option("#id_audience", "tag")
    assert page.is_visible("#id_tag_id") and page.is_hidden("#id_openids")
    page.select_option("#id_audience", "list")
    page.fill("#id_openids", "\n".join(followers))
    shot(page, "outbound-02-campaign-form")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    campaign = Campaign.objects.get()
    assert campaign.data == {"first": "Your order is on its way", "keyword1": "A-1024", "remark": "Thank you"}

    # The page: preview, test send, Start.
    assert "Order: A-1024" in page.inner_text(".wx-keywords .wx-template-preview")
    assert "not started" in page.inner_text(".wx-campaign-status")
    page.fill("#id_test_openid", followers[0])
    page.click(".wx-test-form button")
    page.wait_for_selector(".messagelist .success")
    assert OutboundMessage.objects.get().to_user == followers[0]
    shot(page, "outbound-03-campaign-page")
    page.click("button.wx-tool-start")
    page.wait_for_selector(".messagelist .success")
    page.wait_for_selector(".wx-campaign-status .wx-progress-figure:has-text('100% · 5/5')")
    assert "Order: A-1024" in page.inner_text(".wx-campaign-preview")
    shot(page, "outbound-04-campaign-sent")


def test_campaign_list_keeps_key_columns_in_view_and_refreshes(page, sandbox, account, followers):
    from wechat_app.models import Campaign, OutboundMessage
    from wechat_app.services import outbound

    sandbox.state.add_template(APP_ID, "Order shipped", "{{first.DATA}}", template_id="tpl-ship")
    outbound.sync_templates(account)
    running = outbound.create_campaign(account, "Autumn promotion for returning customers", "tpl-ship",
                                       {"first": "x"}, openids=followers)
    Campaign.objects.filter(pk=running.pk).update(status=Campaign.Status.RUNNING, total=5)
    rows = [OutboundMessage.objects.create(account=account, campaign=running, kind="template", to_user=o,
                                           payload={}, status="sent" if i < 2 else "queued")
            for i, o in enumerate(followers)]
    outbound.create_campaign(account, "Draft newsletter", "tpl-ship", {"first": "y"}, openids=followers)

    page.goto("/admin/wechat_app/campaign/")
    assert page.is_visible("#nav-sidebar")
    assert_columns_in_view(page, "th.column-status_display", "th.column-progress", "td.field-progress progress",
                           "th.column-created")
    assert "40% · 2/5" in page.inner_text(f"[data-campaign-progress='{running.pk}']")
    shot(page, "outbound-05-campaign-list-1366")

    # The list polls while a campaign runs: the figures move without a reload.
    OutboundMessage.objects.filter(pk__in=[r.pk for r in rows]).update(status="sent")
    Campaign.objects.filter(pk=running.pk).update(status=Campaign.Status.DONE)
    page.wait_for_selector(f"[data-campaign-progress='{running.pk}'] .wx-progress-figure:has-text('100% · 5/5')")
    assert page.inner_text(f"[data-campaign-status='{running.pk}']") == "Done"


def test_reply_from_the_conversation(page, sandbox, account, followers):
    from django.utils import timezone

    from wechat_app.models import MessageLog, OutboundMessage

    user = followers[0]
    row = MessageLog.objects.create(account=account, dedupe_key="k1", user=user, msg_type="text",
                                    text="Where is my parcel?", status="unmatched")
    MessageLog.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(hours=2))
    page.goto(f"/admin/wechat_app/messagelog/conversation/{account.pk}/?user={user}")
    assert "you can reply for" in page.inner_text(".wx-window")
    page.fill("#id_reply_text", "It left the warehouse this morning.")
    page.click("#wx-reply button[type=submit]")
    page.wait_for_selector(".wx-bubble-op:has-text('It left the warehouse this morning.')")
    assert OutboundMessage.objects.get().status == "sent"
    shot(page, "outbound-06-conversation-reply")


def test_account_page_sync_buttons(page, sandbox, account, followers):
    from wechat_app.models import Follower

    page.goto(f"/admin/wechat_app/account/{account.pk}/change/")
    shot(page, "outbound-07-account-sync-buttons")
    page.click("button:has-text('Sync followers')")
    page.wait_for_selector(".messagelist .success")
    assert f"account__id__exact={account.pk}" in page.url
    assert Follower.objects.filter(account=account).count() == len(followers)
    assert page.locator("#result_list tbody tr").count() == len(followers)
    assert_columns_in_view(page, "th.column-subscription", "th.column-synced_at")

    from wechat_app.models import OutboundMessage

    OutboundMessage.objects.create(account=account, kind="text", to_user=followers[0], payload={"content": "x"},
                                   status="failed", errcode=45015, errmsg="response out of time limit")
    page.goto("/admin/wechat_app/outboundmessage/")
    shot(page, "outbound-09-outbound-messages")
    assert_columns_in_view(page, "th.column-status_display", "th.column-delivery_status", "th.column-queued")
    assert "45015" in page.inner_text("td.field-status_display")
    page.click("#result_list tbody tr:first-child th a")
    page.wait_for_selector(".field-to_user")
    assert page.locator("input[name=_save]").count() == 0 and page.locator(".field-claim").count() == 0
    shot(page, "outbound-10-outbound-message-page")
    shot(page, "outbound-08-followers-synced")
