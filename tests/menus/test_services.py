"""services.menus against the sandbox: publish, versions, pull round trip, rollback, diff,
conditional menus, deletion, try match, refusals stored on the version."""
import copy

import pytest

from wechat_app.client import WeChatAPIError
from wechat_app.client.menus import MenuSpecError
from wechat_app.models import Menu, MenuVersion
from wechat_app.services import menus

from .conftest import APP_ID, SIMPLE_MENU

pytestmark = pytest.mark.django_db


def test_publish_sends_the_menu_and_records_a_version(sandbox, account, default_menu, admin_user):
    version = menus.publish(default_menu, admin_user)
    assert version.status == MenuVersion.Status.PUBLISHED and version.number == 1
    assert version.published_by == admin_user and version.finished_at is not None
    assert version.document == SIMPLE_MENU
    assert sandbox.state.menus[APP_ID] == SIMPLE_MENU
    default_menu.refresh_from_db()
    assert default_menu.live_version == version and not default_menu.has_unpublished_changes


def test_publish_then_pull_gives_the_same_tree(sandbox, account, default_menu):
    menus.publish(default_menu)
    Menu.objects.filter(pk=default_menu.pk).update(buttons=[])
    pulled = menus.pull(account)
    assert [m.pk for m in pulled] == [default_menu.pk]
    default_menu.refresh_from_db()
    assert default_menu.document() == SIMPLE_MENU
    assert default_menu.live_version.source == MenuVersion.Source.PULL


def test_an_invalid_draft_is_refused_before_anything_is_sent(sandbox, account, default_menu):
    default_menu.buttons = [{"type": "click", "name": "a" * 17, "key": "K"}]
    with pytest.raises(MenuSpecError, match="button 1: name is 17 bytes, the limit is 16"):
        menus.publish(default_menu)
    assert not MenuVersion.objects.exists()
    assert not sandbox.state.list_calls(path="/cgi-bin/menu/create")


def test_a_refusal_is_stored_on_the_version_with_the_button(sandbox, account, default_menu):
    sandbox.state.configure(menu_url_domains=["mp.weixin.qq.com"])
    version = menus.publish(default_menu)
    assert version.status == MenuVersion.Status.FAILED and version.errcode == 40054
    assert version.problem_path == [1, 0] and version.problem_label() == "button 2 › sub-button 1"
    default_menu.refresh_from_db()
    assert default_menu.live_version is None


def test_send_version_is_idempotent(sandbox, account, default_menu):
    version = menus.publish(default_menu)
    calls = len(sandbox.state.list_calls(path="/cgi-bin/menu/create"))
    assert menus.send_version(version.pk).status == MenuVersion.Status.PUBLISHED
    assert len(sandbox.state.list_calls(path="/cgi-bin/menu/create")) == calls


def test_rollback_publishes_an_old_version_as_a_new_one(sandbox, account, default_menu):
    first = menus.publish(default_menu)
    default_menu.buttons = [{"type": "click", "name": "New", "key": "NEW"}]
    default_menu.save()
    menus.publish(default_menu)
    assert sandbox.state.menus[APP_ID]["button"][0]["name"] == "New"
    third = menus.rollback(first)
    assert third.number == 3 and third.source == MenuVersion.Source.ROLLBACK and third.rolled_back_from == first
    assert sandbox.state.menus[APP_ID] == SIMPLE_MENU
    default_menu.refresh_from_db()
    assert default_menu.document() == SIMPLE_MENU and default_menu.live_version == third


def test_diff_of_two_versions(account, default_menu):
    first = menus.publish(default_menu)
    default_menu.buttons = copy.deepcopy(SIMPLE_MENU["button"])
    default_menu.buttons[0]["name"] = "Songs"
    default_menu.save()
    second = menus.publish(default_menu)
    lines = menus.diff(first, second)
    assert lines[0] == "--- v1" and lines[1] == "+++ v2"
    assert '-      "name": "今日歌曲",' in lines and '+      "name": "Songs",' in lines
    assert menus.diff(first.document, first.document) == []


def test_conditional_menu_publish_replace_and_try_match(sandbox, account, default_menu, followers):
    menus.publish(default_menu)
    vip = sandbox.state.add_tag(APP_ID, "VIP")
    sandbox.state.followers[APP_ID][followers[0]].tagid_list.append(vip)
    conditional = Menu.objects.create(account=account, kind=Menu.Kind.CONDITIONAL, name="VIP",
                                      buttons=[{"type": "click", "name": "VIP", "key": "VIP"}],
                                      matchrule={"tag_id": vip})
    version = menus.publish(conditional)
    assert version.status == MenuVersion.Status.PUBLISHED and version.menuid
    assert version.document["matchrule"] == {"tag_id": str(vip)}
    first_menuid = version.menuid
    assert menus.try_match(account, followers[0]) == {"button": [{"type": "click", "name": "VIP", "key": "VIP",
                                                                  "sub_button": []}]}
    assert menus.try_match(account, followers[1])["button"][0]["name"] == "今日歌曲"
    assert menus.menu_for_buttons(account, menus.try_match(account, followers[0])) == conditional
    # Publishing again replaces the live conditional menu (the old one is deleted after).
    conditional.refresh_from_db()
    conditional.buttons = [{"type": "click", "name": "VIP2", "key": "VIP"}]
    conditional.save()
    again = menus.publish(conditional)
    live = sandbox.state.conditional_menus[APP_ID]
    assert [m["menuid"] for m in live] == [again.menuid] and again.menuid != first_menuid
    # Pull keeps the conditional draft attached to its menuid.
    pulled = menus.pull(account)
    assert {m.pk for m in pulled} == {default_menu.pk, conditional.pk}
    conditional.refresh_from_db()
    assert conditional.document() == {"button": [{"type": "click", "name": "VIP2", "key": "VIP"}],
                                      "matchrule": {"tag_id": str(vip)}}
    menus.delete_conditional(conditional)
    assert sandbox.state.conditional_menus[APP_ID] == []
    conditional.refresh_from_db()
    assert conditional.menuid == "" and conditional.live_version is None
    with pytest.raises(menus.MenuStateError):
        menus.delete_conditional(conditional)


def test_conditional_menu_without_default_is_refused_by_wechat(sandbox, account):
    menu = Menu.objects.create(account=account, kind=Menu.Kind.CONDITIONAL, name="iOS",
                               buttons=[{"type": "click", "name": "iOS", "key": "IOS"}],
                               matchrule={"client_platform_type": "1"})
    version = menus.publish(menu)
    assert version.status == MenuVersion.Status.FAILED and version.errcode == 65303


def test_delete_live_clears_every_menu(sandbox, account, default_menu):
    menus.publish(default_menu)
    menus.delete_live(account)
    assert sandbox.state.menus[APP_ID] is None
    default_menu.refresh_from_db()
    assert default_menu.live_version is None and default_menu.buttons == SIMPLE_MENU["button"]
    assert menus.pull(account) == []


def test_try_match_errors(sandbox, account, default_menu):
    with pytest.raises(ValueError):
        menus.try_match(account, " ")
    menus.publish(default_menu)
    with pytest.raises(WeChatAPIError) as caught:
        menus.try_match(account, "o_unknown_user")
    assert caught.value.errcode == 65302


def test_with_a_broker_the_version_is_sent_after_commit_and_a_lost_task_is_resumed(
        sandbox, account, default_menu, django_capture_on_commit_callbacks):
    from datetime import timedelta
    from unittest import mock

    from django.utils import timezone

    from wechat_app.services import enqueue as enqueue_module
    from wechat_app.tasks import publish_menu_version, resume_outbound

    task = publish_menu_version._get_current_object()
    with mock.patch.object(enqueue_module, "runs_here", return_value=False), \
            mock.patch.object(task, "apply_async", side_effect=ConnectionError("broker down")) as apply_async:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            version = menus.publish(default_menu)
    assert version.status == MenuVersion.Status.PENDING and len(callbacks) == 1
    apply_async.assert_called_once_with((version.pk,), countdown=None)
    assert menus.due_version_ids() == []  # too recent: its task may still run
    MenuVersion.objects.filter(pk=version.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert menus.due_version_ids() == [version.pk]
    assert resume_outbound() == 1  # eager here: the sweeper publishes it
    version.refresh_from_db()
    assert version.status == MenuVersion.Status.PUBLISHED and sandbox.state.menus[APP_ID] == SIMPLE_MENU


def test_a_transport_failure_is_stored_on_the_version(sandbox, account, default_menu):
    sandbox.state.add_fault("/cgi-bin/menu/create", "http", status=502)
    version = menus.publish(default_menu)
    assert version.status == MenuVersion.Status.FAILED and version.errcode is None
    assert version.errmsg.startswith("HTTP 502") and version.problem_path is None


def test_a_refused_conditional_publish_leaves_the_live_menu(sandbox, account, default_menu):
    menus.publish(default_menu)
    menu = Menu.objects.create(account=account, kind=Menu.Kind.CONDITIONAL, name="Android",
                               buttons=[{"type": "click", "name": "A", "key": "A"}],
                               matchrule={"client_platform_type": "2"})
    live = menus.publish(menu)
    menu.refresh_from_db()
    menu.buttons = [{"type": "view", "name": "A", "url": "https://elsewhere.example/"}]
    menu.save()
    sandbox.state.configure(menu_url_domains=["example.com"])
    failed = menus.publish(menu)
    assert failed.status == MenuVersion.Status.FAILED and failed.errcode == 40055 and failed.problem_path == [0]
    menu.refresh_from_db()
    assert menu.live_version == live and menu.menuid == live.menuid and menu.has_unpublished_changes
    assert [m["menuid"] for m in sandbox.state.conditional_menus[APP_ID]] == [live.menuid]


def test_deleting_a_menu_keeps_its_versions_and_deleting_the_account_removes_all(account, default_menu):
    version = menus.publish(default_menu)
    default_menu.delete()
    version.refresh_from_db()
    assert version.menu is None and version.document == SIMPLE_MENU
    menu = Menu.objects.create(account=account, name="again", buttons=SIMPLE_MENU["button"])
    menus.publish(menu)
    account.delete()
    assert not Menu.objects.exists() and not MenuVersion.objects.exists()


def test_rollback_of_a_version_whose_menu_was_deleted(sandbox, account, default_menu):
    version = menus.publish(default_menu)
    default_menu.delete()
    new = menus.rollback(version)
    assert new.status == MenuVersion.Status.PUBLISHED and new.menu.kind == Menu.Kind.DEFAULT
    assert new.menu.document() == SIMPLE_MENU


def test_a_late_task_does_not_replace_a_newer_published_menu(sandbox, account, default_menu):
    from unittest import mock

    from wechat_app.services import enqueue as enqueue_module

    with mock.patch.object(enqueue_module, "enqueue"):  # its task is lost
        lost = menus.publish(default_menu)
    assert lost.status == MenuVersion.Status.PENDING
    default_menu.buttons = [{"type": "click", "name": "Newer", "key": "NEWER"}]
    default_menu.save()
    newer = menus.publish(default_menu)
    late = menus.send_version(lost.pk)  # the sweeper's resend
    assert late.status == MenuVersion.Status.FAILED and late.errmsg == "not sent: v2 was published since"
    assert sandbox.state.menus[APP_ID]["button"][0]["name"] == "Newer"
    default_menu.refresh_from_db()
    assert default_menu.live_version == newer


def test_pull_falls_back_to_the_current_selfmenu_of_a_console_made_menu(sandbox, account):
    sandbox.state.create_menu(APP_ID, SIMPLE_MENU)
    # A menu made in WeChat's console: menu/get does not know it.
    sandbox.state.add_fault("/cgi-bin/menu/get", "error", errcode=46003)
    [menu] = menus.pull(account)
    assert menu.kind == Menu.Kind.DEFAULT and menu.document() == SIMPLE_MENU
    assert menu.live_version.source == MenuVersion.Source.PULL
