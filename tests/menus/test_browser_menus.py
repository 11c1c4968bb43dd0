"""The menu editor in headless Chromium at 1366 px with the sidebar open (issue 9): build a menu
with sub-buttons, watch the phone preview follow, link a button to a new rule, publish to the
sandbox, then tap the button in the "Try it" chat and get the rule's reply. Screenshots go to
test-artifacts/screenshots/ (git-ignored)."""
import pytest

from tests.browser import browser, logged_in_admin, right_edge, shot  # noqa: F401  (browser is a fixture)

from .conftest import APP_ID

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTH = 1366


@pytest.fixture
def page(browser, live_server, django_user_model):
    with logged_in_admin(browser, live_server, django_user_model, width=WIDTH, height=900) as page:
        yield page


def preview_names(page):
    return [name.strip() for name in page.locator("#wx-menubar .wx-menubar-name").all_inner_texts()]


def test_build_preview_link_publish_and_try(page, sandbox, account, followers):
    from wechat_app.models import Menu, MenuVersion, Rule

    page.goto("/admin/wechat_app/menu/add/")
    assert page.is_visible("#nav-sidebar")
    page.fill("#id_name", "Main menu")
    page.select_option("#id_kind", "default")
    assert page.is_hidden("fieldset.wx-matchrule")

    # Two top-level buttons; the preview draws them as they are typed.
    page.click("#wx-add-top")
    page.fill("#wx-button-name", "商城")
    assert page.inner_text("#wx-menu-detail .wx-bytes") == "6 / 16 bytes"
    assert preview_names(page) == ["商城"]
    page.click("#wx-add-top")
    page.fill("#wx-button-name", "A name far too long")
    assert "19 / 16 bytes" in page.inner_text("#wx-menu-detail .wx-bytes.over")
    assert "button 2: name is 19 bytes, the limit is 16" in page.inner_text("#wx-menu-problems")
    page.fill("#wx-button-name", "Contact")
    assert page.inner_text("#wx-menu-problems") == ""
    page.select_option("#wx-button-type", "view")
    page.fill("#wx-button-url", "https://example.com/contact")
    assert preview_names(page) == ["商城", "Contact"]

    # Sub-buttons under the first: it becomes a sub-menu, the preview opens it above the bar.
    page.click("#wx-menu-tree .wx-tree-top:nth-child(1) .wx-add-sub")
    page.fill("#wx-button-name", "Today's deals")
    page.fill("#wx-button-key", "DEALS")
    page.click("#wx-menu-tree .wx-tree-top:nth-child(1) .wx-add-sub")
    page.fill("#wx-button-name", "Scan a coupon")
    page.select_option("#wx-button-type", "scancode_push")
    page.fill("#wx-button-key", "COUPON")
    assert page.locator("#wx-menubar .wx-menubar-col:first-of-type .wx-menubar-icon").count() == 1
    assert page.locator("#wx-menubar .wx-menu-pop button").all_inner_texts() == ["Today's deals", "Scan a coupon"]
    # Reorder: the coupon first, then back.
    page.click("#wx-menu-tree [data-path='0-1'] .wx-tree-up")
    assert page.locator("#wx-menubar .wx-menu-pop button").all_inner_texts() == ["Scan a coupon", "Today's deals"]
    page.click("#wx-menu-tree [data-path='0-0'] .wx-tree-down")
    assert page.locator("#wx-menubar .wx-menu-pop button").all_inner_texts() == ["Today's deals", "Scan a coupon"]
    # The editor, the fields and the phone fit the screen side by side.
    assert right_edge(page, ".wx-menu-phone") <= WIDTH
    shot(page, "menus-01-editor-preview")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    menu = Menu.objects.get()
    assert menu.buttons[0]["sub_button"][0] == {"type": "click", "name": "Today's deals", "key": "DEALS"}

    # Link "Today's deals" to a new rule in one step.
    page.click("#wx-menu-tree [data-path='0-0']")
    assert "No rule answers CLICK · DEALS yet." in page.inner_text("#wx-menu-rules")
    page.fill("#wx-rule-reply", "Half price on everything today!")
    page.click("#wx-rule-create")
    page.wait_for_selector("#wx-menu-rules .wx-linked-rule")
    rule = Rule.objects.get(match_key="DEALS")
    assert rule.match_kind == "event"
    page.click("#wx-menubar .wx-menu-pop button:has-text(\"Today's deals\")")
    assert f"rule “{rule.name}”" in page.inner_text("#wx-menu-chat")
    shot(page, "menus-02-rule-linked")

    # Publish: a version, the sandbox has the menu.
    page.click("input[name=_publish]")
    page.wait_for_selector(".messagelist .success")
    assert "Published to WeChat as version 1" in page.inner_text(".messagelist")
    version = MenuVersion.objects.get()
    assert version.status == "published"
    live = sandbox.state.menus[APP_ID]
    assert [b["name"] for b in live["button"]] == ["商城", "Contact"]
    assert "live: version 1" in page.inner_text("#wx-menu-status")
    shot(page, "menus-03-published")

    # "Try it": tap the button in the chat's menu bar and get the rule's reply.
    page.goto(f"/admin/wechat_app/rule/simulator/?account={account.pk}")
    page.click("#wx-sim-menubar .wx-menubar-btn:has-text('商城')")
    page.click("#wx-sim-menubar .wx-menu-pop button:has-text(\"Today's deals\")")
    page.wait_for_selector(".wx-msg-bot .wx-bubble:has-text('Half price on everything today!')")
    assert "DEALS" in page.inner_text(".wx-turn .wx-sys")
    shot(page, "menus-04-try-it")

    # Versions: a second publish, its diff, the list at 1366 px, and a rollback to version 1.
    page.goto(f"/admin/wechat_app/menu/{menu.pk}/change/")
    page.click("#wx-menu-tree [data-path='1'] .wx-tree-delete")
    assert preview_names(page) == ["商城"]
    page.click("input[name=_publish]")
    page.wait_for_selector(".messagelist .success")
    assert "the draft has unpublished changes" not in page.inner_text("#wx-menu-status")
    page.click("a.wx-tool:has-text('Versions')")
    page.wait_for_url("**/menuversion/?*")
    assert page.is_visible("#nav-sidebar")
    assert right_edge(page, "th.column-created_at") <= WIDTH
    shot(page, "menus-05-versions")
    page.click("#result_list tbody tr:first-child th a")
    page.wait_for_selector("#wx-version-diff")
    assert "Changes from version 1 to version 2" in page.inner_text("#wx-version-diff")
    assert '-      "name": "Contact",' in page.locator("#wx-version-diff .del").all_inner_texts()
    shot(page, "menus-06-version-diff")
    page.goto(f"/admin/wechat_app/menuversion/{version.pk}/change/")
    assert "The first version of this menu" in page.inner_text("#wx-version-diff")
    page.click("#wx-rollback")
    page.wait_for_selector(".messagelist .success")
    assert "Version 1 published again as version 3" in page.inner_text(".messagelist")
    assert [b["name"] for b in sandbox.state.menus[APP_ID]["button"]] == ["商城", "Contact"]

    # The list: state per menu, pull and delete-live buttons, at 1366 px.
    page.goto("/admin/wechat_app/menu/")
    assert "live: version 3" in page.inner_text("#result_list")
    assert right_edge(page, "th.column-updated_at") <= WIDTH
    shot(page, "menus-07-list")

    # Try match: the menu a follower sees, drawn on the phone.
    page.click("a.wx-tool:has-text('Try match')")
    page.fill("#id_user_id", followers[0])
    page.click("#wx-trymatch-form input[type=submit]")
    page.wait_for_selector("#wx-trymatch-result")
    assert "This follower sees Main menu" in page.inner_text("#wx-trymatch-result")
    assert preview_names(page) == ["商城", "Contact"]
    assert page.locator("#wx-add-top").count() == 0  # read-only
    shot(page, "menus-08-trymatch")


def test_view_only_member_sees_the_tree_and_preview_read_only(browser, live_server, django_user_model, account):
    from django.contrib.auth.models import Permission

    from wechat_app.models import AccountMembership, Menu

    menu = Menu.objects.create(account=account, kind="default", name="Main", buttons=[
        {"name": "商城", "sub_button": [{"type": "click", "name": "Today's deals", "key": "DEALS"}]},
        {"type": "view", "name": "Contact", "url": "https://example.com/contact"}])
    user = django_user_model.objects.create_user("viewer", "v@example.com", "pw-browser-12345", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_menu", "view_menuversion", "view_account"]))
    AccountMembership.objects.create(user=user, account=account)
    context = browser.new_context(viewport={"width": WIDTH, "height": 900}, base_url=live_server.url)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto("/admin/login/")
    page.fill("#id_username", "viewer")
    page.fill("#id_password", "pw-browser-12345")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    page.goto(f"/admin/wechat_app/menu/{menu.pk}/change/")
    assert preview_names(page) == ["商城", "Contact"]
    assert page.locator("#wx-add-top, .wx-tree-tools, input[name=_publish]").count() == 0
    assert page.is_disabled("#wx-button-name")
    page.click("#wx-menu-tree [data-path='0-0']")
    assert page.input_value("#wx-button-key") == "DEALS"
    shot(page, "menus-09-view-only")
    context.close()
    assert not errors, errors
