"""iLink bots end to end against the sandbox: QR login, polling, rules, media, crashes, -14."""
import base64
import hashlib
import threading

import pytest

from tests.polling import wait_until
from wechat_app import channels
from wechat_app.channels import OutgoingFile
from wechat_app.models import Account, ILinkBot, ILinkLogin, IncomingMedia, MessageLog, Rule
from wechat_app.services import ilink as service
from wechat_app.services import inbound

from .conftest import inject, login_bot, sandbox_call, sent

pytestmark = pytest.mark.django_db


def test_qr_login_through_to_a_polling_account(ilink_sandbox):
    login = service.start_login("mybot")
    assert login.status == "wait" and login.qrcode_content and login.account is None
    assert (login.expires_at - login.created_at).total_seconds() == pytest.approx(600, abs=5)
    assert service.login_status(login, wait=0.2).status == "wait"
    sandbox_call(ilink_sandbox, "POST", "/ilink/scan", {"qrcode": login.qrcode, "user_id": "me@im.wechat"})
    assert service.login_status(login, wait=0.5).status == "scanned"
    sandbox_call(ilink_sandbox, "POST", "/ilink/confirm", {"qrcode": login.qrcode})
    login = service.login_status(login, wait=0.5)
    assert login.status == "confirmed"
    account = login.account
    assert account.channel == "ilink" and account.name == "mybot"
    bot = account.ilink_bot
    assert bot.status == "active" and bot.polling_enabled and bot.ilink_user_id == "me@im.wechat"
    assert bot.api_base_url == ilink_sandbox.url and account.app_id == bot.bot_id
    assert bot.bot_token and bot.bot_token not in repr(bot)
    # It polls: a message reaches the log.
    inject(ilink_sandbox, bot, "hi there")
    assert service.run_once()["mybot"]["stored"] == 1
    log = MessageLog.objects.get(account=account)
    assert (log.user, log.msg_type, log.text) == ("alice@im.wechat", "text", "hi there")
    assert log.message["param"]["context_token"].startswith("ctx-")


def test_a_login_expires_and_can_be_cancelled(ilink_sandbox, db):
    login = service.start_login("late")
    sandbox_call(ilink_sandbox, "POST", "/ilink/expire_login", {"qrcode": login.qrcode})
    assert service.login_status(login, wait=0.3).status == "expired"
    other = service.start_login("late")
    ILinkLogin.objects.filter(pk=other.pk).update(expires_at=other.created_at)  # 10 minutes later
    assert service.login_status(other).status == "expired"
    third = service.start_login("late")
    assert service.cancel_login(third).status == "cancelled"
    assert service.login_status(third).status == "cancelled"
    assert not Account.objects.filter(name="late").exists()


def test_a_login_cannot_take_over_another_kind_of_account(ilink_sandbox, db):
    Account.objects.create(name="oa", app_id="wxoa000001", app_secret="s" * 32, token="tok123")
    with pytest.raises(service.ILinkError):
        service.start_login("oa")


def test_a_rule_answers_with_the_context_token(bot, ilink_sandbox):
    Rule.objects.create(account=bot.account, name="hello", match_kind="contains", match_value="hello",
                        replies=[{"type": "text", "content": "Hello from the rules"}])
    message = inject(ilink_sandbox, bot, "hello bot")
    inject(ilink_sandbox, bot, "nothing matches")
    service.run_once()
    replies = sent(ilink_sandbox)
    assert len(replies) == 1
    assert replies[0]["text"] == "Hello from the rules"
    assert replies[0]["to_user_id"] == "alice@im.wechat"
    assert replies[0]["context_token"] == message["context_token"]
    statuses = dict(MessageLog.objects.filter(account=bot.account).values_list("text", "status"))
    assert statuses == {"hello bot": "replied", "nothing matches": "unmatched"}


def test_the_cursor_moves_and_an_empty_one_is_kept(bot, ilink_sandbox):
    inject(ilink_sandbox, bot, "one")
    service.run_once()
    bot.refresh_from_db()
    cursor = bot.cursor
    assert cursor
    service.run_once()  # nothing new: the answer's cursor is empty
    bot.refresh_from_db()
    assert bot.cursor == cursor
    inject(ilink_sandbox, bot, "two")
    service.run_once()
    bot.refresh_from_db()
    assert bot.cursor != cursor
    assert MessageLog.objects.filter(account=bot.account).count() == 2


def test_a_poller_killed_mid_batch_loses_and_duplicates_nothing(bot, ilink_sandbox, monkeypatch):
    Rule.objects.create(account=bot.account, name="all", match_kind="contains", match_value="msg",
                        replies=[{"type": "text", "content": "ok"}])
    for n in range(5):
        inject(ilink_sandbox, bot, f"msg {n}")
    real = inbound.process_polled
    calls = {"n": 0}

    def dies_on_the_third(account, message, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SystemExit("killed")  # the process dies mid-batch
        return real(account, message, **kwargs)

    monkeypatch.setattr(inbound, "process_polled", dies_on_the_third)
    with pytest.raises(SystemExit):
        service.poll_once(ILinkBot.objects.select_related("account").get(pk=bot.pk))
    bot.refresh_from_db()
    assert bot.cursor == ""  # the batch was not stored: the cursor did not move
    assert MessageLog.objects.filter(account=bot.account).count() == 2
    monkeypatch.setattr(inbound, "process_polled", real)
    result = service.run_once()["bot"]
    assert result == {"received": 5, "stored": 3, "expired": False, "error": ""}
    texts = sorted(MessageLog.objects.filter(account=bot.account).values_list("text", flat=True))
    assert texts == [f"msg {n}" for n in range(5)]
    assert sorted(s["text"] for s in sent(ilink_sandbox)) == ["ok"] * 5  # one reply each
    bot.refresh_from_db()
    assert bot.cursor and bot.messages_received == 3


def test_session_timeout_marks_the_bot_expired_and_stops_polling(bot, ilink_sandbox):
    sandbox_call(ilink_sandbox, "POST", "/ilink/expire", {"bot_id": bot.bot_id})
    result = service.run_once()["bot"]
    assert result["expired"] is True
    bot.refresh_from_db()
    assert bot.status == "expired" and "-14" in bot.last_error
    assert service.run_once() == {}  # not polled any more
    polls = [c for c in ilink_sandbox.state.list_calls("/ilink/bot/getupdates")]
    assert len(polls) == 1
    with pytest.raises(channels.ChannelError):
        channels.for_account(bot.account).send_text(bot.account, "alice@im.wechat", "hi")
    # A new login of the same bot makes it active again.
    login = login_bot(ilink_sandbox, "bot")
    bot.refresh_from_db()
    assert login.account == bot.account and bot.status == "active"


def test_a_fault_with_errcode_minus_14_expires_too(bot, ilink_sandbox):
    sandbox_call(ilink_sandbox, "POST", "/faults", {"path": "/ilink/bot/getupdates", "kind": "error",
                                                    "errcode": -14, "count": 1})
    assert service.run_once()["bot"]["expired"] is True


def test_errors_back_off_and_keep_the_cursor(bot, ilink_sandbox):
    inject(ilink_sandbox, bot, "first")
    service.run_once()
    bot.refresh_from_db()
    cursor = bot.cursor
    sandbox_call(ilink_sandbox, "POST", "/faults", {"path": "/ilink/bot/getupdates", "kind": "http", "status": 502,
                                                    "count": 1})
    result = service.run_once()["bot"]
    assert "502" in result["error"]
    bot.refresh_from_db()
    assert bot.cursor == cursor and bot.consecutive_errors == 1 and bot.status == "active"
    assert service.backoff(1) < service.backoff(5) <= 0.2 * 1.2


PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


@pytest.mark.parametrize("kind,data,extra", [
    ("image", PNG, {}),
    ("voice", b"#!SILK_V3" + bytes(300), {"transcript": "what it said"}),
    ("file", b"%PDF-1.4 " + bytes(range(256)) * 20, {"file_name": "report.pdf"}),
    ("video", b"\x00\x00\x00\x18ftypmp42" + bytes(5000), {"hex_key": True}),
])
def test_inbound_media_are_decrypted_into_storage(bot, ilink_sandbox, kind, data, extra):
    from wechat_app.services.media import storage

    inject(ilink_sandbox, bot, type=kind, data_b64=base64.b64encode(data).decode(), **extra)
    service.run_once()
    log = MessageLog.objects.get(account=bot.account)
    row = IncomingMedia.objects.get(account=bot.account, dedupe_key=log.dedupe_key)
    assert row.status == "done" and row.log_id == log.pk and row.msg_type == kind
    with storage().open(row.path) as handle:
        assert handle.read() == data
    if kind == "voice":
        assert log.text == "what it said"
    if kind == "file":
        assert row.path.endswith(".pdf")


@pytest.mark.parametrize("kind", ["image", "file", "video", "voice"])
def test_outbound_files_arrive_decrypted_in_the_sandbox(bot, ilink_sandbox, kind):
    message = inject(ilink_sandbox, bot, "send me something")
    data = PNG if kind == "image" else hashlib.sha256(kind.encode()).digest() * 99
    channels.for_account(bot.account).send_file(bot.account, "alice@im.wechat", OutgoingFile(kind, "x.bin", data),
                                                context_token=message["context_token"])
    [record] = sent(ilink_sandbox)
    assert base64.b64decode(record["media"]["data_b64"]) == data
    assert record["context_token"] == message["context_token"]
    assert record["type"] == {"image": 2, "voice": 3, "file": 4, "video": 5}[kind]


def test_typing_goes_through_getconfig_and_sendtyping(bot, ilink_sandbox):
    message = inject(ilink_sandbox, bot, "hi")
    channel = channels.for_account(bot.account)
    channel.typing(bot.account, "alice@im.wechat", on=True, context_token=message["context_token"])
    channel.typing(bot.account, "alice@im.wechat", on=False, context_token=message["context_token"])
    typing = sandbox_call(ilink_sandbox, "GET", "/ilink/typing")["typing"]
    assert [t["status"] for t in typing] == [1, 2]


def _quietly(predicate):
    # SQLite's shared in-memory test database refuses a reader while the poller's thread writes
    # ("database table is locked"); PostgreSQL waits. Ask again.
    from django.db import OperationalError

    def check():
        try:
            return predicate()
        except OperationalError:
            return False
    return check


@pytest.mark.django_db(transaction=True)
def test_the_poller_process_polls_each_bot_in_a_thread(ilink_sandbox):
    login_bot(ilink_sandbox, "one")
    bot = ILinkBot.objects.select_related("account").get(account__name="one")
    poller = service.Poller(refresh=0.1)
    thread = threading.Thread(target=poller.run, daemon=True)
    thread.start()
    try:
        inject(ilink_sandbox, bot, "polled")
        assert wait_until(_quietly(lambda: MessageLog.objects.filter(account=bot.account, text="polled").exists()))
        assert service.poll_status()["poller"]["running"]
        # Stopping a bot's polling ends its thread.
        assert wait_until(_quietly(lambda: service.set_polling(False, [bot.account]) or True))
        assert wait_until(lambda: not poller.threads)
        assert wait_until(_quietly(lambda: service.set_polling(True, [bot.account]) or True))
        assert wait_until(lambda: len(poller.threads) == 1)
        sandbox_call(ilink_sandbox, "POST", "/ilink/expire", {"bot_id": bot.bot_id})
        assert wait_until(_quietly(lambda: ILinkBot.objects.get(pk=bot.pk).status == "expired"))
        assert wait_until(lambda: not poller.threads)
    finally:
        poller.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_attachments_for_the_agent(bot, ilink_sandbox):
    inject(ilink_sandbox, bot, type="image", data_b64=base64.b64encode(PNG).decode())
    service.run_once()
    log = MessageLog.objects.get(account=bot.account)
    [attachment] = service.attachments(log)
    row = IncomingMedia.objects.get(account=bot.account)
    assert attachment["type"] == "image" and attachment["content_type"] == "image/png"
    assert attachment["url"] == f"/wechat/api/incoming-media/{row.pk}/file/"
    with open(attachment["path"], "rb") as handle:
        assert handle.read() == PNG


def test_a_slow_poll_still_delivers(bot, ilink_sandbox):
    sandbox_call(ilink_sandbox, "POST", "/faults", {"path": "/ilink/bot/getupdates", "kind": "latency",
                                                    "seconds": 0.5, "count": 1})
    inject(ilink_sandbox, bot, "slow")
    assert service.run_once()["bot"]["stored"] == 1


def test_a_transport_timeout_of_the_long_poll_is_an_empty_batch(bot, ilink_sandbox):
    from wechat_app.client.ilink import ILinkClient

    sandbox_call(ilink_sandbox, "POST", "/faults", {"path": "/ilink/bot/getupdates", "kind": "latency",
                                                    "seconds": 1.5, "count": 1})
    client = ILinkClient(bot.api_base_url, bot_token=bot.bot_token, long_poll_seconds=0.3)
    client.long_poll_grace = 0.2  # the read timeout (0.5 s) ends before the sandbox answers (1.5 s)
    assert client.getupdates("").msgs == []
