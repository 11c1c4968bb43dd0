"""The REST API for custom menus (issue 9): drafts validated with the button paths, publish, pull,
rollback, diff, try match and delete, against the sandbox, with per-account access."""
from __future__ import annotations

import json
import socket

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from wechat_app.models import Account, AccountMembership, Menu, MenuVersion
from wechat_app.sandbox.testing import sandbox  # noqa: F401  (pytest fixture)
from wechat_app.services import menus as menu_services
from tests.api_errors import error_fields, message

pytestmark = pytest.mark.django_db

API = "/wechat/api"
APP_ID, APP_SECRET = "wxmenuapi0001", "menu-api-app-secret"
BUTTONS = [
    {"type": "click", "name": "Today", "key": "TODAY"},
    {"name": "More", "sub_button": [
        {"type": "view", "name": "Site", "url": "https://example.com/"},
        {"type": "scancode_push", "name": "Scan", "key": "SCAN"},
    ]},
]


@pytest.fixture(autouse=True)
def _eager_celery(eager_celery):
    """Publishing runs its task in-process (CI's second pass configures a Redis broker)."""


@pytest.fixture
def account(sandbox):
    sandbox.state.add_app(APP_ID, APP_SECRET)
    return Account.objects.create(name="shop", app_id=APP_ID, app_secret=APP_SECRET, token="tok123",
                                  api_base_url=sandbox.url)


@pytest.fixture
def other_account():
    return Account.objects.create(name="other", app_id="wxmenuapi0002", app_secret="other-app-secret-01",
                                  token="tok456")


@pytest.fixture
def api(client):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", None))
    return client


def send(client, method, url, data=None):
    if method == "get":
        return client.get(f"{API}/{url}")
    body = json.dumps(data) if data is not None else None
    return getattr(client, method)(f"{API}/{url}", body, content_type="application/json")


def make_menu(account, buttons=BUTTONS, **fields):
    return Menu.objects.create(account=account, name=fields.pop("name", "Default menu"), buttons=buttons, **fields)


def staff(client, *perms, accounts=()):
    user = get_user_model().objects.create_user(f"user{len(perms)}", password=None, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="wechat_app", codename__in=perms))
    for account in accounts:
        AccountMembership.objects.create(user=user, account=account)
    client.force_login(user)
    return client


# ---- drafts -------------------------------------------------------------------------------------------

def test_create_a_draft_normalized_as_the_validator_sends_it(api, account):
    buttons = [{"type": "click", "name": "  Today ", "key": "TODAY"}]
    resp = send(api, "post", "menus/", {"account": "shop", "name": "Default menu", "buttons": buttons})
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["kind"] == "default" and body["buttons"] == [{"type": "click", "name": "Today", "key": "TODAY"}]
    assert body["live_version"] is None and body["has_unpublished_changes"] is True
    assert Menu.objects.get(pk=body["id"]).buttons[0]["name"] == "Today"
    assert send(api, "get", f"menus/{body['id']}/").json()["name"] == "Default menu"


def test_problems_are_field_errors_naming_the_button(api, account):
    buttons = [{"type": "click", "name": "今日推荐菜", "key": "A"},  # 15 bytes: fine
               {"name": "More", "sub_button": [{"type": "view", "name": "ok", "url": "https://example.com/"}] * 3
                + [{"type": "click", "name": "x" * 61, "key": "B"}]},
               {"type": "click", "name": "今日推荐菜单", "key": "A"}]  # 18 bytes, and a repeated key
    resp = send(api, "post", "menus/", {"account": "shop", "name": "Menu", "buttons": buttons})
    assert resp.status_code == 400, resp.content
    messages = error_fields(resp)["buttons"]
    assert "button 2 › sub-button 4: name is 61 bytes, the limit is 60" in messages
    assert "button 3: name is 18 bytes, the limit is 16" in messages
    assert any(message.startswith("button 3") and "key" in message for message in messages if "18 bytes" not in message)
    assert not Menu.objects.exists()


@pytest.mark.parametrize("fields, field", [
    ({"buttons": "not a list"}, "buttons"),
    ({"buttons": [1, None, "x"]}, "buttons"),
    ({"buttons": []}, "buttons"),
    ({"buttons": [{"type": "teleport", "name": "x"}]}, "buttons"),
    ({"buttons": [{"type": "view", "name": "x", "url": "javascript:alert(1)"}]}, "buttons"),
    ({"buttons": [{"type": "click", "name": "x", "key": "k", "sub_button": [[[[]]]]}]}, "buttons"),
    ({"buttons": BUTTONS, "matchrule": {"sex": "1"}}, "matchrule"),  # a default menu has none
    ({"buttons": BUTTONS, "kind": "conditional"}, "matchrule"),  # a conditional menu needs one
    ({"buttons": BUTTONS, "kind": "conditional", "matchrule": ["sex", "1"]}, "matchrule"),
    ({"buttons": BUTTONS, "kind": "conditional", "matchrule": {"planet": "Mars"}}, "matchrule"),
    ({"buttons": BUTTONS, "kind": "sideways"}, "kind"),
    ({"buttons": BUTTONS, "name": ""}, "name"),
    ({"buttons": BUTTONS, "name": "a\x00b"}, "name"),
    ({"buttons": BUTTONS, "account": "nobody"}, "account"),
    ({"buttons": BUTTONS, "account": "a\x00b"}, "account"),
])
def test_bad_drafts_are_400_naming_the_field_and_write_nothing(api, account, fields, field):
    resp = send(api, "post", "menus/", {"account": "shop", "name": "Menu", **fields})
    assert resp.status_code == 400, resp.content
    assert field in error_fields(resp), error_fields(resp)
    assert not Menu.objects.exists()


def test_one_default_menu_per_account(api, account):
    make_menu(account)
    resp = send(api, "post", "menus/", {"account": "shop", "name": "Another", "buttons": BUTTONS})
    assert resp.status_code == 400 and error_fields(resp)["kind"] == ["This account already has a default menu."]
    conditional = {"account": "shop", "name": "VIP", "kind": "conditional", "buttons": BUTTONS,
                   "matchrule": {"sex": 1}}
    resp = send(api, "post", "menus/", conditional)
    assert resp.status_code == 201, resp.content
    assert resp.json()["matchrule"] == {"sex": "1"}  # as WeChat's JSON writes it


def test_update_keeps_account_and_kind(api, account, other_account):
    menu = make_menu(account)
    resp = send(api, "patch", f"menus/{menu.pk}/", {"buttons": [{"type": "click", "name": "Only", "key": "K"}]})
    assert resp.status_code == 200, resp.content
    menu.refresh_from_db()
    assert menu.buttons == [{"type": "click", "name": "Only", "key": "K"}]
    for change in ({"kind": "conditional", "matchrule": {"sex": "1"}}, {"account": "other"}):
        resp = send(api, "patch", f"menus/{menu.pk}/", change)
        assert resp.status_code == 400 and set(change) & set(error_fields(resp)), error_fields(resp)
    resp = send(api, "patch", f"menus/{menu.pk}/", {"buttons": [{"type": "view", "name": "Bad", "url": "ftp://x"}]})
    assert resp.status_code == 400 and error_fields(resp)["buttons"][0].startswith("button 1: ")
    menu.refresh_from_db()
    assert menu.kind == "default" and menu.account == account and menu.buttons[0]["name"] == "Only"


def test_list_filters(api, account, other_account):
    make_menu(account)
    make_menu(other_account, name="Theirs")
    make_menu(account, kind="conditional", name="VIP", matchrule={"sex": "2"})
    rows = send(api, "get", "menus/?account=shop").json()["results"]
    assert [row["name"] for row in rows] == ["Default menu", "VIP"]
    assert [row["name"] for row in send(api, "get", "menus/?kind=conditional").json()["results"]] == ["VIP"]
    resp = send(api, "get", "menus/?kind=sideways&account=a%00b")
    assert resp.status_code == 400 and set(error_fields(resp)) == {"kind", "account"}


def test_deleting_a_draft(api, account):
    menu = make_menu(account)
    assert send(api, "delete", f"menus/{menu.pk}/").status_code == 204
    assert not Menu.objects.exists()


# ---- publishing, versions, rollback -------------------------------------------------------------------

def test_publish_then_edit_diff_and_history(api, account, sandbox):
    menu = make_menu(account)
    resp = send(api, "post", f"menus/{menu.pk}/publish/")
    assert resp.status_code == 201, resp.content
    version = resp.json()
    assert version["status"] == "published" and version["number"] == 1 and version["published_by"] == "root"
    assert version["document"] == {"button": BUTTONS} and version["source"] == "publish"
    assert sandbox.state.menus[APP_ID] == {"button": BUTTONS}
    draft = send(api, "get", f"menus/{menu.pk}/").json()
    assert draft["live_version"] == version["id"] and draft["has_unpublished_changes"] is False

    edited = [dict(BUTTONS[0], name="Tomorrow"), BUTTONS[1]]
    assert send(api, "patch", f"menus/{menu.pk}/", {"buttons": edited}).status_code == 200
    assert sandbox.state.menus[APP_ID] == {"button": BUTTONS}  # the draft changes nothing live
    pending = send(api, "get", f"menus/{menu.pk}/diff/").json()
    assert pending["older"] == version["id"] and pending["newer"] is None
    assert '-      "name": "Today",' in pending["diff"] and '+      "name": "Tomorrow",' in pending["diff"]

    second = send(api, "post", f"menus/{menu.pk}/publish/").json()
    assert second["number"] == 2 and sandbox.state.menus[APP_ID] == {"button": edited}
    history = send(api, "get", "menu-versions/?account=shop").json()["results"]
    assert [row["number"] for row in history] == [2, 1]
    diff = send(api, "get", f"menu-versions/{second['id']}/diff/").json()
    assert (diff["older"], diff["newer"]) == (version["id"], second["id"])
    assert diff["diff"][:2] == ["--- v1", "+++ v2"] and '+      "name": "Tomorrow",' in diff["diff"]
    # Either order: the older version comes first.
    assert send(api, "get", f"menu-versions/{version['id']}/diff/?against={second['id']}").json() == diff
    first = send(api, "get", f"menu-versions/{version['id']}/diff/").json()
    assert first["older"] is None and first["newer"] == version["id"]


def test_rollback_publishes_an_old_version_again(api, account, sandbox):
    menu = make_menu(account)
    v1 = menu_services.publish(menu)
    menu.buttons = [{"type": "click", "name": "New", "key": "NEW"}]
    menu.save()
    menu_services.publish(menu)
    resp = send(api, "post", f"menu-versions/{v1.pk}/rollback/")
    assert resp.status_code == 201, resp.content
    v3 = resp.json()
    assert (v3["number"], v3["source"], v3["rolled_back_from"]) == (3, "rollback", v1.pk)
    assert sandbox.state.menus[APP_ID] == {"button": BUTTONS}
    menu.refresh_from_db()
    assert menu.buttons == BUTTONS and menu.live_version_id == v3["id"]


def test_diff_against_a_version_of_another_account_or_a_bad_id_is_400(api, account, other_account):
    mine = menu_services.publish(make_menu(account))
    theirs = MenuVersion.objects.create(account=other_account, number=1, document={"button": BUTTONS},
                                        status="published")
    for against in (theirs.pk, "abc", "0", "-1", "1" * 30, "\x00"):
        resp = send(api, "get", f"menu-versions/{mine.pk}/diff/?against={against}")
        assert resp.status_code == 400 and "against" in error_fields(resp), (against, resp.content)


def test_version_filters_are_validated(api, account):
    for query in ("status=done", "source=magic", "menu=x", "kind=other"):
        assert send(api, "get", f"menu-versions/?{query}").status_code == 400, query
    assert send(api, "get", "menu-versions/?status=published&menu=1").status_code == 200


def test_versions_are_read_only(api, account):
    version = menu_services.publish(make_menu(account))
    assert send(api, "post", "menu-versions/", {"account": "shop", "document": {}}).status_code == 405
    assert send(api, "patch", f"menu-versions/{version.pk}/", {"status": "failed"}).status_code == 405
    assert send(api, "delete", f"menu-versions/{version.pk}/").status_code == 405
    assert MenuVersion.objects.get(pk=version.pk).status == "published"


def test_publishing_an_invalid_draft_sends_nothing(api, account, sandbox):
    menu = make_menu(account, buttons=[{"type": "click", "name": "x" * 17, "key": "K"}])  # saved around the API
    resp = send(api, "post", f"menus/{menu.pk}/publish/")
    assert resp.status_code == 400 and error_fields(resp)["buttons"] == ["button 1: name is 17 bytes, the limit is 16"]
    assert not MenuVersion.objects.exists() and not sandbox.state.menus.get(APP_ID)


def test_wechat_refusal_is_a_400_with_the_version_and_the_button(api, account, sandbox):
    sandbox.state.configure(menu_url_domains=["example.com"])
    buttons = [BUTTONS[0], {"name": "More", "sub_button": [{"type": "view", "name": "Away",
                                                            "url": "https://elsewhere.org/"}]}]
    menu = make_menu(account, buttons=buttons)
    resp = send(api, "post", f"menus/{menu.pk}/publish/")
    assert resp.status_code == 400, resp.content
    body = resp.json()["error"]
    version = body["version"]
    assert body["code"] == "wechat_refused"
    assert version["status"] == "failed" and version["errcode"] == 40054
    assert version["problem_path"] == [1, 0] and version["problem"] == "button 2 › sub-button 1"
    assert "40054" in body["message"] and "button 2 › sub-button 1" in body["message"]
    menu.refresh_from_db()
    assert menu.live_version is None and not sandbox.state.menus.get(APP_ID)


def test_wechat_unreachable_is_a_502(api, account):
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    Account.objects.filter(pk=account.pk).update(api_base_url=f"http://127.0.0.1:{port}")
    menu = make_menu(account)
    resp = send(api, "post", f"menus/{menu.pk}/publish/")
    assert resp.status_code == 502, resp.content
    assert resp.json()["error"]["version"]["status"] == "failed"
    assert send(api, "post", "accounts/shop/menus/pull/").status_code == 502
    assert APP_SECRET not in resp.content.decode()


# ---- account actions: pull, delete live, try match -----------------------------------------------------

def test_pull_copies_the_live_menus_into_drafts(api, account, sandbox):
    sandbox.state.create_menu(APP_ID, {"button": BUTTONS})
    sandbox.state.add_conditional_menu(APP_ID, {"button": [BUTTONS[0]], "matchrule": {"sex": "2"}})
    resp = send(api, "post", "accounts/shop/menus/pull/")
    assert resp.status_code == 200, resp.content
    pulled = {row["kind"]: row for row in resp.json()}
    assert pulled["default"]["buttons"] == BUTTONS
    assert pulled["conditional"]["matchrule"] == {"sex": "2"} and pulled["conditional"]["menuid"]
    assert all(row["has_unpublished_changes"] is False for row in pulled.values())
    assert set(MenuVersion.objects.values_list("source", flat=True)) == {"pull"}
    # Publish -> pull gives the same tree.
    menu = Menu.objects.get(pk=pulled["default"]["id"])
    send(api, "post", f"menus/{menu.pk}/publish/")
    again = send(api, "post", "accounts/shop/menus/pull/").json()
    assert next(row for row in again if row["kind"] == "default")["buttons"] == BUTTONS


def test_delete_live_then_the_draft(api, account, sandbox):
    menu = make_menu(account)
    menu_services.publish(menu)
    resp = send(api, "delete", f"menus/{menu.pk}/")
    assert resp.status_code == 409 and "accounts/shop/menus/delete-live/" in message(resp)
    assert Menu.objects.filter(pk=menu.pk).exists()
    assert send(api, "post", "accounts/shop/menus/delete-live/").status_code == 204
    assert not sandbox.state.menus.get(APP_ID)
    menu.refresh_from_db()
    assert menu.live_version is None and MenuVersion.objects.count() == 1  # the history stays
    assert send(api, "delete", f"menus/{menu.pk}/").status_code == 204


def test_a_conditional_menu_comes_off_alone(api, account, sandbox):
    default = make_menu(account)
    menu_services.publish(default)
    vip = make_menu(account, kind="conditional", name="VIP", matchrule={"sex": "2"}, buttons=[BUTTONS[0]])
    menu_services.publish(vip)
    vip.refresh_from_db()
    assert vip.menuid and len(sandbox.state.conditional_menus[APP_ID]) == 1
    resp = send(api, "delete", f"menus/{vip.pk}/")
    assert resp.status_code == 409 and f"menus/{vip.pk}/delete-live/" in message(resp)
    resp = send(api, "post", f"menus/{vip.pk}/delete-live/")
    assert resp.status_code == 200 and resp.json()["menuid"] == "" and resp.json()["live_version"] is None
    assert sandbox.state.conditional_menus[APP_ID] == [] and sandbox.state.menus[APP_ID]
    again = send(api, "post", f"menus/{vip.pk}/delete-live/")  # not live any more
    assert again.status_code == 409
    assert send(api, "post", f"menus/{default.pk}/delete-live/").status_code == 409  # the default goes with all


def test_trymatch_says_which_menu_a_follower_sees(api, account, sandbox):
    default = make_menu(account)
    menu_services.publish(default)
    vip = make_menu(account, kind="conditional", name="Women", matchrule={"sex": "2"}, buttons=[BUTTONS[0]])
    menu_services.publish(vip)
    woman, man = sandbox.state.add_followers(APP_ID, count=2)
    sandbox.state.followers[APP_ID][woman].sex = "2"
    sandbox.state.followers[APP_ID][man].sex = "1"
    resp = send(api, "post", "accounts/shop/menus/trymatch/", {"user_id": woman})
    assert resp.status_code == 200, resp.content
    assert resp.json() == {"button": [BUTTONS[0]], "matched_menu": vip.pk}
    assert send(api, "post", "accounts/shop/menus/trymatch/", {"user_id": man}).json()["matched_menu"] == default.pk
    for bad in ({}, {"user_id": ""}, {"user_id": "has space"}, {"user_id": "x" * 65}, {"user_id": "a\x00"}):
        resp = send(api, "post", "accounts/shop/menus/trymatch/", bad)
        assert resp.status_code == 400 and "user_id" in error_fields(resp), (bad, resp.content)
    unknown = send(api, "post", "accounts/shop/menus/trymatch/", {"user_id": "nobody-follows"})
    assert unknown.status_code == 400 and "WeChat refused" in message(unknown)


# ---- access ---------------------------------------------------------------------------------------------

def test_viewer_reads_but_cannot_publish_pull_or_delete(client, account, sandbox):
    menu = make_menu(account)
    version = menu_services.publish(menu)
    staff(client, "view_menu", "view_menuversion", accounts=[account])
    assert send(client, "get", "menus/").json()["count"] == 1
    assert send(client, "get", f"menu-versions/{version.pk}/diff/").status_code == 200
    assert send(client, "get", f"menus/{menu.pk}/diff/").status_code == 200
    for method, url in (("post", f"menus/{menu.pk}/publish/"), ("post", f"menu-versions/{version.pk}/rollback/"),
                        ("post", "accounts/shop/menus/pull/"), ("post", "accounts/shop/menus/delete-live/"),
                        ("patch", f"menus/{menu.pk}/"), ("delete", f"menus/{menu.pk}/")):
        assert send(client, method, url, {}).status_code == 403, url
    assert MenuVersion.objects.count() == 1 and sandbox.state.menus[APP_ID]


def test_pull_needs_add_menu_too(client, account, sandbox):
    sandbox.state.create_menu(APP_ID, {"button": BUTTONS})
    staff(client, "view_menu", "change_menu", accounts=[account])
    assert send(client, "post", "accounts/shop/menus/pull/").status_code == 403
    assert not Menu.objects.exists()


def test_another_accounts_menus_are_not_found(client, account, other_account, sandbox):
    menu = make_menu(account)
    version = menu_services.publish(menu)
    perms = ("view_menu", "add_menu", "change_menu", "delete_menu", "view_menuversion")
    staff(client, *perms, accounts=[other_account])
    assert send(client, "get", "menus/").json()["results"] == []
    assert send(client, "get", "menu-versions/").json()["results"] == []
    for method, url in (("get", f"menus/{menu.pk}/"), ("get", f"menus/{menu.pk}/diff/"),
                        ("post", f"menus/{menu.pk}/publish/"), ("post", f"menus/{menu.pk}/delete-live/"),
                        ("patch", f"menus/{menu.pk}/"), ("delete", f"menus/{menu.pk}/"),
                        ("get", f"menu-versions/{version.pk}/"), ("get", f"menu-versions/{version.pk}/diff/"),
                        ("post", f"menu-versions/{version.pk}/rollback/"), ("post", "accounts/shop/menus/pull/"),
                        ("post", "accounts/shop/menus/delete-live/"),
                        ("post", "accounts/shop/menus/trymatch/")):
        assert send(client, method, url, {"user_id": "someone"}).status_code == 404, url
    resp = send(client, "post", "menus/", {"account": "shop", "name": "Sneaky", "buttons": BUTTONS})
    assert resp.status_code == 400 and set(error_fields(resp)) == {"account"}
    mine = make_menu(other_account)
    version_theirs = menu_services.publish(make_menu(other_account, kind="conditional", name="C",
                                                     matchrule={"sex": "1"}))
    assert send(client, "get", f"menu-versions/{version_theirs.pk}/diff/?against={version.pk}").status_code == 400
    assert send(client, "patch", f"menus/{mine.pk}/", {"account": "shop"}).status_code == 400
    assert MenuVersion.objects.filter(account=account).count() == 1 and Menu.objects.get(pk=menu.pk).name == menu.name


def test_anonymous_is_refused(client, account):
    assert send(client, "get", "menus/").status_code in (401, 403)
    assert send(client, "post", "accounts/shop/menus/pull/").status_code in (401, 403)


# ---- schema ----------------------------------------------------------------------------------------------

def test_openapi_schema_has_the_menu_endpoints_without_warnings(tmp_path):
    from django.core.management import call_command

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out),
                 "--custom-settings", "wechat_app.api.schema.SPECTACULAR_SETTINGS")
    schema = out.read_text()
    for path in ("/wechat/api/menus/{id}/publish/", "/wechat/api/menus/{id}/delete-live/",
                 "/wechat/api/menu-versions/{id}/diff/", "/wechat/api/menu-versions/{id}/rollback/",
                 "/wechat/api/accounts/{name}/menus/pull/", "/wechat/api/accounts/{name}/menus/delete-live/",
                 "/wechat/api/accounts/{name}/menus/trymatch/"):
        assert f"{path}:" in schema, path


def test_the_api_root_lists_accounts_menus_and_versions(api):
    root = send(api, "get", "").json()
    assert {"accounts", "rules", "messages", "menus", "menu-versions"} <= set(root), root
    assert root["accounts"].endswith("/wechat/api/accounts/")


@pytest.mark.parametrize("buttons, matchrule, field, message", [
    ([{"type": "click", "name": "a\x00b", "key": "K"}], None, "buttons", "button 1: name contains a control character"),
    ([{"name": "More", "sub_button": [{"type": "click", "name": "ok", "key": "K\ud800"}]}], None, "buttons",
     "button 1 › sub-button 1: key contains a control character"),
    ([{"type": "click", "name": "ok", "key": "K", "x\x00": 1}], None, "buttons", "button 1: "),
    ([{"type": "click", "name": "ok", "key": "K"}], {"country": "\x00"}, "matchrule", "control character"),
])
def test_characters_the_database_cannot_store_are_400(api, account, buttons, matchrule, field, message):
    # PostgreSQL's jsonb refuses U+0000 and lone surrogates: a 400 naming the button, never a 500.
    data = {"account": "shop", "name": "Menu", "buttons": buttons}
    if matchrule is not None:
        data.update(kind="conditional", matchrule=matchrule)
    resp = api.post(f"{API}/menus/", json.dumps(data, ensure_ascii=True), content_type="application/json")
    assert resp.status_code == 400, resp.content
    assert any(message in text for text in error_fields(resp)[field]), resp.json()
    assert not Menu.objects.exists()


def test_diff_of_a_conditional_version_compares_with_the_same_menus_previous_one(api, account):
    menu_services.publish(make_menu(account))
    vip = make_menu(account, kind="conditional", name="VIP", matchrule={"sex": "2"}, buttons=[BUTTONS[0]])
    first = menu_services.publish(vip)
    vip.buttons = [dict(BUTTONS[0], name="VIP only")]
    vip.save()
    second = menu_services.publish(vip)
    diff = send(api, "get", f"menu-versions/{second.pk}/diff/").json()
    assert diff["older"] == first.pk and '+      "name": "VIP only",' in diff["diff"]
    vip.delete()  # the versions stay, without their draft: no previous one can be told
    assert send(api, "get", f"menu-versions/{second.pk}/diff/").json()["older"] is None
