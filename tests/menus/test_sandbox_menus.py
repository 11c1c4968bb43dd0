"""The sandbox's menu endpoints: WeChat's validation and codes, default and conditional menus per
app id, trymatch by the follower's profile, and the inspection API."""
import json
import urllib.request

import pytest

from wechat_app.client import WeChatAPIError, WeChatClient

from .conftest import SIMPLE_MENU

APP, SECRET = "wxsandboxmenu1", "sandbox-menu-secret"


@pytest.fixture
def client(sandbox):
    sandbox.state.add_app(APP, SECRET)
    sandbox.state.add_followers(APP, ["o_follower_ios", "o_follower_vip", "o_follower_plain"])
    return WeChatClient(APP, SECRET, base_url=sandbox.url)


def errcode(call, *args):
    with pytest.raises(WeChatAPIError) as caught:
        call(*args)
    return caught.value.errcode


def click(name="B", key="K"):
    return {"type": "click", "name": name, "key": key}


@pytest.mark.parametrize("buttons, code", [
    ([], 40016),
    ([click(key=str(i)) for i in range(4)], 40016),
    ([{"type": "nope", "name": "B"}], 40017),
    ([click(name="a" * 17)], 40018),
    ([click(key="k" * 129)], 40019),
    ([{"type": "view", "name": "B", "url": "https://x.com/" + "a" * 1020}], 40020),
    ([{"name": "P", "sub_button": [click(key=str(i)) for i in range(6)]}], 40023),
    ([{"name": "P", "sub_button": [{"type": "nope", "name": "s"}]}], 40024),
    ([{"name": "P", "sub_button": [click(name="字" * 21)]}], 40025),
    ([{"name": "P", "sub_button": [click(key="")]}], 40026),
    ([{"name": "P", "sub_button": [{"type": "view", "name": "s", "url": ""}]}], 40027),
    ([{"name": "P", "sub_button": [{"type": "view", "name": "s", "url": "javascript:alert(1)"}]}], 40054),
    ([{"type": "view", "name": "B", "url": "ftp://x.com"}], 40055),
    ([{"name": "P", "sub_button": [{"name": "s", "sub_button": [click()]}]}], 40022),
    ([{"type": "media_id", "name": "B"}], 40007),
    ([{"type": "miniprogram", "name": "B", "url": "https://x.com"}], 47001),
    ([{"name": "P", "sub_button": [{"type": "view", "name": f"s{i}", "url": f"https://h{i}.com"} for i in range(4)]}],
     65316),
])
def test_create_refuses_as_wechat_does(client, sandbox, buttons, code):
    assert errcode(client.menu.create, {"button": buttons}) == code
    assert sandbox.state.menus.get(APP) is None


def test_url_domains_can_be_restricted(client, sandbox):
    sandbox.state.configure(menu_url_domains=["example.com"])
    assert errcode(client.menu.create, {"button": [{"type": "view", "name": "B", "url": "https://x.com"}]}) == 40055
    client.menu.create({"button": [{"type": "view", "name": "B", "url": "https://example.com/a"}]})


def test_get_answers_with_sub_button_lists_and_46003_without_a_menu(client):
    assert errcode(client.menu.get) == 46003
    client.menu.create(SIMPLE_MENU)
    answer = client.menu.get()
    assert answer["menu"]["button"][0] == {**SIMPLE_MENU["button"][0], "sub_button": []}
    assert answer["menu"]["button"][1]["sub_button"][0] == {**SIMPLE_MENU["button"][1]["sub_button"][0],
                                                            "sub_button": []}
    assert "conditionalmenu" not in answer
    current = client.menu.get_current()
    assert current["is_menu_open"] == 1
    assert current["selfmenu_info"]["button"][1]["sub_button"]["list"][0]["name"] == "搜索"


def test_conditional_menus_and_trymatch(client, sandbox):
    vip = client.tag.create("vip")["id"]
    client.tag.tag_users(vip, ["o_follower_vip"])
    sandbox.state.followers[APP]["o_follower_ios"].client_platform_type = "1"
    conditional = {"button": [click("iOS", "IOS")], "matchrule": {"client_platform_type": "1"}}
    assert errcode(client.menu.add_conditional, conditional) == 65303  # no default menu yet
    client.menu.create(SIMPLE_MENU)
    ios = client.menu.add_conditional(conditional)
    vip_menu = client.menu.add_conditional({"button": [click("VIP", "VIP")], "matchrule": {"tag_id": str(vip)}})
    assert ios != vip_menu
    assert client.menu.try_match("o_follower_ios")["button"][0]["name"] == "iOS"
    assert client.menu.try_match("o_follower_vip")["button"][0]["name"] == "VIP"
    assert client.menu.try_match("o_follower_plain")["button"][0]["name"] == "今日歌曲"
    assert errcode(client.menu.try_match, "o_nobody_here") == 65302
    answer = client.menu.get()
    assert [str(m["menuid"]) for m in answer["conditionalmenu"]] == [ios, vip_menu]
    assert answer["conditionalmenu"][0]["matchrule"] == {"client_platform_type": "1"}
    client.menu.delete_conditional(ios)
    assert errcode(client.menu.delete_conditional, ios) == 65301
    assert client.menu.try_match("o_follower_ios")["button"][0]["name"] == "今日歌曲"
    client.menu.delete()
    assert errcode(client.menu.get) == 46003
    assert sandbox.state.conditional_menus[APP] == []


@pytest.mark.parametrize("matchrule, code", [
    ({}, 65304), ({"sex": ""}, 65304), ({"province": "广东"}, 65310), ({"country": "中国", "city": "广州"}, 65311),
    ({"tag_id": "999"}, 45159), ({"sex": "3"}, 47001),
])
def test_conditional_match_rules_are_checked(client, matchrule, code):
    client.menu.create(SIMPLE_MENU)
    assert errcode(client.menu.add_conditional, {"button": [click()], "matchrule": matchrule}) == code


def test_the_number_of_conditional_menus_is_limited(client, sandbox):
    sandbox.state.configure(max_conditional_menus=1)
    client.menu.create(SIMPLE_MENU)
    client.menu.add_conditional({"button": [click()], "matchrule": {"sex": "1"}})
    assert errcode(client.menu.add_conditional, {"button": [click()], "matchrule": {"sex": "2"}}) == 65305


def test_menus_are_per_app_and_shown_by_the_inspection_api(client, sandbox):
    sandbox.state.add_app("wxotherapp0001", "other-secret")
    other = WeChatClient("wxotherapp0001", "other-secret", base_url=sandbox.url)
    client.menu.create(SIMPLE_MENU)
    assert errcode(other.menu.get) == 46003
    menuid = client.menu.add_conditional({"button": [click()], "matchrule": {"language": "en"}})
    with urllib.request.urlopen(f"{sandbox.url}/_sandbox/menus?app_id={APP}") as response:  # noqa: S310
        shown = json.loads(response.read())["menus"]
    assert shown == {APP: {"default": SIMPLE_MENU, "conditional": [
        {"button": [click()], "matchrule": {"language": "en"}, "menuid": menuid}]}}
    with urllib.request.urlopen(f"{sandbox.url}/_sandbox") as response:  # noqa: S310
        assert json.loads(response.read())["menus"][APP] == {"default": True, "conditional": 1}
    request = urllib.request.Request(f"{sandbox.url}/_sandbox/tags", method="POST",
                                     data=json.dumps({"app_id": APP, "name": "gold"}).encode())
    with urllib.request.urlopen(request) as response:  # noqa: S310
        assert json.loads(response.read())["tag"]["name"] == "gold"
