"""The contacts endpoint group against the sandbox, over HTTP: WeCom's answers and error codes."""
import pytest

from wechat_app.client import WeChatAPIError
from wechat_app.client.wecom import WeComClient

from .conftest import AGENT_ID, CORP_ID, SECRET


@pytest.fixture
def api(sandbox, corp_app):
    return WeComClient(CORP_ID, SECRET, sandbox.url, agent_id=AGENT_ID).contacts


def code_of(call, *args, **kwargs):
    with pytest.raises(WeChatAPIError) as caught:
        call(*args, **kwargs)
    return caught.value.errcode


def test_departments(api):
    sales = api.department.create("Sales", 1, order=10)
    north = api.department.create("North", sales)
    assert [d["id"] for d in api.department.list()] == [1, sales, north]
    assert [d["id"] for d in api.department.list(sales)] == [sales, north]
    api.department.update(north, name="North region", order=3)
    assert api.department.list(north)[0]["name"] == "North region"
    assert code_of(api.department.create, "Sales", 1) == 60008          # name taken under the parent
    assert api.department.create("Sales", north)                         # fine elsewhere
    assert code_of(api.department.create, "Bad*name", 1) == 60009
    assert code_of(api.department.create, "", 1) == 60001
    assert code_of(api.department.create, "Orphan", 999) == 60004
    assert code_of(api.department.update, 999, name="x") == 60003
    assert code_of(api.department.update, sales, parent_id=north) == 40058  # below itself
    assert code_of(api.department.delete, sales) == 60006                   # has sub-departments
    assert code_of(api.department.delete, 1) == 60007
    assert code_of(api.department.delete, 999) == 60003


def test_members(api):
    sales = api.department.create("Sales", 1)
    api.user.create("alice", "Alice", [sales], mobile="13800000001", position="lead")
    api.user.create("bob", "Bob", [1, sales], email="bob@corp.example")
    alice = api.user.get("alice")
    assert (alice["name"], alice["department"], alice["mobile"], alice["position"]) == ("Alice", [sales], "13800000001",
                                                                                         "lead")
    assert {u["userid"] for u in api.user.simple_list(sales)} == {"alice", "bob"}
    assert {u["userid"] for u in api.user.list(1)} >= {"bob", "zhangsan"}
    assert "alice" not in {u["userid"] for u in api.user.list(1)}
    assert "alice" in {u["userid"] for u in api.user.list(1, fetch_child=True)}
    api.user.update("alice", name="Alice W", department=[1])
    assert api.user.get("alice")["department"] == [1]
    assert code_of(api.user.get, "nobody") == 60111
    assert code_of(api.user.update, "nobody", name="x") == 60111
    assert code_of(api.user.create, "alice", "Again", [1], mobile="13800000009") == 60102
    assert code_of(api.user.create, "carol", "Carol", [1]) == 60129           # no mobile, no email
    assert code_of(api.user.create, "carol", "Carol", [1], mobile="13800000001") == 60104
    assert code_of(api.user.create, "carol", "Carol", [1], email="not-mail") == 60105
    assert code_of(api.user.create, "carol", "Carol", [999], email="c@corp.example") == 60003
    assert code_of(api.user.create, "bad id!", "Carol", [1], email="c@corp.example") == 40003
    assert code_of(api.department.delete, sales) == 60005                     # bob is in it
    api.user.delete("bob")
    api.department.delete(sales)
    assert code_of(api.user.delete, "bob") == 60111


def test_tags(api):
    api.user.create("alice", "Alice", [1], mobile="13800000001")
    managers = api.tag.create("Managers")
    assert api.tag.list() == [{"tagid": managers, "tagname": "Managers"}]
    assert code_of(api.tag.create, "Managers") == 40071
    assert code_of(api.tag.create, "x" * 33) == 40072
    answer = api.tag.add_users(managers, ["alice", "ghost"], [1, 999])
    assert answer == {"invalid_users": ["ghost"], "invalid_parties": [999]}
    info = api.tag.get(managers)
    assert info["userlist"] == [{"userid": "alice", "name": "Alice"}] and info["partylist"] == [1]
    assert code_of(api.tag.add_users, managers, ["ghost"]) == 40070
    api.tag.delete_users(managers, ["alice"])
    assert api.tag.get(managers)["userlist"] == []
    api.tag.update(managers, "Leads")
    assert api.tag.list()[0]["tagname"] == "Leads"
    assert code_of(api.tag.get, 999) == 40068
    assert code_of(api.tag.update, 999, "x") == 40068
    api.tag.delete(managers)
    assert code_of(api.tag.delete, managers) == 40068


def test_app_message_reaches_a_tag_made_through_contacts(sandbox, api, corp_app):
    """The contacts are the corp's directory that message/send reads."""
    api.user.create("alice", "Alice", [1], mobile="13800000001")
    tag = api.tag.create("Managers")
    api.tag.add_users(tag, ["alice"])
    client = WeComClient(CORP_ID, SECRET, sandbox.url, agent_id=AGENT_ID)
    client.message.send_text("hi", totag=[tag])
    assert sandbox.state.wecom.list_messages()[-1]["reached"] == ["alice"]


def test_official_account_tokens_still_reach_the_official_account_routes(sandbox):
    from wechat_app.client import WeChatClient

    sandbox.state.add_app("wx1234567890abcdef", "secret")
    sandbox.state.add_followers("wx1234567890abcdef", count=2)
    client = WeChatClient("wx1234567890abcdef", "secret", sandbox.url)
    assert len(list(client.user.iter_followers())) == 2  # /cgi-bin/user/get, also a WeCom path
