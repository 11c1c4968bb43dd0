"""The API client against the sandbox over HTTP: tokens, the retry-once rule, errors, groups."""
import socket

import pytest

from wechat_app.client import (
    WeChatAPIError,
    WeChatClient,
    WeChatErrorCode,
    WeChatPayloadError,
    WeChatTransportError,
    get_session,
    jssdk_signature,
    template_keywords,
)

APP, SECRET = "wxclienttest01", "client-secret-value"


@pytest.fixture
def followers(sandbox):
    sandbox.state.add_app(APP, SECRET)
    return sandbox.state.add_followers(APP, count=5)


@pytest.fixture
def client(sandbox, followers):
    return WeChatClient(APP, SECRET, sandbox.url, timeout=(1, 2))


def _token_calls(sandbox):
    return [c for c in sandbox.state.calls if c["path"] in ("/cgi-bin/stable_token", "/cgi-bin/token")]


def test_send_uses_one_cached_stable_token(sandbox, client, followers):
    for i in range(3):
        assert client.message.custom.send_text(followers[0], f"hello {i}")["errcode"] == 0
    assert len(_token_calls(sandbox)) == 1
    assert _token_calls(sandbox)[0]["path"] == "/cgi-bin/stable_token"
    assert [m["payload"]["text"]["content"] for m in sandbox.state.list_messages()] == ["hello 0", "hello 1", "hello 2"]


def test_expired_token_is_refreshed_and_the_call_retried_once(sandbox, client, followers):
    client.message.custom.send_text(followers[0], "one")
    sandbox.state.expire_tokens(APP)
    client.message.custom.send_text(followers[0], "two")
    codes = [c["errcode"] for c in sandbox.state.calls if c["path"] == "/cgi-bin/message/custom/send"]
    assert codes == [0, 42001, 0]
    assert len(_token_calls(sandbox)) == 2


def test_a_second_token_error_is_raised_not_looped(sandbox, client, followers):
    client.message.custom.send_text(followers[0], "warm")
    sandbox.state.add_fault("/cgi-bin/message/custom/send", errcode=40001, count=2)
    with pytest.raises(WeChatAPIError) as info:
        client.message.custom.send_text(followers[0], "x")
    assert info.value.errcode == WeChatErrorCode.INVALID_CREDENTIAL and info.value.is_token_error


def test_classic_tokens_of_two_clients_invalidate_each_other_and_recover(sandbox, followers):
    first = WeChatClient(APP, SECRET, sandbox.url, use_stable_token=False)
    second = WeChatClient(APP, SECRET, sandbox.url, use_stable_token=False)
    first.message.custom.send_text(followers[0], "a")
    second.message.custom.send_text(followers[0], "b")  # revokes first's token
    first.message.custom.send_text(followers[0], "c")   # 40001, refresh, retry
    codes = [c["errcode"] for c in sandbox.state.calls if c["path"] == "/cgi-bin/message/custom/send"]
    assert codes == [0, 0, 40001, 0]
    assert len(sandbox.state.list_messages()) == 3


def test_api_errors_carry_code_message_and_request_but_no_secret(sandbox, client, followers):
    sandbox.state.followers[APP][followers[1]].subscribe = 0
    with pytest.raises(WeChatAPIError) as info:
        client.message.custom.send_text(followers[1], "x")
    err = info.value
    assert err.errcode == 43004 and err.is_permanent and not err.is_transient
    assert err.request == "POST /cgi-bin/message/custom/send" and "require subscribe" in err.errmsg
    token = client.token_provider._token
    for text in (str(err), repr(err)):
        assert token not in text and SECRET not in text
    bad = WeChatClient(APP, "wrong-secret", sandbox.url)
    with pytest.raises(WeChatAPIError) as info:
        bad.token.fetch()
    assert info.value.errcode == WeChatErrorCode.INVALID_APPSECRET and "wrong-secret" not in str(info.value)


def test_quota_and_system_busy_are_classified(sandbox, client, followers):
    sandbox.state.add_fault("/cgi-bin/message/custom/send", errcode=45047)
    with pytest.raises(WeChatAPIError) as info:
        client.message.custom.send_text(followers[0], "x")
    assert info.value.is_quota and not info.value.is_permanent
    sandbox.state.add_fault("/cgi-bin/message/custom/send", errcode=-1)
    with pytest.raises(WeChatAPIError) as info:
        client.message.custom.send_text(followers[0], "x")
    assert info.value.is_transient and info.value.errcode == WeChatErrorCode.SYSTEM_BUSY


def test_transport_failures(sandbox, client, followers):
    client.token.fetch()
    path = "/cgi-bin/message/custom/send"
    sandbox.state.add_fault(path, "drop")
    with pytest.raises(WeChatTransportError) as info:
        client.message.custom.send_text(followers[0], "x")
    assert info.value.maybe_applied and info.value.is_transient and info.value.errcode is None
    sandbox.state.add_fault(path, "http", status=503)
    with pytest.raises(WeChatTransportError) as info:
        client.message.custom.send_text(followers[0], "x")
    assert info.value.status == 503
    sandbox.state.add_fault(path, "latency", seconds=2.5)
    with pytest.raises(WeChatTransportError, match="read timeout"):
        client.message.custom.send_text(followers[0], "x")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(WeChatTransportError) as info:
        WeChatClient(APP, SECRET, closed).token.fetch()
    assert info.value.maybe_applied is False


def test_payloads_are_validated_before_sending(sandbox, client, followers):
    with pytest.raises(WeChatPayloadError, match="needs media_id"):
        client.message.custom.send(followers[0], "image", {})
    with pytest.raises(WeChatPayloadError, match="unknown customer-service message kind"):
        client.message.custom.send(followers[0], "fax", {"x": 1})
    with pytest.raises(WeChatPayloadError, match="exactly one article"):
        client.message.custom.send(followers[0], "news", {"articles": [{"title": "a", "url": "u"}] * 2})
    with pytest.raises(WeChatPayloadError, match="color"):
        client.message.template.send(followers[0], "t", {"a": {"value": "x", "color": "red"}})
    assert sandbox.state.calls == []  # nothing went out, not even a token request


def test_all_custom_kinds_reach_the_sandbox(sandbox, client, followers):
    to = followers[0]
    client.message.custom.send_image(to, "MEDIA")
    client.message.custom.send_voice(to, "MEDIA")
    client.message.custom.send_video(to, "MEDIA", "THUMB", "t", "d")
    client.message.custom.send_news(to, "Title", "https://example.com/a")
    client.message.custom.send_menu(to, [{"id": "1", "content": "Yes"}], head="Ok?")
    client.message.custom.send(to, "miniprogrampage", {"title": "t", "appid": "wxmini", "pagepath": "p",
                                                       "thumb_media_id": "T"})
    client.message.custom.send(to, "music", {"musicurl": "http://m", "hqmusicurl": "http://h",
                                             "thumb_media_id": "T"})
    client.message.custom.send(to, "mpnews", {"media_id": "M"})
    client.message.custom.typing(to)
    kinds = [m["msgtype"] for m in sandbox.state.list_messages()]
    assert kinds == ["image", "voice", "video", "news", "msgmenu", "miniprogrampage", "music", "mpnews"]


def test_template_send_and_list(sandbox, client, followers):
    template_id = sandbox.state.add_template(APP, "Paid", "{{first.DATA}} {{amount.DATA}}{{remark.DATA}}")
    templates = client.template.get_all_private()
    assert template_keywords(templates[0]["content"]) == ["first", "amount", "remark"]
    msgid = client.message.template.send(followers[0], template_id, {"first": "Hi", "amount": {"value": 3}},
                                         url="https://example.com", client_msg_id="k-1")
    again = client.message.template.send(followers[0], template_id, {"first": "Hi", "amount": {"value": 3}},
                                         url="https://example.com", client_msg_id="k-1")
    assert msgid == again and isinstance(msgid, int)
    payload = sandbox.state.list_messages(kind="template")[0]["payload"]
    assert payload["data"] == {"first": {"value": "Hi"}, "amount": {"value": "3"}}


def test_followers_paging_and_batchget(sandbox, client, followers):
    sandbox.state.add_followers(APP, count=250)
    sandbox.state.configure(user_page_size=100)
    openids = list(client.user.iter_followers())
    assert len(openids) == len(set(openids)) == 255
    assert len([c for c in sandbox.state.calls if c["path"] == "/cgi-bin/user/get"]) == 3
    infos = client.user.batchget(openids[:100])
    assert len(infos) == 100 and infos[5]["openid"] == openids[5]
    with pytest.raises(WeChatPayloadError):
        client.user.batchget(openids[:101])
    assert client.user.info(openids[0])["subscribe"] == 1


def test_menu_tags_qrcode_and_ticket(sandbox, client, followers):
    menu = {"button": [{"type": "click", "name": "Hi", "key": "HI"}]}
    client.menu.create(menu)
    # As WeChat answers: every button carries a sub_button list, empty for a leaf.
    assert client.menu.get()["menu"] == {"button": [{"type": "click", "name": "Hi", "key": "HI", "sub_button": []}]}
    tag = client.tag.create("vip")
    client.tag.tag_users(tag["id"], followers[:2])
    assert list(client.tag.iter_tag_users(tag["id"])) == followers[:2]
    assert client.qrcode.create("scene-1")["ticket"]
    ticket, expires_in = client.jssdk.fetch_ticket()
    assert ticket and expires_in > 7000


def test_jssdk_signature_matches_the_documented_example():
    # The example of the JS-SDK documentation, appendix 1.
    result = jssdk_signature(
        "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
        "http://mp.weixin.qq.com?params=value#section", noncestr="Wm3WZYTPz0wzccnW", timestamp=1414587457)
    assert result["signature"] == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
    assert result["url"] == "http://mp.weixin.qq.com?params=value"


def test_one_session_per_process():
    assert get_session() is get_session()
    assert WeChatClient("wxa", "s").session is WeChatClient("wxb", "s").session
