from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from wechat_app.models import MessageLog
from wechat_app.protocol.simulator import KINDS, SimulatorError, build_message, read_reply, sign_request
from wechat_app.protocol import MessageCrypto, parse_message

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def send(*args):
    out = StringIO()
    call_command("wechat_send", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.parametrize("kind,args,expected", [
    ("text", ["hello", "world"], {"type": "text", "text": "hello world"}),
    ("image", [], {"type": "image"}),
    ("voice", ["play", "music"], {"type": "voice", "text": "play music"}),
    ("video", [], {"type": "video"}),
    ("shortvideo", [], {"type": "shortvideo"}),
    ("location", ["23.1", "113.3", "Canton"], {"type": "location"}),
    ("link", ["https://x.example/", "Title"], {"type": "link"}),
    ("file", ["a.pdf"], {"type": "file"}),
    ("event", ["CLICK", "K"], {"type": "event", "event": "CLICK", "event_key": "K"}),
    ("event", ["LOCATION"], {"type": "event", "event": "LOCATION"}),
    ("subscribe", ["42"], {"type": "event", "event": "subscribe", "event_key": "qrscene_42"}),
    ("unsubscribe", [], {"type": "event", "event": "unsubscribe"}),
    ("scan", ["42"], {"type": "event", "event": "SCAN", "event_key": "42"}),
    ("click", ["V1001"], {"type": "event", "event": "CLICK", "event_key": "V1001"}),
    ("view", ["https://x.example/"], {"type": "event", "event": "VIEW", "event_key": "https://x.example/"}),
])
def test_build_message_is_realistic(kind, args, expected):
    message = parse_message(build_message(kind, args, user="oU", sp="gh_x"))
    for attr, value in expected.items():
        assert getattr(message, attr) == value
    assert (message.uid, message.sp) == ("oU", "gh_x")
    if kind == "location":
        assert message.param["lat"] == 23.1 and message.param["label"] == "Canton"
    if kind == "event" and args == ["LOCATION"]:
        assert message.param["lat"] is not None
    if kind in ("subscribe", "scan"):
        assert message.param["scene"] == "42" and message.param["ticket"]


def test_every_kind_is_tested():
    assert set(KINDS) <= {"text", "image", "voice", "video", "shortvideo", "location", "link", "file", "event",
                          "subscribe", "unsubscribe", "scan", "click", "view"}


@pytest.mark.parametrize("kind,args", [("text", []), ("location", ["x", "y"]), ("click", []), ("nope", [])])
def test_build_message_bad_arguments(kind, args):
    with pytest.raises(SimulatorError):
        build_message(kind, args, user="u", sp="s")


def test_sign_request_and_read_reply_round_trip():
    crypto = MessageCrypto("tok123", KEY, "wx1234567890abcd")
    xml = build_message("text", ["hi"], user="u", sp="s")
    params, body = sign_request(xml, "tok123", crypto=crypto)
    assert params["encrypt_type"] == "aes"
    from wechat_app.protocol import parse_xml

    encrypt = parse_xml(body)["Encrypt"]
    assert crypto.decrypt_message(encrypt, params["msg_signature"], params["timestamp"], params["nonce"]) == xml
    fields, plain, was_encrypted = read_reply(crypto.encrypt_message(xml, "n").encode(), crypto)
    assert was_encrypted and plain == xml and fields["Content"] == "hi"
    assert read_reply(b"success", crypto) == (None, None, False)


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["plain", "compatible", "safe"])
def test_in_process(make_account, engine, mode):
    make_account("shop", mode=mode)
    output = send("text", "hello", "--account", "shop")
    assert "< [text] echo: hello" in output
    log = MessageLog.objects.get()
    assert log.encrypted == (mode != "plain") and log.user == "oSimulatedUser000000000000001"


@pytest.mark.django_db
def test_in_process_event_and_no_reply(make_account, engine):
    make_account("shop", mode="safe")
    assert "< [text] event CLICK V1001" in send("click", "V1001", "--account", "shop", "--user", "oOther")
    assert "< (no reply)" in send("text", "quiet", "--account", "shop")
    assert MessageLog.objects.filter(user="oOther").exists()


@pytest.mark.django_db
def test_errors(make_account, engine):
    make_account("shop", mode="safe")
    with pytest.raises(CommandError, match="No account named"):
        send("text", "x", "--account", "ghost")
    with pytest.raises(CommandError, match="HTTP 400"):
        send("text", "x", "--account", "shop", "--plain")
    with pytest.raises(CommandError, match="needs some text"):
        send("text", "--account", "shop")


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_over_http(make_account, engine, live_server):
    make_account("shop", mode="compatible")
    output = send("voice", "what", "time", "--account", "shop", "--url", live_server.url, "--raw")
    assert "< [text] type voice what time" in output
    assert "<-- reply (decrypted)" in output
    with pytest.raises(CommandError, match="Could not reach"):
        send("text", "x", "--account", "shop", "--url", "http://127.0.0.1:9", "--timeout", "2")


@pytest.mark.django_db
def test_verify_does_the_signed_url_check(make_account):
    account = make_account()
    assert "echostr echoed" in send("verify", "12345", "--account", account.name)
    assert "echostr=12345" in send("verify", "12345", "--account", account.name)


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_verify_against_a_running_server(make_account, live_server):
    account = make_account(mode="safe")
    assert "the URL check passes" in send("verify", "--account", account.name, "--url", live_server.url)
    with pytest.raises(CommandError, match="URL check failed: HTTP 404"):
        send("verify", "--account", account.name, "--url", live_server.url, "--path", "/wechat/callback/nobody/")
