"""The sandbox's mass-send, tag and kf endpoints answer WeChat's error codes (over HTTP, through the
client), and its inspection endpoints work."""
import pytest
import requests

from wechat_app.client import WeChatAPIError, WeChatClient

APP_ID, SECRET = "wxsandmass0001", "sandbox-mass-secret"


@pytest.fixture
def client(sandbox):
    sandbox.state.add_app(APP_ID, SECRET)
    return WeChatClient(APP_ID, SECRET, base_url=sandbox.url)


def code(call):
    with pytest.raises(WeChatAPIError) as err:
        call()
    return err.value.errcode


def post(client, path, body):
    return client.request("POST", path, json=body)


def test_mass_send_errors(sandbox, client):
    followers = sandbox.state.add_followers(APP_ID, count=3)
    text = {"msgtype": "text", "text": {"content": "hi"}}
    assert code(lambda: post(client, "/cgi-bin/message/mass/send", {**text, "touser": followers[:1]})) == 40130
    assert code(lambda: post(client, "/cgi-bin/message/mass/send",
                             {**text, "touser": [f"o{i:08d}" for i in range(10_001)]})) == 40032
    assert code(lambda: post(client, "/cgi-bin/message/mass/sendall",
                             {**text, "filter": {"is_to_all": False, "tag_id": 999}})) == 45159
    assert code(lambda: post(client, "/cgi-bin/message/mass/sendall",
                             {**text, "filter": {"is_to_all": True}, "clientmsgid": "x" * 65})) == 45067
    assert code(lambda: post(client, "/cgi-bin/message/mass/sendall",
                             {"msgtype": "video", "video": {}, "filter": {"is_to_all": True}})) == 40008
    assert code(lambda: post(client, "/cgi-bin/message/mass/sendall",
                             {"msgtype": "voice", "voice": {"media_id": "bad id!"}, "filter": {"is_to_all": True}})) == 40007
    assert code(lambda: client.mass.get(123)) == 47001
    assert code(lambda: client.mass.preview("onotafollower1", "text", {"content": "x"})) == 40003
    answer = client.mass.send(followers[:2], "text", {"content": "hi"}, clientmsgid="once")
    err = pytest.raises(WeChatAPIError, client.mass.send, followers[:2], "text", {"content": "hi"},
                        clientmsgid="once").value
    assert err.errcode == 45065 and err.payload == {"msg_id": answer["msg_id"]}
    assert client.mass.get(answer["msg_id"]) == {"msg_id": answer["msg_id"], "msg_status": "SEND_SUCCESS"}
    assert code(lambda: client.mass.delete(answer["msg_id"])) == 47001  # text cannot be deleted
    sandbox.state.mass.config["mass_quota"] = 1
    assert code(lambda: client.mass.send_all("text", {"content": "hi"})) == 45028
    # Inspection over HTTP.
    summary = requests.get(sandbox.url + "/_sandbox/mass", timeout=5).json()
    assert summary["sends"][0]["recipients"] == 2 and summary["resends_answered"] == 1
    answer = requests.post(sandbox.url + "/_sandbox/mass/configure", json={"mass_quota": None}, timeout=5)
    assert answer.json()["config"]["mass_quota"] is None
    assert requests.post(sandbox.url + "/_sandbox/mass/configure", json={"nope": 1}, timeout=5).status_code == 400


def test_tag_and_blacklist_errors(sandbox, client):
    followers = sandbox.state.add_followers(APP_ID, count=2)
    tag = client.tag.create("VIP")
    assert code(lambda: client.tag.create("")) == 45157
    assert code(lambda: client.tag.update(tag["id"] + 1, "x")) == 45159
    assert code(lambda: client.tag.delete(0)) == 45159  # no such tag in this app
    sandbox.state.add_tag(APP_ID, "默认", 0)
    assert code(lambda: client.tag.update(0, "x")) == 45058
    client.tag.tag_users(tag["id"], followers)
    assert client.tag.get_user_tags(followers[0]) == [tag["id"]]
    assert list(client.tag.iter_tag_users(tag["id"])) == followers
    assert code(lambda: post(client, "/cgi-bin/tags/members/batchblacklist", {"openid_list": followers * 11})) == 40032
    assert code(lambda: client.tag.get_user_tags("onotafollower1")) == 40003
    assert code(lambda: client.user.update_remark(followers[0], "x" * 31)) == 47001


def test_kf_errors(sandbox, client):
    assert code(lambda: post(client, "/customservice/kfaccount/add", {"kf_account": "no-at", "nickname": "A"})) == 65404
    assert code(lambda: post(client, "/customservice/kfaccount/add",
                             {"kf_account": "a@gh_x", "nickname": "n" * 17})) == 65403
    assert code(lambda: post(client, "/customservice/kfaccount/update", {"kf_account": "a@gh_x", "nickname": "A"})) == 65401
    assert code(lambda: client.kf.delete("a@gh_x")) == 65401
    for i in range(100):
        sandbox.state.mass.kf.setdefault(APP_ID, {})[f"k{i}@gh_x"] = {"kf_account": f"k{i}@gh_x"}
    assert code(lambda: client.kf.add("more@gh_x", "More")) == 65405
    sandbox.state.mass.config["kf_enabled"] = False
    assert code(lambda: client.kf.list()) == 65400
