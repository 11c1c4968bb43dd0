"""manage.py wechat_menu: get, create (file and stdin), publish, pull, history, rollback, delete, exit codes."""
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from wechat_app.models import Menu, MenuVersion

from .conftest import APP_ID, SIMPLE_MENU

pytestmark = pytest.mark.django_db


def run(*args, stdin=None, monkeypatch=None):
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    call_command("wechat_menu", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def exit_code(*args, monkeypatch, stdin=None):
    """Run as from a shell: the process's exit status."""
    from django.core.management import ManagementUtility
    from django.db import connections

    # run_from_argv closes the database connections when done, the test's own too.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    with pytest.raises(SystemExit) as caught:
        ManagementUtility(["manage.py", "wechat_menu", *args]).execute()
        raise SystemExit(0)
    return caught.value.code


def test_create_from_stdin_publish_get_round_trip(sandbox, account, monkeypatch):
    out, err = run("create", "--account", "menus", "--publish", stdin=json.dumps(SIMPLE_MENU, ensure_ascii=False),
                   monkeypatch=monkeypatch)
    assert out.strip() == "v1 published" and "Stored the default menu draft 'Default menu'" in err
    assert sandbox.state.menus[APP_ID] == SIMPLE_MENU
    out, _ = run("get", "--account", "menus")
    assert json.loads(out) == SIMPLE_MENU


def test_create_from_a_file_stores_a_draft_only(sandbox, account, tmp_path):
    path = tmp_path / "menu.json"
    path.write_text(json.dumps(SIMPLE_MENU, ensure_ascii=False), encoding="utf-8")
    out, _ = run("create", str(path), "--account", "menus", "--name", "Main")
    menu = Menu.objects.get(account=account)
    assert out.strip() == f"menu {menu.pk}" and menu.name == "Main" and menu.document() == SIMPLE_MENU
    assert sandbox.state.menus.get(APP_ID) is None and not MenuVersion.objects.exists()
    # A second create updates the same default draft.
    run("create", str(path), "--account", "menus")
    assert Menu.objects.filter(account=account).count() == 1


def test_a_conditional_menu_from_json_with_a_matchrule(sandbox, account, tmp_path):
    path = tmp_path / "default.json"
    path.write_text(json.dumps(SIMPLE_MENU), encoding="utf-8")
    run("create", str(path), "--account", "menus", "--publish")
    conditional = {"button": [{"type": "click", "name": "iOS", "key": "IOS"}],
                   "matchrule": {"client_platform_type": "1"}}
    path.write_text(json.dumps(conditional), encoding="utf-8")
    out, _ = run("create", str(path), "--account", "menus", "--publish")
    assert out.startswith("v2 published (menuid ")
    assert Menu.objects.get(account=account, kind="conditional").matchrule == {"client_platform_type": "1"}
    out, _ = run("get", "--account", "menus", "--all")
    assert json.loads(out)["conditionalmenu"][0]["matchrule"] == {"client_platform_type": "1"}


def test_invalid_json_and_invalid_menus_exit_3_and_store_nothing(sandbox, account, monkeypatch):
    assert exit_code("create", "--account", "menus", stdin="{not json", monkeypatch=monkeypatch) == 3
    bad = {"button": [{"type": "click", "name": "名字太长了名字太长了", "key": "K"}]}
    with pytest.raises(CommandError) as caught:
        run("create", "-", "--account", "menus", stdin=json.dumps(bad), monkeypatch=monkeypatch)
    assert caught.value.returncode == 3
    assert "button 1: name is 30 bytes, the limit is 16" in str(caught.value)
    assert not Menu.objects.exists() and not sandbox.state.list_calls(path="/cgi-bin/menu/create")


def test_usage_errors_exit_1(account, monkeypatch, tmp_path):
    assert exit_code("get", "--account", "nobody", monkeypatch=monkeypatch) == 1
    assert exit_code("create", str(tmp_path / "missing.json"), "--account", "menus", monkeypatch=monkeypatch) == 1
    assert exit_code("rollback", "9", "--account", "menus", monkeypatch=monkeypatch) == 1
    assert exit_code("publish", "--account", "menus", monkeypatch=monkeypatch) == 1


def test_get_without_a_menu_exits_5(account, monkeypatch):
    assert exit_code("get", "--account", "menus", monkeypatch=monkeypatch) == 5


def test_a_refusal_exits_4_with_the_button(sandbox, account, default_menu, monkeypatch):
    sandbox.state.configure(menu_url_domains=["mp.weixin.qq.com"])
    with pytest.raises(CommandError) as caught:
        run("publish", "--account", "menus")
    assert caught.value.returncode == 4
    assert "WeChat refused v1: 40054" in str(caught.value) and "(button 2 › sub-button 1)" in str(caught.value)
    assert MenuVersion.objects.get().status == MenuVersion.Status.FAILED


def test_pull_history_rollback_delete(sandbox, account, default_menu):
    run("publish", "--account", "menus")
    default_menu.buttons = [{"type": "click", "name": "New", "key": "NEW"}]
    default_menu.save()
    run("publish", "--account", "menus")
    out, _ = run("rollback", "1", "--account", "menus")
    assert out.strip() == "v3 published" and sandbox.state.menus[APP_ID] == SIMPLE_MENU
    out, _ = run("pull", "--account", "menus")
    assert out.startswith("Pulled 1 menu(s): Default menu")
    out, _ = run("history", "--account", "menus")
    lines = out.splitlines()
    assert lines[0].startswith("v4") and "pull" in lines[0] and "rollback from v1" in lines[1]
    rows = json.loads(run("history", "--account", "menus", "--json", "--limit", "2")[0])
    assert [r["number"] for r in rows] == [4, 3] and rows[1]["rolled_back_from"] == 1
    out, _ = run("delete", "--account", "menus")
    assert sandbox.state.menus[APP_ID] is None
    out, _ = run("pull", "--account", "menus")
    assert "has no menu on WeChat" in out


def test_delete_one_conditional_menu(sandbox, account, default_menu):
    run("publish", "--account", "menus")
    conditional = Menu.objects.create(account=account, kind="conditional", name="Android",
                                      buttons=[{"type": "click", "name": "A", "key": "A"}],
                                      matchrule={"client_platform_type": "2"})
    run("publish", "--account", "menus", "--menu", str(conditional.pk))
    assert len(sandbox.state.conditional_menus[APP_ID]) == 1
    out, _ = run("delete", "--account", "menus", "--menu", str(conditional.pk))
    assert out.strip() == "Deleted the live conditional menu 'Android'."
    assert sandbox.state.conditional_menus[APP_ID] == [] and sandbox.state.menus[APP_ID] == SIMPLE_MENU
    with pytest.raises(CommandError, match="not live on WeChat") as caught:
        run("delete", "--account", "menus", "--menu", str(conditional.pk))
    assert caught.value.returncode == 1
