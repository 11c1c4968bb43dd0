"""WeComClient and the account's tokens: gettoken, WeCom's errors, the shared cache, retry once."""
import threading
import time

import pytest
from django.core.exceptions import ValidationError

from wechat_app.client import WeChatAPIError, WeComClient
from wechat_app.client.errors import WeChatPayloadError
from wechat_app.models import Account
from wechat_app.services import tokens
from wechat_app.tasks import refresh_tokens

from .conftest import AES_KEY, AGENT_ID, CORP_ID, SECRET, TOKEN


def gettoken_calls(sandbox):
    return [c for c in sandbox.state.calls if c["path"] == "/cgi-bin/gettoken"]


def test_standalone_client_gets_a_token_and_sends(sandbox, corp_app):
    client = WeComClient(CORP_ID, SECRET, sandbox.url, agent_id=AGENT_ID)
    answer = client.message.send_text("hello", touser=["zhangsan", "nobody"])
    assert answer["invaliduser"] == "nobody" and answer["msgid"]
    [sent] = sandbox.state.wecom.list_messages()
    assert sent["reached"] == ["zhangsan"] and sent["payload"]["agentid"] == AGENT_ID
    [call] = gettoken_calls(sandbox)
    assert call["query"]["corpsecret"] == "***" and call["query"]["corpid"] == CORP_ID


def test_default_base_url_is_wecoms():
    assert WeComClient(CORP_ID, SECRET).base_url == "https://qyapi.weixin.qq.com"
    assert "secret" not in repr(WeComClient(CORP_ID, SECRET))


@pytest.mark.parametrize(("corp_id", "secret", "errcode"), [
    ("wwunknown000000000", SECRET, 40013), (CORP_ID, "wrong-secret", 40001), ("", SECRET, 41002), (CORP_ID, "", 41004)])
def test_gettoken_errors(sandbox, corp_app, corp_id, secret, errcode):
    client = WeComClient(corp_id, secret, sandbox.url, agent_id=AGENT_ID)
    with pytest.raises(WeChatAPIError) as caught:
        client.token.fetch()
    assert caught.value.errcode == errcode


def test_wecom_and_wechat_tokens_do_not_mix(sandbox, corp_app):
    """The same /cgi-bin/media/upload path: a WeChat token reaches WeChat's, a WeCom token WeCom's."""
    sandbox.state.add_app("wx00000000000000aa", "mp-secret")
    from wechat_app.client import WeChatClient

    mp = WeChatClient("wx00000000000000aa", "mp-secret", sandbox.url)
    wecom = WeComClient(CORP_ID, SECRET, sandbox.url, agent_id=AGENT_ID)
    mp.media.upload("image", ("a.png", b"\x89PNG....."))
    uploaded = wecom.media.upload("file", ("report.pdf", b"%PDF-1.4 ..."))
    assert wecom.media.get(uploaded["media_id"]).data == b"%PDF-1.4 ..."
    with pytest.raises(WeChatAPIError) as caught:  # a WeChat token on a WeCom-only path
        mp.request("POST", "/cgi-bin/message/send", json={"touser": "zhangsan"})
    assert caught.value.errcode == 40014
    calls = [c for c in sandbox.state.calls if c["path"] == "/cgi-bin/media/upload"]
    assert [c.get("wecom", False) for c in calls] == [False, True]
    assert calls[1]["app_id"] == f"{CORP_ID}/{AGENT_ID}"


def test_account_client_caches_the_token_single_flight(sandbox, wecom_account):
    sandbox.state.add_fault("/cgi-bin/gettoken", "latency", seconds=0.2)
    results, barrier = [], threading.Barrier(10)

    def call():
        barrier.wait()
        results.append(tokens.get_access_token(wecom_account))

    threads = [threading.Thread(target=call) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and len(gettoken_calls(sandbox)) == 1
    client = tokens.get_client(wecom_account)
    assert isinstance(client, WeComClient) and client.agent_id == AGENT_ID
    client.message.send_text("hi", touser="lisi")
    assert len(gettoken_calls(sandbox)) == 1


def test_expired_token_is_refreshed_and_the_call_retried_once(sandbox, wecom_account):
    client = tokens.get_client(wecom_account)
    client.message.send_text("one", touser="lisi")
    old = tokens.token_status(wecom_account)["value"]
    sandbox.state.expire_tokens()
    client.message.send_text("two", touser="lisi")
    assert tokens.token_status(wecom_account)["value"] != old
    codes = [c["errcode"] for c in sandbox.state.calls if c["path"] == "/cgi-bin/message/send"]
    assert codes == [0, 42001, 0]
    assert len(sandbox.state.wecom.list_messages(touser="lisi")) == 2


def test_beat_task_refreshes_wecom_tokens(sandbox, wecom_account):
    tokens.get_access_token(wecom_account)
    entry = tokens.token_status(wecom_account)
    tokens.get_cache().set(tokens.access_token_credential(wecom_account).key,
                           {**entry, "expires_at": time.time() + 100}, 100)
    sandbox.state.expire_tokens()
    refresh_tokens()
    assert tokens.token_status(wecom_account)["value"] != entry["value"]
    assert len(gettoken_calls(sandbox)) == 2


def test_token_provider_setting_serves_wecom_accounts(sandbox, wecom_account, settings):
    def provider(account):
        return "from-elsewhere-" + account.app_id

    import tests.wecom.test_client_tokens as me

    me.external_provider = provider
    settings.WECHAT_APP = {"TOKEN_PROVIDER": "tests.wecom.test_client_tokens.external_provider"}
    assert tokens.get_access_token(wecom_account) == "from-elsewhere-" + CORP_ID
    assert gettoken_calls(sandbox) == []


def test_message_payload_is_checked_before_sending(sandbox, corp_app):
    client = WeComClient(CORP_ID, SECRET, sandbox.url, agent_id=AGENT_ID)
    with pytest.raises(WeChatPayloadError, match="no recipient"):
        client.message.send_text("hi")
    with pytest.raises(WeChatPayloadError, match="@all"):
        client.message.send_text("hi", touser=["@all", "lisi"])
    with pytest.raises(WeChatPayloadError, match="cannot be sent as safe"):
        client.message.send_markdown("**hi**", touser="lisi", safe=True)
    assert sandbox.state.calls == []


# --- the account model -----------------------------------------------------------------------------
def wecom(**fields):
    data = dict(name="ops", channel="wecom", app_id=CORP_ID, agent_id=AGENT_ID, app_secret=SECRET, token=TOKEN,
                encoding_aes_key=AES_KEY)
    data.update(fields)
    return Account(**data)


@pytest.mark.django_db
@pytest.mark.parametrize(("fields", "field"), [
    ({"agent_id": None}, "agent_id"), ({"encoding_aes_key": ""}, "encoding_aes_key"),
    ({"app_id": "ww-not-a-corp"}, "app_id"), ({"token": ""}, "token")])
def test_wecom_account_requires_its_fields(fields, field):
    with pytest.raises(ValidationError) as caught:
        wecom(**fields).full_clean()
    assert field in caught.value.message_dict


@pytest.mark.django_db
def test_wecom_account_is_always_encrypted_and_uses_wecoms_host():
    account = wecom(encrypt_mode="plain")
    account.full_clean()
    assert account.encrypt_mode == "safe"
    assert account.effective_api_base_url == "https://qyapi.weixin.qq.com"


@pytest.mark.django_db
def test_two_apps_of_one_corp_but_not_the_same_app_twice():
    wecom().save()
    wecom(name="ops2", agent_id=AGENT_ID + 1).full_clean()
    with pytest.raises(ValidationError) as caught:
        wecom(name="ops3").full_clean()
    assert "agent id" in str(caught.value.message_dict["app_id"])


@pytest.mark.django_db
def test_official_accounts_have_no_agent_id():
    account = Account(name="mp", app_id="wx0123456789abcdef", app_secret="s", token="tok", agent_id=5)
    with pytest.raises(ValidationError) as caught:
        account.full_clean()
    assert "agent_id" in caught.value.message_dict
