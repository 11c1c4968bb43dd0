"""Agent menus: a WeCom app's one menu through the existing menu editor, model, service and API
(/cgi-bin/menu/create?agentid=, get, delete on the sandbox's WeCom side)."""
import pytest

from wechat_app.client.wecom import WeComClient
from wechat_app.models import Menu, MenuVersion
from wechat_app.sandbox.wecom_login import agent_menu
from wechat_app.services import menus

from .conftest import AGENT_ID, CORP_ID, SECRET

pytestmark = pytest.mark.django_db
API = "/wechat/api/"
MENU = {"button": [
    {"type": "click", "name": "今日", "key": "TODAY"},
    {"name": "更多", "sub_button": [
        {"type": "view", "name": "官网", "url": "https://work.weixin.qq.com/"},
        {"type": "scancode_push", "name": "扫码", "key": "SCAN"},
    ]},
]}


@pytest.fixture
def draft(wecom_account):
    return Menu.objects.create(account=wecom_account, kind=Menu.Kind.DEFAULT, name="Agent menu",
                               buttons=MENU["button"])


def test_publish_pull_and_delete_the_agent_menu(sandbox, wecom_account, draft):
    version = menus.publish(draft)
    assert version.status == MenuVersion.Status.PUBLISHED, version.errmsg
    assert agent_menu(sandbox.state, CORP_ID, AGENT_ID)["button"][0]["key"] == "TODAY"
    calls = sandbox.state.list_calls(path="/cgi-bin/menu/create")
    assert calls[-1]["query"]["agentid"] == str(AGENT_ID) and calls[-1]["wecom"]
    Menu.objects.filter(pk=draft.pk).update(buttons=[])
    pulled = menus.pull(wecom_account)
    draft.refresh_from_db()
    assert [m.pk for m in pulled] == [draft.pk] and draft.document() == MENU
    menus.delete_live(wecom_account)
    assert agent_menu(sandbox.state, CORP_ID, AGENT_ID) is None
    assert menus.pull(wecom_account) == []


def test_no_conditional_menus_nor_try_match(wecom_account):
    conditional = Menu.objects.create(account=wecom_account, kind=Menu.Kind.CONDITIONAL, name="c",
                                      buttons=MENU["button"], matchrule={"sex": "1"})
    with pytest.raises(menus.MenuStateError, match="agent menu"):
        menus.publish(conditional)
    with pytest.raises(menus.MenuStateError):
        menus.try_match(wecom_account, "zhangsan")
    assert not MenuVersion.objects.exists()


def test_client_and_sandbox_errors(sandbox, corp_app):
    from wechat_app.client import WeChatAPIError

    client = WeComClient(CORP_ID, SECRET, sandbox.url, agent_id=AGENT_ID)
    with pytest.raises(WeChatAPIError) as caught:
        client.menu.get()
    assert caught.value.errcode == 46003
    with pytest.raises(WeChatAPIError) as caught:
        client.menu.create(MENU, agent_id=AGENT_ID + 1)
    assert caught.value.errcode == 40056
    with pytest.raises(WeChatAPIError) as caught:
        client.menu.create({"button": []})
    assert caught.value.errcode == 40016
    client.menu.create(MENU)
    assert client.menu.get()["button"][1]["sub_button"][1]["type"] == "scancode_push"


def test_api_publish(admin_client, sandbox, wecom_account, draft):
    response = admin_client.post(API + f"menus/{draft.pk}/publish/", content_type="application/json")
    assert response.status_code in (200, 201), response.json()
    assert agent_menu(sandbox.state, CORP_ID, AGENT_ID) is not None
    conditional = Menu.objects.create(account=wecom_account, kind=Menu.Kind.CONDITIONAL, name="c",
                                      buttons=MENU["button"], matchrule={"sex": "1"})
    response = admin_client.post(API + f"menus/{conditional.pk}/publish/", content_type="application/json")
    assert response.status_code == 409 and "agent menu" in str(response.json())


def test_admin_publish(admin_client, sandbox, wecom_account, draft):
    import json

    response = admin_client.post(f"/admin/wechat_app/menu/{draft.pk}/change/", {
        "account": wecom_account.pk, "kind": "default", "name": "Agent menu", "buttons": json.dumps(MENU["button"]),
        "_publish": "1"}, follow=True)
    assert response.status_code == 200
    assert agent_menu(sandbox.state, CORP_ID, AGENT_ID)["button"][0]["key"] == "TODAY"
    assert MenuVersion.objects.get(menu=draft).status == MenuVersion.Status.PUBLISHED
