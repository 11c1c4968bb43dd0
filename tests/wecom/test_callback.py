"""A WeCom app's callback over real HTTP, played by a wechatpy-based WeCom server: the URL check,
encrypted deliveries and replies, the refusals, rules through the real engine, change_contact."""
import time

import pytest

from tests.callback.conftest import FakeEngine
from wechat_app.models import Account, MessageLog
from wechat_app.services.rules import import_rules
from wechat_app.signals import wecom_contact_changed

from .conftest import AES_KEY, AGENT_ID, CORP_ID, SECRET, TOKEN
from .wecom_client import WeComServer, wecom_xml

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

RULES = """
- name: hello
  match: {exact: hello}
  reply: Hello from the app
- name: menu
  match: {event: click, key: MENU_1}
  reply: {type: news, articles: [{title: A, description: a, url: 'http://x/1', pic_url: 'http://x/1.jpg'}]}
- name: entered
  match: {event: enter_agent}
  reply: Welcome to the app
- name: picture
  match: {type: image}
  reply: {type: image, media_id: IMG1}
"""


@pytest.fixture
def account(db):
    account = Account(name="hr", channel="wecom", app_id=CORP_ID, agent_id=AGENT_ID, app_secret=SECRET, token=TOKEN,
                      encoding_aes_key=AES_KEY)
    account.full_clean()
    account.save()
    return account


@pytest.fixture
def wecom(live_server, account):
    return WeComServer(live_server.url, account.name, TOKEN, CORP_ID, AES_KEY)


@pytest.fixture
def engine(monkeypatch):
    fake = FakeEngine()
    monkeypatch.setattr("wechat_app.services.inbound.run_rules", fake)
    return fake


def test_url_check_answers_echostr_decrypted(wecom):
    response = wecom.verify_url("1288432023552776189")
    assert response.status_code == 200 and response.text == "1288432023552776189"


def test_url_check_refusals(wecom, account):
    assert wecom.verify_url(signature="0" * 40).status_code == 403
    assert wecom.verify_url(timestamp=int(time.time()) - 3600).status_code == 403
    other_corp = WeComServer(wecom.url.split("/wechat/")[0], "hr", TOKEN, "ww9999999999999999", AES_KEY)
    assert other_corp.verify_url().status_code == 400  # decrypts to another corp's id
    assert WeComServer(wecom.url.split("/wechat/")[0], "nobody", TOKEN, CORP_ID, AES_KEY).verify_url().status_code == 404
    # a WeChat-style check (plain signature, echostr echoed) is not a WeCom one
    assert wecom.session.get(wecom.url, params={"signature": "x", "timestamp": str(int(time.time())),
                                                "nonce": "1", "echostr": "e"}).status_code == 403


def test_rules_answer_encrypted_through_the_real_engine(wecom, account):
    import_rules(account, RULES)
    answer = wecom.send(wecom_xml(Content="hello"))
    assert answer.was_encrypted and answer.fields["Content"] == "Hello from the app"
    assert answer.fields["ToUserName"] == "zhangsan" and answer.fields["FromUserName"] == CORP_ID
    news = wecom.send(wecom_xml("event", Event="click", EventKey="MENU_1")).fields
    assert news["MsgType"] == "news" and news["Articles"]["item"]["Title"] == "A"
    assert wecom.send(wecom_xml("event", Event="enter_agent", EventKey="")).fields["Content"] == "Welcome to the app"
    image = wecom.send(wecom_xml("image", PicUrl="http://p/1.jpg", MediaId="M1")).fields
    assert image["Image"]["MediaId"] == "IMG1"
    log = MessageLog.objects.get(text="hello")
    assert log.encrypted and log.status == "replied" and log.message["param"]["agent_id"] == AGENT_ID


def test_retry_gets_the_same_reply_and_runs_once(wecom, engine):
    xml = wecom_xml(Content="random")
    first = wecom.send(xml)
    again = wecom.send(xml)
    assert first.xml == again.xml and len(engine.calls) == 1
    assert MessageLog.objects.get().retry_count == 1


def _untouched(engine):
    assert not engine.calls and not MessageLog.objects.exists()


def test_refusals(wecom, engine, settings):
    params, body = wecom.build(wecom_xml(Content="x"))
    assert wecom.post_raw({**params, "msg_signature": "0" * 40}, body).status_code == 403  # bad signature
    assert wecom.post_raw({k: v for k, v in params.items() if k != "msg_signature"}, body).status_code == 403
    stale = wecom.send(wecom_xml(Content="x"), timestamp=int(time.time()) - 301)
    assert stale.response.status_code == 403  # replay outside the window
    plain = wecom_xml(Content="plaintext").encode()
    assert wecom.post_raw(params, plain).status_code == 400  # plaintext refused
    assert wecom.post_raw(params, b"<xml><Encrypt><![CDATA[not base64!]]></Encrypt></xml>").status_code in (400, 403)
    unknown = WeComServer(wecom.url.split("/wechat/")[0], "nobody", TOKEN, CORP_ID, AES_KEY)
    assert unknown.send(wecom_xml(Content="x")).response.status_code == 404
    other_corp = WeComServer(wecom.url.split("/wechat/")[0], "hr", TOKEN, "ww9999999999999999", AES_KEY)
    assert other_corp.send(wecom_xml(Content="x")).response.status_code == 400
    settings.WECHAT_APP = {"MAX_BODY_SIZE": 100}
    assert wecom.post_raw(params, body).status_code == 413
    _untouched(engine)


def test_change_contact_signal_fires_once_per_delivery(wecom, engine):
    seen = []

    def receiver(sender, account, message, **kwargs):
        seen.append((account.name, message.param["change_type"], message.param.get("user_id")))

    wecom_contact_changed.connect(receiver)
    try:
        now = int(time.time())
        created = wecom_xml("event", user="sys", agent_id=None, create_time=now, Event="change_contact",
                            ChangeType="create_user", UserID="u1", Name="Zhang")
        wecom.send(created)
        wecom.send(created)  # WeCom's retry: no second signal
        wecom.send(wecom_xml("event", user="sys", agent_id=None, create_time=now, Event="change_contact",
                             ChangeType="delete_user", UserID="u2"))
        wecom.send(wecom_xml("event", Event="enter_agent", EventKey=""))  # not a contact change
    finally:
        wecom_contact_changed.disconnect(receiver)
    assert seen == [("hr", "create_user", "u1"), ("hr", "delete_user", "u2")]
    assert MessageLog.objects.filter(event="change_contact").count() == 2
