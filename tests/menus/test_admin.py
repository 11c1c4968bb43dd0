"""The menu admin (issue 9): the editor's form and its validation by button path, publishing to the
sandbox, versions (diff, rollback), pull, deleting the live menu, try match, rule linking, click
counts, the simulator's menu bar, and per-account access."""
import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from wechat_app.models import Account, AccountMembership, Menu, MenuVersion, MessageLog, Rule
from wechat_app.services import menus as menu_services

from .conftest import APP_ID

BUTTONS = [
    {"name": "商城", "sub_button": [
        {"type": "click", "name": "Today's deals", "key": "DEALS"},
        {"type": "scancode_push", "name": "Scan a coupon", "key": "COUPON"},
    ]},
    {"type": "view", "name": "Contact", "url": "https://example.com/contact"},
]


@pytest.fixture
def other_account(db):
    return Account.objects.create(name="other", app_id="wxother000001", app_secret="s" * 32, token="tok456")


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw-12345678"))
    return client


def _member(django_user_model, name, account, actions):
    user = django_user_model.objects.create_user(name, f"{name}@example.com", "pw-12345678", is_staff=True)
    codenames = [f"{action}_{model}" for model in ("menu", "menuversion", "rule") for action in actions]
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="wechat_app",
                                                        codename__in=codenames + ["view_account"]))
    AccountMembership.objects.create(user=user, account=account)
    return user


@pytest.fixture
def menu(account):
    return Menu.objects.create(account=account, kind="default", name="Main", buttons=BUTTONS)


def _form(account, buttons, **extra):
    data = {"account": account.pk, "name": "Main", "kind": "default", "buttons": json.dumps(buttons, ensure_ascii=False)}
    data.update(extra)
    return data


def _editor_data(response):
    return response.context["menu_editor"]


# ---- the editor's form ---------------------------------------------------------------------------
def test_add_page_has_the_editor_and_the_preview(admin_client, account):
    response = admin_client.get("/admin/wechat_app/menu/add/")
    assert response.status_code == 200
    html = response.content.decode()
    for marker in ('id="wx-menu-editor"', 'id="wx-menubar"', 'id="wx-menu-data"', 'name="_publish"',
                   "menu-editor.js", "menu-editor.css"):
        assert marker in html


def test_saving_stores_wechat_json(admin_client, account):
    response = admin_client.post("/admin/wechat_app/menu/add/", _form(account, BUTTONS))
    assert response.status_code == 302
    menu = Menu.objects.get()
    assert menu.buttons == BUTTONS and menu.matchrule == {}
    assert menu.live_version is None and not MenuVersion.objects.exists()  # saving publishes nothing


def test_invalid_tree_names_the_button_and_saves_nothing(admin_client, account):
    buttons = json.loads(json.dumps(BUTTONS))
    buttons[0]["sub_button"][1]["name"] = "扫" * 21  # 63 bytes
    buttons[1]["url"] = ""
    response = admin_client.post("/admin/wechat_app/menu/add/", _form(account, buttons))
    assert response.status_code == 200
    assert not Menu.objects.exists()
    problems = _editor_data(response)["problems"]
    assert {"path": [0, 1], "field": "name", "message": "name is 63 bytes, the limit is 60"} in problems
    assert any(p["path"] == [1] and p["field"] == "url" for p in problems)
    html = response.content.decode()
    assert "button 1 › sub-button 2: name is 63 bytes, the limit is 60" in html
    # the message appears once (the form's check, not again from the model's)
    assert html.count("name is 63 bytes, the limit is 60") == 1 + html.count('"name is 63 bytes')


@pytest.mark.parametrize("value", ["not json", '{"button": []}', "[1, 2]"])
def test_garbage_buttons_field_is_a_form_error(admin_client, account, value):
    response = admin_client.post("/admin/wechat_app/menu/add/", {**_form(account, []), "buttons": value})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not Menu.objects.exists()


def test_conditional_menu_needs_a_match_field(admin_client, account):
    response = admin_client.post("/admin/wechat_app/menu/add/", _form(account, BUTTONS, kind="conditional", name="VIP"))
    assert response.status_code == 200 and not Menu.objects.exists()
    response = admin_client.post("/admin/wechat_app/menu/add/",
                                 _form(account, BUTTONS, kind="conditional", name="VIP", sex="2", language="zh_CN"))
    assert response.status_code == 302
    assert Menu.objects.get().matchrule == {"sex": "2", "language": "zh_CN"}


def test_conditional_menu_without_match_field_says_so_above_the_form(admin_client, account):
    response = admin_client.post("/admin/wechat_app/menu/add/", _form(account, BUTTONS, kind="conditional", name="VIP"))
    errors = response.context["adminform"].form.non_field_errors()
    assert errors and all(e.startswith("match rule: ") for e in errors)
    assert _editor_data(response)["problems"] == []  # nothing wrong with the buttons


def test_conditional_menu_published_then_removed_from_wechat(admin_client, sandbox, account, menu):
    menu_services.publish(menu)  # WeChat wants a default menu before conditional ones
    vip = Menu.objects.create(account=account, kind="conditional", name="VIP", buttons=[BUTTONS[1]],
                              matchrule={"sex": "2"})
    response = admin_client.post(f"/admin/wechat_app/menu/{vip.pk}/change/",
                                 {"name": "VIP", "buttons": json.dumps([BUTTONS[1]]), "sex": "2", "_publish": "1"},
                                 follow=True)
    assert "Published to WeChat as" in response.content.decode()
    vip.refresh_from_db()
    assert vip.menuid and vip.live_version.menuid == vip.menuid
    assert 'form="wx-unpublish"' in response.content.decode()
    assert [m["menuid"] for m in sandbox.state.conditional_menus[APP_ID]] == [vip.menuid]
    response = admin_client.post(reverse("admin:wechat_app_menu_unpublish", args=[vip.pk]), follow=True)
    assert "was removed from WeChat" in response.content.decode()
    vip.refresh_from_db()
    assert vip.menuid == "" and vip.live_version is None and not sandbox.state.conditional_menus[APP_ID]


def test_default_menu_refuses_a_match_rule(admin_client, account):
    response = admin_client.post("/admin/wechat_app/menu/add/", _form(account, BUTTONS, tag_id="2"))
    assert response.status_code == 200 and not Menu.objects.exists()
    assert "Only a conditional menu has a match rule" in response.content.decode()


def test_second_default_menu_is_refused(admin_client, account, menu):
    response = admin_client.post("/admin/wechat_app/menu/add/", _form(account, BUTTONS, name="Another"))
    assert response.status_code == 200
    assert Menu.objects.count() == 1


# ---- publishing and versions ------------------------------------------------------------------
def test_save_and_publish_sends_it_and_records_a_version(admin_client, account, menu):
    response = admin_client.post(f"/admin/wechat_app/menu/{menu.pk}/change/",
                                 {**_form(account, BUTTONS), "_publish": "1"}, follow=True)
    assert response.status_code == 200
    assert "Published to WeChat as" in response.content.decode()
    version = MenuVersion.objects.get()
    assert version.status == "published" and version.document == {"button": BUTTONS}
    menu.refresh_from_db()
    assert menu.live_version == version and not menu.has_unpublished_changes
    pulled = menu_services.pull(account)
    assert [m.buttons for m in pulled if m.kind == "default"] == [BUTTONS]
    assert "live: version 1" in response.content.decode()


def test_wechat_refusing_the_publish_is_shown_and_the_live_menu_stays(admin_client, sandbox, account, menu):
    sandbox.state.add_fault("/cgi-bin/menu/create", errcode=40018)
    response = admin_client.post(f"/admin/wechat_app/menu/{menu.pk}/change/",
                                 {**_form(account, BUTTONS), "_publish": "1"}, follow=True)
    html = response.content.decode()
    assert "WeChat refused" in html and "40018" in html
    version = MenuVersion.objects.get()
    assert version.status == "failed" and version.errcode == 40018
    menu.refresh_from_db()
    assert menu.live_version is None
    assert "40018" in _editor_data(response)["problems"][0]["message"]


def test_publish_failure_marks_the_button_wechat_refused(admin_client, account, menu):
    version = MenuVersion.objects.create(account=account, menu=menu, number=1, kind="default",
                                         document={"button": BUTTONS}, source="publish", status="failed",
                                         errcode=40018, errmsg="invalid button name size", problem_path=[0, 1])
    response = admin_client.get(f"/admin/wechat_app/menu/{menu.pk}/change/")
    problems = _editor_data(response)["problems"]
    assert problems and problems[0]["path"] == [0, 1] and "40018" in problems[0]["message"]
    assert f"/admin/wechat_app/menuversion/{version.pk}/change/" in response.content.decode()


def test_version_page_shows_the_diff_and_rolls_back(admin_client, account, menu):
    first = menu_services.publish(menu)
    menu.buttons = [BUTTONS[1]]
    menu.save()
    second = menu_services.publish(menu)
    response = admin_client.get(f"/admin/wechat_app/menuversion/{second.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Changes from version 1 to version 2" in html
    assert '<span class="del">' in html and "Today&#x27;s deals" in html
    # rollback: version 1 is published again as version 3
    response = admin_client.post(reverse("admin:wechat_app_menuversion_rollback", args=[first.pk]), follow=True)
    assert response.status_code == 200
    third = MenuVersion.objects.get(number=3)
    assert third.source == "rollback" and third.document == first.document and third.status == "published"
    assert [m.buttons for m in menu_services.pull(account) if m.kind == "default"] == [BUTTONS]


def test_versions_are_read_only(admin_client, account, menu):
    version = menu_services.publish(menu)
    response = admin_client.post(f"/admin/wechat_app/menuversion/{version.pk}/change/", {"number": 9})
    assert response.status_code == 403
    assert admin_client.get("/admin/wechat_app/menuversion/add/").status_code == 403
    assert admin_client.get(reverse("admin:wechat_app_menuversion_rollback", args=[version.pk])).status_code == 403


def test_deleting_an_account_deletes_its_versions(admin_client, account, menu):
    # The admin refuses to delete what cascades to objects it may not delete: the versions must not
    # be undeletable for superusers, or no account that ever published could be deleted.
    menu_services.publish(menu)
    response = admin_client.post(f"/admin/wechat_app/account/{account.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Account.objects.filter(pk=account.pk).exists() and not MenuVersion.objects.exists()


def test_only_superusers_delete_versions(client, django_user_model, account, menu):
    version = menu_services.publish(menu)
    user = _member(django_user_model, "editor", account, ["view", "add", "change", "delete"])
    client.force_login(user)
    response = client.post(f"/admin/wechat_app/menuversion/{version.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403 and MenuVersion.objects.filter(pk=version.pk).exists()


# ---- pull, delete live, try match -----------------------------------------------------------------
def test_pull_from_wechat_into_drafts(admin_client, account, menu):
    menu_services.publish(menu)
    Menu.objects.all().delete()
    response = admin_client.post(reverse("admin:wechat_app_menu_pull"), {"account": account.pk}, follow=True)
    assert "1 menu(s) pulled from WeChat" in response.content.decode()
    assert Menu.objects.get(kind="default").buttons == BUTTONS


def test_delete_live_menu_asks_then_deletes(admin_client, account, menu):
    menu_services.publish(menu)
    url = reverse("admin:wechat_app_menu_delete_live")
    response = admin_client.get(url, {"account": account.pk})
    assert response.status_code == 200 and "Followers will see no menu" in response.content.decode()
    admin_client.post(url, {"account": account.pk})  # without confirm: nothing happens
    assert menu_services.pull(account)
    response = admin_client.post(url, {"account": account.pk, "confirm": "1"}, follow=True)
    assert "the live menu was deleted" in response.content.decode()
    menu.refresh_from_db()
    assert menu.live_version is None and menu.buttons == BUTTONS  # the draft stays


def test_trymatch_shows_the_menu_the_follower_sees(admin_client, sandbox, account, menu):
    menu_services.publish(menu)
    follower = sorted(sandbox.state.followers[APP_ID])[0]
    response = admin_client.get(reverse("admin:wechat_app_menu_trymatch"), {"account": account.pk, "user_id": follower})
    assert response.status_code == 200
    assert json.loads(response.context["buttons_json"]) == BUTTONS


def test_trymatch_bad_input_is_a_form_error(admin_client, account):
    response = admin_client.get(reverse("admin:wechat_app_menu_trymatch"), {"account": "abc", "user_id": " "})
    assert response.status_code == 200 and response.context["form"].errors


# ---- rule linking and click counts ------------------------------------------------------------
def test_link_rule_creates_an_event_rule_for_the_key(admin_client, account, menu):
    url = reverse("admin:wechat_app_menu_link_rule", args=[menu.pk])
    response = admin_client.post(url, {"key": "DEALS", "type": "click", "reply_text": "Half price today"})
    assert response.status_code == 200, response.content
    rule = Rule.objects.get(match_key="DEALS")
    assert rule.match_kind == "event" and response.json()["rule"]["id"] == rule.pk
    editor = _editor_data(admin_client.get(f"/admin/wechat_app/menu/{menu.pk}/change/"))
    assert [r["id"] for r in editor["rules"]["DEALS"]] == [rule.pk]


def test_link_rule_attaches_an_existing_rule(admin_client, account, menu):
    rule = Rule.objects.create(account=account, name="coupon", match_kind="contains", match_value="coupon",
                               replies=[{"type": "text", "content": "Here is your coupon"}])
    response = admin_client.post(reverse("admin:wechat_app_menu_link_rule", args=[menu.pk]),
                                 {"key": "COUPON", "type": "scancode_push", "rule": rule.pk})
    assert response.status_code == 200, response.content
    assert response.json()["rule"]["id"] in set(Rule.objects.filter(match_key="COUPON").values_list("pk", flat=True))


@pytest.mark.parametrize("data", [{"key": "DEALS"}, {"key": "", "reply_text": "x"}, {"key": "DEALS", "rule": "999999"},
                                  {"key": "DEALS", "rule": "abc"}])
def test_link_rule_bad_input_is_400(admin_client, account, menu, data):
    response = admin_client.post(reverse("admin:wechat_app_menu_link_rule", args=[menu.pk]), data)
    assert response.status_code == 400 and response.json()["error"]
    assert not Rule.objects.exists()


def test_link_rule_refuses_another_accounts_rule(admin_client, account, other_account, menu):
    theirs = Rule.objects.create(account=other_account, name="theirs", match_kind="contains", match_value="x",
                                 replies=[{"type": "text", "content": "x"}])
    response = admin_client.post(reverse("admin:wechat_app_menu_link_rule", args=[menu.pk]),
                                 {"key": "DEALS", "rule": theirs.pk})
    assert response.status_code == 400
    theirs.refresh_from_db()
    assert theirs.match_kind == "contains"


def test_editor_shows_clicks_of_the_last_7_days(admin_client, account, menu):
    def click(key, days_ago=0, event="CLICK"):
        row = MessageLog.objects.create(account=account, dedupe_key=f"k{MessageLog.objects.count()}", user="o1",
                                        msg_type="event", event=event, event_key=key, status="matched")
        MessageLog.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(days=days_ago))

    click("DEALS"), click("DEALS"), click("DEALS", days_ago=10), click("COUPON", event="scancode_push")
    editor = _editor_data(admin_client.get(f"/admin/wechat_app/menu/{menu.pk}/change/"))
    assert editor["clicks"].get("DEALS") == 2 and editor["clicks"].get("COUPON") == 1


# ---- the "Try it" chat's menu bar ---------------------------------------------------------------
def test_simulator_draws_the_live_menu_and_taps_send_its_events(admin_client, account, menu):
    Rule.objects.create(account=account, name="coupon", match_kind="event", match_value="scancode_push",
                        match_key="COUPON", replies=[{"type": "text", "content": "Coupon scanned"}])
    url = reverse("admin:wechat_app_rule_simulator")
    assert 'id="wx-sim-menubar"' not in admin_client.get(url, {"account": account.pk}).content.decode()
    menu_services.publish(menu)
    html = admin_client.get(url, {"account": account.pk}).content.decode()
    assert 'id="wx-sim-menubar"' in html
    assert 'data-sim-kind="scancode_push" data-sim-key="COUPON"' in html
    assert 'data-sim-kind="VIEW" data-sim-key="https://example.com/contact"' in html
    response = admin_client.post(url, {"account": account.pk, "user": "o_sim", "kind": "scancode_push", "key": "COUPON"},
                                 HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["turn"]["out"]["content"] == "Coupon scanned"


# ---- access ------------------------------------------------------------------------------------
def test_viewer_sees_the_menu_but_cannot_publish_or_link(client, django_user_model, account, menu):
    client.force_login(_member(django_user_model, "viewer", account, ["view"]))
    response = client.get(f"/admin/wechat_app/menu/{menu.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="_publish"' not in html
    assert 'id="wx-menu-editor" class="wx-menu-editor" data-kind="default" data-readonly' in html
    assert 'id="id_buttons"' in html  # the editor draws the tree and the preview from it
    assert _editor_data(response)["link_url"] is None
    assert client.post(f"/admin/wechat_app/menu/{menu.pk}/change/", {**_form(account, []), "_publish": "1"}).status_code == 403
    assert client.post(reverse("admin:wechat_app_menu_link_rule", args=[menu.pk]),
                       {"key": "DEALS", "reply_text": "x"}).status_code == 403
    assert client.post(reverse("admin:wechat_app_menu_pull"), {"account": account.pk}).status_code == 403
    assert client.post(reverse("admin:wechat_app_menu_delete_live"),
                       {"account": account.pk, "confirm": "1"}).status_code == 403
    assert not MenuVersion.objects.exists() and not Rule.objects.exists()


def test_other_accounts_menus_are_404(client, django_user_model, account, other_account):
    theirs = Menu.objects.create(account=other_account, kind="default", name="Theirs", buttons=BUTTONS)
    version = MenuVersion.objects.create(account=other_account, menu=theirs, number=1, kind="default",
                                         document={"button": BUTTONS}, source="publish", status="published")
    client.force_login(_member(django_user_model, "editor", account, ["view", "add", "change"]))
    assert client.get(f"/admin/wechat_app/menu/{theirs.pk}/change/").status_code in (302, 404)
    assert client.post(reverse("admin:wechat_app_menu_link_rule", args=[theirs.pk]),
                       {"key": "DEALS", "reply_text": "x"}).status_code == 404
    assert client.post(reverse("admin:wechat_app_menu_pull"), {"account": other_account.pk}).status_code == 404
    assert client.get(reverse("admin:wechat_app_menu_delete_live"), {"account": other_account.pk}).status_code == 404
    assert client.post(reverse("admin:wechat_app_menuversion_rollback", args=[version.pk])).status_code == 404
    listing = client.get("/admin/wechat_app/menu/").content.decode()
    assert "Theirs" not in listing


@pytest.mark.parametrize("value", ["abc", "%C2%B2", "9" * 40, "1%00"])
def test_odd_ids_in_query_strings_are_never_a_500(admin_client, account, menu, value):
    version = menu_services.publish(menu)
    for url in (f"/admin/wechat_app/menu/delete-live/?account={value}",
                f"/admin/wechat_app/menu/trymatch/?account={value}&user_id=o1",
                f"/admin/wechat_app/menuversion/{version.pk}/change/?compare={value}"):
        response = admin_client.get(url)
        assert response.status_code in (200, 302, 400), (url, response.status_code)
    response = admin_client.post(reverse("admin:wechat_app_menu_pull"), {"account": value.replace("%00", "\x00")})
    assert response.status_code == 404
    assert MenuVersion.objects.count() == 1
