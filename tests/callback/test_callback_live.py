"""The callback over real HTTP (live server, requests), driven by a wechatpy-based client.

Every mode (plain, compatible in both forms, safe), every message type and event, and every
refusal. Refusals leave no trace: no log row, no rule run.
"""
import logging
import threading
import time
from pathlib import Path

import pytest

from tests.wechat_client import message_xml
from wechat_app.models import MessageLog
from wechat_app.signals import message_received, reply_sent

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "messages"


def fresh(name, create_time=None):
    """A fixture message with a current CreateTime and a unique MsgId (so it is a new delivery)."""
    xml = (FIXTURES / f"{name}.xml").read_text()
    now = str(create_time or int(time.time()))
    xml = xml.replace("<CreateTime>1700000000</CreateTime>", f"<CreateTime>{now}</CreateTime>")
    return xml.replace("<MsgId>12345678901234", f"<MsgId>{time.perf_counter_ns() % 10**12}")


def expected_content(name):
    from wechat_app.protocol import parse_message

    msg = parse_message(fresh(name))
    if msg.type == "text":
        return f"echo: {msg.text}"
    if msg.is_event:
        return f"event {msg.event} {msg.event_key or ''}".strip()
    return f"type {msg.type} {msg.text or ''}".strip()


# --- URL verification -------------------------------------------------------------------------------
def test_get_echoes_echostr(make_account, wechat):
    response = wechat(make_account()).verify_url("4075181314397890557")
    assert response.status_code == 200 and response.text == "4075181314397890557"


def test_get_refusals(make_account, wechat):
    account = make_account()
    assert wechat(account, token="wrongtoken").verify_url().status_code == 403
    assert wechat(account).verify_url(timestamp=int(time.time()) - 3600).status_code == 403
    assert wechat(account, name="nobody").verify_url().status_code == 404
    account.enabled = False
    account.save()
    assert wechat(account).verify_url().status_code == 404


# --- modes ------------------------------------------------------------------------------------------------
def test_plain_mode(make_account, wechat, engine):
    answer = wechat(make_account()).send(message_xml(Content="hi"))
    assert answer.response.status_code == 200
    assert not answer.was_encrypted
    assert answer.fields["Content"] == "echo: hi"
    assert answer.fields["ToUserName"] == "oUser0001" and answer.fields["FromUserName"] == "gh_0123456789ab"
    assert answer.response.headers["Content-Type"].startswith("application/xml")


def test_safe_mode_encrypted(make_account, wechat, engine):
    answer = wechat(make_account(mode="safe")).send(message_xml(Content="secret"), encrypted=True)
    assert answer.was_encrypted and answer.fields["Content"] == "echo: secret"
    log = MessageLog.objects.get()
    assert log.encrypted and log.text == "secret" and "secret" in log.raw_xml


def test_safe_mode_refuses_plaintext(make_account, wechat, engine):
    answer = wechat(make_account(mode="safe")).send(message_xml(Content="hi"))
    assert answer.response.status_code == 400
    assert not engine.calls and not MessageLog.objects.exists()


@pytest.mark.parametrize("compatible_body", [True, False])
def test_compatible_mode_encrypted_answers_encrypted(make_account, wechat, engine, compatible_body):
    answer = wechat(make_account(mode="compatible")).send(
        message_xml(Content="both"), encrypted=True, compatible_body=compatible_body)
    assert answer.was_encrypted and answer.fields["Content"] == "echo: both"


def test_compatible_mode_plain_answers_plain(make_account, wechat, engine):
    answer = wechat(make_account(mode="compatible")).send(message_xml(Content="plain"))
    assert not answer.was_encrypted and answer.fields["Content"] == "echo: plain"
    assert not MessageLog.objects.get().encrypted


def test_compatible_body_decrypted_content_wins(make_account, wechat, engine):
    """In compatible mode the plaintext fields beside Encrypt are not trusted: the decrypted ones are."""
    client = wechat(make_account(mode="compatible"))
    params, body = client.build(message_xml(Content="real"), encrypted=True, compatible_body=True)
    body = body.replace(b"<![CDATA[real]]>", b"<![CDATA[forged]]>")
    answer = client.read(client.post_raw(params, body), params)
    assert answer.fields["Content"] == "echo: real"


# --- every message type and event ----------------------------------------------------------------------
TYPES = sorted(p.stem for p in FIXTURES.glob("*.xml"))


@pytest.mark.parametrize("name", TYPES)
@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_every_type_and_event(make_account, wechat, engine, name, mode):
    answer = wechat(make_account(mode=mode)).send(fresh(name), encrypted=mode == "safe")
    assert answer.response.status_code == 200, answer.response.text
    assert answer.fields["Content"] == expected_content(name)
    log = MessageLog.objects.get()
    assert log.status == MessageLog.Status.REPLIED and log.reply == {"type": "text", "content": expected_content(name)}
    assert log.msg_type == engine.calls[0].type and log.user == "oUser0001"
    assert log.message["param"] == engine.calls[0].param


# --- no reply, errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,status", [("quiet", "no_reply"), ("nothing", "unmatched")])
def test_no_reply_answers_success(make_account, wechat, engine, text, status):
    answer = wechat(make_account(mode="safe")).send(message_xml(Content=text), encrypted=True)
    assert answer.response.status_code == 200 and answer.response.text == "success"
    log = MessageLog.objects.get()
    assert log.status == status and log.reply is None and log.reply_xml == ""
    assert log.rule_name == ("quiet" if text == "quiet" else "")


def test_rule_error_answers_success_and_is_logged(make_account, wechat, engine):
    answer = wechat(make_account()).send(message_xml(Content="boom"))
    assert answer.response.status_code == 200 and answer.response.text == "success"
    log = MessageLog.objects.get()
    assert log.status == "error" and "RuntimeError: rule exploded" in log.error and log.text == "boom"
    assert log.latency_ms is not None and log.latency_ms > 0


def test_signals_sent_once(make_account, wechat, engine):
    received, sent = [], []

    def on_received(sender, account, message, **kw):
        received.append(message.text)

    def on_sent(sender, account, message, reply, rule_name, log, **kw):
        sent.append((reply.content, rule_name, log.pk))

    message_received.connect(on_received)
    reply_sent.connect(on_sent)
    try:
        client = wechat(make_account())
        xml = message_xml(Content="sig")
        client.send(xml)
        client.send(xml)  # a retry: no second signal
    finally:
        message_received.disconnect(on_received)
        reply_sent.disconnect(on_sent)
    assert received == ["sig"]
    assert sent == [("echo: sig", "echo", MessageLog.objects.get().pk)]


# --- retries ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_retry_gets_identical_reply_and_runs_once(make_account, wechat, engine, mode):
    client = wechat(make_account(mode=mode))
    xml = message_xml(Content="random")
    first = client.send(xml, encrypted=mode == "safe")
    retries = [client.send(xml, encrypted=mode == "safe") for _ in range(3)]
    assert all(r.xml == first.xml for r in retries)  # byte for byte, CreateTime included
    assert len(engine.calls) == 1
    log = MessageLog.objects.get()
    assert log.retry_count == 3 and log.reply_xml == first.xml


def test_event_retry_identified_by_sender_time_event_key(make_account, wechat, engine):
    client = wechat(make_account())
    now = int(time.time())
    xml = message_xml("event", create_time=now, Event="CLICK", EventKey="K1")
    client.send(xml)
    client.send(xml)
    client.send(message_xml("event", create_time=now, Event="CLICK", EventKey="K2"))
    assert len(engine.calls) == 2
    assert sorted(MessageLog.objects.values_list("event_key", "retry_count")) == [("K1", 1), ("K2", 0)]


def test_retry_while_first_is_processing_waits_for_its_answer(make_account, wechat, engine):
    client = wechat(make_account(mode="compatible"))
    xml = message_xml(Content="slow")
    answers = {}

    def deliver(label, encrypted):
        answers[label] = client.send(xml, encrypted=encrypted)

    first = threading.Thread(target=deliver, args=("first", True))
    first.start()
    time.sleep(0.3)
    deliver("retry", False)  # WeChat's retry, in the other form: answered in kind, same plaintext
    first.join()
    assert answers["first"].xml == answers["retry"].xml
    assert answers["first"].was_encrypted and not answers["retry"].was_encrypted
    assert len(engine.calls) == 1
    assert MessageLog.objects.get().retry_count == 1


def test_retry_of_failed_delivery_does_not_rerun(make_account, wechat, engine):
    client = wechat(make_account())
    xml = message_xml(Content="boom")
    assert client.send(xml).response.text == "success"
    assert client.send(xml).response.text == "success"
    assert len(engine.calls) == 1 and MessageLog.objects.get().retry_count == 1


# --- refusals: no log row, no rule run -----------------------------------------------------------------------
def _assert_untouched(engine):
    assert not engine.calls
    assert not MessageLog.objects.exists()


def test_bad_signature_403_and_security_log(make_account, wechat, engine, caplog):
    account = make_account()
    with caplog.at_level(logging.WARNING, logger="django.security.wechat_app"):
        answer = wechat(account, token="wrongtoken").send(message_xml(Content="x"))
    assert answer.response.status_code == 403
    assert any("Invalid WeChat callback signature" in r.getMessage() for r in caplog.records)
    assert account.token not in caplog.text
    _assert_untouched(engine)


def test_bad_msg_signature_403(make_account, wechat, engine):
    client = wechat(make_account(mode="safe"))
    params, body = client.build(message_xml(Content="x"), encrypted=True)
    params["msg_signature"] = "0" * 40
    assert client.post_raw(params, body).status_code == 403
    del params["msg_signature"]
    assert client.post_raw(params, body).status_code == 403
    _assert_untouched(engine)


@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_stale_timestamp_403(make_account, wechat, engine, mode):
    answer = wechat(make_account(mode=mode)).send(
        message_xml(Content="x"), encrypted=mode == "safe", timestamp=int(time.time()) - 301)
    assert answer.response.status_code == 403
    _assert_untouched(engine)


def test_timestamp_window_is_configurable(make_account, wechat, engine, settings):
    settings.WECHAT_APP = {"TIMESTAMP_WINDOW": 0}
    answer = wechat(make_account()).send(message_xml(Content="old"), timestamp=1409735669)
    assert answer.fields["Content"] == "echo: old"


def test_unknown_and_disabled_account_404(make_account, wechat, engine):
    account = make_account()
    assert wechat(account, name="nobody").send(message_xml(Content="x")).response.status_code == 404
    assert wechat(account, name="x" * 300).send(message_xml(Content="x")).response.status_code == 404
    account.enabled = False
    account.save()
    assert wechat(account).send(message_xml(Content="x")).response.status_code == 404
    _assert_untouched(engine)


@pytest.mark.parametrize("body", [
    b"", b"not xml", b"<xml><Content>unclosed</xml>", b"<other/>",
    b"<xml><ToUserName>a</ToUserName><MsgType>text</MsgType></xml>",  # missing fields
])
def test_malformed_plain_400(make_account, wechat, engine, body):
    client = wechat(make_account())
    assert client.post_raw(client.query(), body).status_code == 400
    _assert_untouched(engine)


DOCTYPES = [
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><ToUserName>a'
    b'</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>'
    b'<Content>&x;</Content></xml>',
    b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    b'<xml><Content>&lol2;</Content></xml>',
]


@pytest.mark.parametrize("body", DOCTYPES)
def test_doctype_plain_400(make_account, wechat, engine, body):
    client = wechat(make_account())
    assert client.post_raw(client.query(), body).status_code == 400
    _assert_untouched(engine)


def test_doctype_inside_encrypted_payload_400(make_account, wechat, engine):
    client = wechat(make_account(mode="safe"))
    params, body = client.build(DOCTYPES[0].decode(), encrypted=True)
    assert client.post_raw(params, body).status_code == 400
    envelope = b'<!DOCTYPE xml [<!ENTITY e "x">]>' + body
    assert client.post_raw(params, envelope).status_code == 400
    _assert_untouched(engine)


def test_body_too_large_413(make_account, wechat, engine, settings):
    settings.WECHAT_APP = {"MAX_BODY_SIZE": 4096}
    client = wechat(make_account())
    xml = message_xml(Content="x" * 5000)
    assert client.post_raw(client.query(), xml.encode()).status_code == 413
    assert client.send(message_xml(Content="small")).fields["Content"] == "echo: small"
    assert len(engine.calls) == 1


def test_default_body_limit_is_one_mib(make_account, wechat, engine):
    client = wechat(make_account())
    assert client.post_raw(client.query(), b"<xml>" + b" " * (1024 * 1024) + b"</xml>").status_code == 413
    _assert_untouched(engine)


def test_wrong_app_id_400(make_account, wechat, engine):
    account = make_account(mode="safe")
    answer = wechat(account, app_id="wxsomeoneelse00").send(message_xml(Content="x"), encrypted=True)
    assert answer.response.status_code == 400
    _assert_untouched(engine)


@pytest.mark.parametrize("encrypt", ["not base64 at all!", "QUJD", ""])
def test_bad_ciphertext_400(make_account, wechat, engine, encrypt):
    client = wechat(make_account(mode="safe"))
    params = client.query(encrypt_type="aes")
    from tests.wechat_client import wechat_signature

    params["msg_signature"] = wechat_signature(client.token, params["timestamp"], params["nonce"], encrypt)
    body = f"<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()
    assert client.post_raw(params, body).status_code == 400
    _assert_untouched(engine)


def test_other_methods_405(make_account, wechat, engine):
    client = wechat(make_account())
    assert client.session.put(client.url, params=client.query(), data=b"<xml/>").status_code == 405


def test_unknown_type_and_hostile_shapes_never_500(make_account, wechat, engine):
    client = wechat(make_account())
    for xml in [message_xml("brand_new_type", Foo="bar"),
                message_xml("event", Event="SOMETHING_NEW", EventKey="k" * 1000),
                message_xml("x" * 100, Content="long type"),
                message_xml("event").replace("</xml>", "<Event><a>1</a></Event></xml>")]:
        assert client.send(xml).response.status_code == 200
    assert MessageLog.objects.count() == 4
