"""The sandbox behaves like api.weixin.qq.com over real HTTP, with faults and inspection."""
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from wechat_app.protocol import MessageCrypto, check_signature, parse_message, parse_xml

APP, SECRET = "wxsandbox0001", "s3cr3t-value"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def _classic(sandbox, secret=SECRET, appid=APP):
    return requests.get(f"{sandbox.url}/cgi-bin/token",
                        params={"grant_type": "client_credential", "appid": appid, "secret": secret}).json()


def _stable(sandbox, force=False):
    return requests.post(f"{sandbox.url}/cgi-bin/stable_token", json={
        "grant_type": "client_credential", "appid": APP, "secret": SECRET, "force_refresh": force}).json()


def _post(sandbox, path, token, body):
    return requests.post(f"{sandbox.url}{path}", params={"access_token": token}, json=body).json()


def _text(openid, content="hi"):
    return {"touser": openid, "msgtype": "text", "text": {"content": content}}


@pytest.fixture
def app(sandbox):
    sandbox.state.add_app(APP, SECRET)
    return sandbox.state.add_followers(APP, count=3)


def test_classic_token_invalidates_the_previous_one(sandbox, app):
    first = _classic(sandbox)["access_token"]
    assert _post(sandbox, "/cgi-bin/message/custom/send", first, _text(app[0]))["errcode"] == 0
    second = _classic(sandbox)
    assert second["expires_in"] == 7200 and second["access_token"] != first
    assert _post(sandbox, "/cgi-bin/message/custom/send", first, _text(app[0]))["errcode"] == 40001
    assert _post(sandbox, "/cgi-bin/message/custom/send", second["access_token"], _text(app[0]))["errcode"] == 0


def test_stable_token_is_shared_and_does_not_invalidate(sandbox, app):
    first, second = _stable(sandbox), _stable(sandbox)
    assert first["access_token"] == second["access_token"]
    assert 7190 <= second["expires_in"] <= 7200
    _classic(sandbox)  # the two families are isolated
    assert _post(sandbox, "/cgi-bin/message/custom/send", first["access_token"], _text(app[0]))["errcode"] == 0


def test_stable_token_renews_in_its_last_minutes_keeping_the_old_valid(sandbox, app):
    sandbox.state.configure(token_ttl=310, stable_renew_window=300)
    old = _stable(sandbox)["access_token"]
    time.sleep(0.05)
    sandbox.state.configure(token_ttl=7200)
    sandbox.state.tokens[old].expires_at = time.time() + 200  # inside the renewal window
    new = _stable(sandbox)
    assert new["access_token"] != old and new["expires_in"] > 7000
    assert _post(sandbox, "/cgi-bin/message/custom/send", old, _text(app[0]))["errcode"] == 0


def test_stable_force_refresh_revokes_and_is_rate_limited(sandbox, app):
    old = _stable(sandbox)["access_token"]
    new = _stable(sandbox, force=True)["access_token"]
    assert new != old
    assert _post(sandbox, "/cgi-bin/message/custom/send", old, _text(app[0]))["errcode"] == 40001
    assert _stable(sandbox, force=True)["errcode"] == 89503


def test_credential_errors(sandbox, app):
    assert _classic(sandbox, secret="wrong")["errcode"] == 40125
    assert _classic(sandbox, appid="wxunknown")["errcode"] == 40013
    body = _post(sandbox, "/cgi-bin/message/custom/send", "short", _text(app[0]))
    assert body["errcode"] == 40014 and "rid:" in body["errmsg"]
    assert requests.post(f"{sandbox.url}/cgi-bin/message/custom/send", json=_text(app[0])).json()["errcode"] == 41001


def test_expired_tokens_answer_42001(sandbox, app):
    token = _stable(sandbox)["access_token"]
    assert requests.post(f"{sandbox.url}/_sandbox/expire_tokens", json={"app_id": APP}).json() == {"expired": 1}
    assert _post(sandbox, "/cgi-bin/message/custom/send", token, _text(app[0]))["errcode"] == 42001
    assert _stable(sandbox)["access_token"] != token


def test_custom_message_validation_and_delivery(sandbox, app):
    token = _stable(sandbox)["access_token"]
    send = lambda body: _post(sandbox, "/cgi-bin/message/custom/send", token, body)["errcode"]  # noqa: E731
    assert send(_text("onotafollower123")) == 40003
    assert send({"touser": app[0], "msgtype": "bogus"}) == 40008
    assert send({"touser": app[0], "msgtype": "image", "image": {}}) == 47001
    sandbox.state.followers[APP][app[1]].subscribe = 0
    assert send(_text(app[1])) == 43004
    sandbox.state.followers[APP][app[2]].interaction_expired = True
    assert send(_text(app[2])) == 45015
    assert send(_text(app[0], "hello")) == 0
    assert send({"touser": app[0], "msgtype": "msgmenu", "msgmenu": {
        "head_content": "?", "list": [{"id": "1", "content": "yes"}], "tail_content": ""}}) == 0
    delivered = requests.get(f"{sandbox.url}/_sandbox/messages", params={"touser": app[0]}).json()["messages"]
    assert [m["msgtype"] for m in delivered] == ["text", "msgmenu"]
    assert delivered[0]["payload"]["text"]["content"] == "hello"


def test_template_send_dedupes_by_client_msg_id(sandbox, app):
    template_id = sandbox.state.add_template(APP, "Order", "Order {{order.DATA}} costs {{amount.DATA}}")
    token = _stable(sandbox)["access_token"]
    body = {"touser": app[0], "template_id": template_id, "client_msg_id": "k1",
            "data": {"order": {"value": "A1"}, "amount": {"value": "3", "color": "#173177"}}}
    first = _post(sandbox, "/cgi-bin/message/template/send", token, body)
    again = _post(sandbox, "/cgi-bin/message/template/send", token, body)
    assert first["errcode"] == 0 and first["msgid"] == again["msgid"]
    assert len(sandbox.state.list_messages(kind="template")) == 1
    assert _post(sandbox, "/cgi-bin/message/template/send", token, dict(body, template_id="nope"))["errcode"] == 40037
    templates = requests.get(f"{sandbox.url}/cgi-bin/template/get_all_private_template",
                             params={"access_token": token}).json()["template_list"]
    assert templates[0]["template_id"] == template_id and "{{order.DATA}}" in templates[0]["content"]


def test_user_get_pages_and_batchget_limits(sandbox, app):
    sandbox.state.add_followers(APP, count=7)
    sandbox.state.configure(user_page_size=4)
    token = _stable(sandbox)["access_token"]
    seen, next_openid = [], ""
    while True:
        page = requests.get(f"{sandbox.url}/cgi-bin/user/get",
                            params={"access_token": token, "next_openid": next_openid}).json()
        assert page["total"] == 10
        if not page["count"]:
            break
        seen += page["data"]["openid"]
        next_openid = page["next_openid"]
    assert len(seen) == len(set(seen)) == 10
    infos = _post(sandbox, "/cgi-bin/user/info/batchget", token,
                  {"user_list": [{"openid": o, "lang": "zh_CN"} for o in seen[:3]]})["user_info_list"]
    assert [i["openid"] for i in infos] == seen[:3] and infos[0]["subscribe"] == 1
    too_many = [{"openid": seen[0]}] * 101
    assert _post(sandbox, "/cgi-bin/user/info/batchget", token, {"user_list": too_many})["errcode"] == 40032


def test_fail_next_n_calls_then_recover(sandbox, app):
    token = _stable(sandbox)["access_token"]
    requests.post(f"{sandbox.url}/_sandbox/faults",
                  json={"path": "/cgi-bin/message/custom/send", "errcode": 45047, "count": 2}).raise_for_status()
    codes = [_post(sandbox, "/cgi-bin/message/custom/send", token, _text(app[0]))["errcode"] for _ in range(3)]
    assert codes == [45047, 45047, 0]
    assert len(sandbox.state.list_messages()) == 1


def test_http_error_latency_and_drop(sandbox, app):
    token = _stable(sandbox)["access_token"]
    path = "/cgi-bin/message/custom/send"
    sandbox.state.add_fault(path, "http", status=502)
    assert requests.post(f"{sandbox.url}{path}", params={"access_token": token}, json=_text(app[0])).status_code == 502
    sandbox.state.add_fault(path, "latency", seconds=0.3)
    started = time.monotonic()
    assert _post(sandbox, path, token, _text(app[0]))["errcode"] == 0
    assert time.monotonic() - started >= 0.3
    sandbox.state.add_fault(path, "drop")
    with pytest.raises(requests.ConnectionError):
        _post(sandbox, path, token, _text(app[0]))
    sandbox.state.add_fault(path, "drop_after")
    with pytest.raises(requests.ConnectionError):
        _post(sandbox, path, token, _text(app[0], "applied"))
    # drop: not applied; drop_after: applied, the answer lost.
    assert [m["payload"]["text"]["content"] for m in sandbox.state.list_messages()] == ["hi", "applied"]


def test_rate_limit(sandbox, app):
    token = _stable(sandbox)["access_token"]
    sandbox.state.add_fault("/cgi-bin/message/custom/send", "rate_limit", limit=3, per=60)
    codes = [_post(sandbox, "/cgi-bin/message/custom/send", token, _text(app[0]))["errcode"] for _ in range(5)]
    assert codes == [0, 0, 0, 45009, 45009]


def test_inspection_api(sandbox):
    url = sandbox.url + "/_sandbox"
    assert requests.post(f"{url}/apps", json={"app_id": APP, "secret": SECRET}).ok
    assert requests.post(f"{url}/followers", json={"app_id": APP, "count": 2}).json()["added"] == 2
    assert requests.post(f"{url}/configure", json={"token_ttl": 60}).json()["config"]["token_ttl"] == 60
    assert requests.post(f"{url}/configure", json={"bogus": 1}).status_code == 400
    assert requests.post(f"{url}/faults", json={"path": "/x", "kind": "explode"}).status_code == 400
    assert _stable(sandbox)["expires_in"] == 60
    calls = requests.get(f"{url}/calls", params={"path": "/cgi-bin/stable_token"}).json()["calls"]
    assert calls[0]["app_id"] == APP and calls[0]["body"]["secret"] == "***"
    summary = requests.get(url).json()
    assert summary["followers"] == {APP: 2} and summary["tokens_issued"] == 1
    assert requests.post(f"{url}/reset", json={"keep_apps": True}).ok
    assert requests.get(url).json()["tokens_issued"] == 0
    assert requests.get(f"{url}/nope").status_code == 404


class _Capture(BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "7")
        self.end_headers()
        self.wfile.write(b"success")

    def log_message(self, *args):
        pass


@pytest.fixture
def callback_server():
    _Capture.received = []
    server = HTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/wechat/callback/demo/", _Capture.received
    server.shutdown()
    server.server_close()


def test_template_job_finish_is_pushed_signed_and_encrypted(sandbox, app, callback_server):
    callback_url, received = callback_server
    sandbox.state.add_app(APP, SECRET, callback_url=callback_url, token="cbtoken", encoding_aes_key=AES_KEY,
                          encrypt_mode="safe", original_id="gh_0123456789ab")
    sandbox.state.add_followers(APP, [app[0]])
    sandbox.state.followers[APP][app[0]].blocks_templates = True
    sandbox.state.configure(push_job_finish=True, job_finish_delay=0)
    template_id = sandbox.state.add_template(APP, "Hi", "{{first.DATA}}")
    token = _stable(sandbox)["access_token"]
    msgid = _post(sandbox, "/cgi-bin/message/template/send", token,
                  {"touser": app[0], "template_id": template_id, "data": {"first": {"value": "x"}}})["msgid"]
    deadline = time.monotonic() + 15  # generous: the push runs on a thread of a busy machine
    while not received and time.monotonic() < deadline:
        time.sleep(0.02)
    assert received, f"nothing pushed; the sandbox recorded {sandbox.state.pushes!r}"
    path, body = received[0]
    query = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
    check_signature(query["signature"], "cbtoken", query["timestamp"], query["nonce"])
    assert query["encrypt_type"] == "aes" and query["openid"] == app[0]
    crypto = MessageCrypto("cbtoken", AES_KEY, APP)
    plain = crypto.decrypt_message(parse_xml(body)["Encrypt"], query["msg_signature"], query["timestamp"], query["nonce"])
    message = parse_message(plain)
    assert message.event.lower() == "templatesendjobfinish" and message.uid == app[0]
    assert message.param["msg_id"] == str(msgid) and message.param["status"] == "failed:user block"
    # The sandbox records the push once the callback has answered: after the capture above saw it.
    deadline = time.monotonic() + 15
    while not sandbox.state.pushes and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sandbox.state.pushes[0]["status"] == 200


def test_push_api_plain_mode(sandbox, callback_server):
    callback_url, received = callback_server
    sandbox.state.add_app(APP, SECRET, callback_url=callback_url, token="cbtoken")
    result = requests.post(f"{sandbox.url}/_sandbox/push", json={
        "app_id": APP, "openid": "ouser0000001", "event": {"Event": "subscribe", "EventKey": ""}}).json()
    assert result == {"status": 200, "body": "success"}
    message = parse_message(received[0][1])
    assert message.event.lower() == "subscribe" and message.uid == "ouser0000001"
