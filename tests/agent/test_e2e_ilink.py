"""An iLink bot's conversations through the agent gateway, end to end over real HTTP: QR login
(the sandbox plays the phone), the poller, the fake agent by callback (Bearer secret checked) or
inbox workers, the agent's /send and /typing back into the sandbox's sendmessage, getconfig and
sendtyping with the conversation's context token, and media both ways (bytes compared)."""
import base64
import hashlib
from datetime import timedelta

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from tests.agent.conftest import API, agent_settings, competing_inbox_workers
from tests.ilink.conftest import bot, ilink_sandbox, inject, login_bot, sandbox_call, sent  # noqa: F401
from tests.polling import wait_until
from wechat_app.models import AgentEvent, ILinkBot, MessageLog, OutboundMessage, Rule
from wechat_app.sandbox.agent import FakeAgent
from wechat_app.services import ilink as service

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]
SECRET = "ilink-agent-shared-secret"
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def _auth(key):
    return {"Authorization": f"Token {key}"}


def _read_again(bot):
    """The poller reads the whole history again (a cursor lost, a crash before it was saved)."""
    ILinkBot.objects.filter(pk=bot.pk).update(cursor="")


def test_a_qr_logged_in_bot_talks_to_the_agent_by_callback(live_server, ilink_sandbox, api_key):
    login = login_bot(ilink_sandbox, name="helper")  # QR login through to a polling account
    bot = ILinkBot.objects.select_related("account").get(account=login.account)
    assert bot.status == "active" and bot.polling_enabled
    Rule.objects.create(account=bot.account, name="hours", match_kind="exact", match_value="hours",
                        replies=[{"type": "text", "content": "9 to 5"}])
    with FakeAgent(SECRET, api_url=f"{live_server.url}{API}", api_token=api_key) as fake:
        agent_settings(bot.account, mode="callback", callback_url=fake.url, shared_secret=SECRET)
        message = inject(ilink_sandbox, bot, "where is my parcel?")
        inject(ilink_sandbox, bot, "hours")  # a rule answers: not for the agent
        assert service.run_once()["helper"]["stored"] == 2
        assert fake.wait_for(events=1, sent=1)
        _read_again(bot)  # the batch read again: nothing is handed over twice
        assert service.run_once()["helper"] == {"received": 2, "stored": 0, "expired": False, "error": ""}
        assert fake.refused == 0 and len(fake.events) == 1
        assert wait_until(lambda: len(sent(ilink_sandbox)) == 2)
    event = fake.events[0]["event"]
    assert event["type"] == "message" and event["account_id"] == "helper"
    assert event["user_id"] == event["chat_id"] == "alice@im.wechat"
    assert event["text"] == "where is my parcel?" and event["chat_type"] == "c2c"
    assert event["context_token"] == message["context_token"] and event["attachments"] == []
    assert fake.sent[0]["status"] == 200, fake.sent
    replies = {s["text"]: s for s in sent(ilink_sandbox)}
    assert set(replies) == {"9 to 5", "echo: where is my parcel?"}
    echo = replies["echo: where is my parcel?"]
    assert echo["to_user_id"] == "alice@im.wechat" and echo["context_token"] == message["context_token"]
    assert AgentEvent.objects.get().status == AgentEvent.Status.COMPLETED
    statuses = dict(MessageLog.objects.values_list("text", "status"))
    assert statuses == {"where is my parcel?": "unmatched", "hours": "replied"}


def test_a_wrong_secret_is_refused_by_the_agent(live_server, bot, ilink_sandbox, settings):
    settings.WECHAT_APP = {**settings.WECHAT_APP, "AGENT_RETRY_DELAY": 0}
    with FakeAgent(SECRET, reply=None) as fake:
        agent_settings(bot.account, mode="callback", callback_url=fake.url, shared_secret="not-it", max_attempts=1)
        inject(ilink_sandbox, bot, "hello?")
        service.run_once()
        assert wait_until(lambda: AgentEvent.objects.get().status == AgentEvent.Status.FAILED)
    assert fake.refused == 1 and fake.events == []
    assert "HTTP 401" in AgentEvent.objects.get().error


def test_agent_rules_and_every_message_scope_on_a_bot(live_server, bot, ilink_sandbox):
    Rule.objects.create(account=bot.account, name="human", match_kind="exact", match_value="a human please",
                        replies=[{"type": "agent"}])
    Rule.objects.create(account=bot.account, name="hi", match_kind="exact", match_value="hi",
                        replies=[{"type": "text", "content": "hello"}])
    settings = agent_settings(bot.account, mode="inbox")
    inject(ilink_sandbox, bot, "a human please")
    inject(ilink_sandbox, bot, "hi")
    service.run_once()
    assert list(AgentEvent.objects.values_list("text", flat=True)) == ["a human please"]
    assert [s["text"] for s in sent(ilink_sandbox)] == ["hello"]  # the agent rule sends nothing itself
    settings.scope = "all"
    settings.save()
    inject(ilink_sandbox, bot, "hi")
    service.run_once()
    assert sorted(AgentEvent.objects.values_list("text", flat=True)) == ["a human please", "hi"]
    assert [s["text"] for s in sent(ilink_sandbox)] == ["hello", "hello"]  # answered and handed over


def test_inbox_workers_answer_each_bot_message_once_with_its_context_token(live_server, bot, ilink_sandbox,
                                                                          api_key):
    agent_settings(bot.account, mode="inbox")
    users = ["alice@im.wechat", "bob@im.wechat"]
    tokens = {}
    for i in range(8):
        message = inject(ilink_sandbox, bot, f"question {i}", user=users[i % 2])
        tokens[f"question {i}"] = message["context_token"]
    assert service.run_once()["bot"]["stored"] == 8
    _read_again(bot)
    service.run_once()
    assert AgentEvent.objects.filter(status="pending").count() == 8
    listed = requests.get(f"{live_server.url}{API}/agent/inbox/", params={"status": "pending", "account": "bot"},
                          headers=_auth(api_key), timeout=10).json()
    assert listed["count"] == 8 and {e["context_token"] for e in listed["results"]} == set(tokens.values())
    handled = competing_inbox_workers(f"{live_server.url}{API}", api_key, account="bot")
    ids = [event["id"] for events in handled.values() for event in events]
    assert sorted(ids) == sorted(AgentEvent.objects.values_list("pk", flat=True))  # each claimed once
    assert set(AgentEvent.objects.values_list("status", "attempts")) == {("completed", 1)}
    echoes = sent(ilink_sandbox)
    assert sorted(s["text"] for s in echoes) == sorted(f"echo: question {i}" for i in range(8))
    for reply in echoes:
        assert reply["context_token"] == tokens[reply["text"].removeprefix("echo: ")]
        assert reply["to_user_id"] == users[int(reply["text"][-1]) % 2]


def test_an_expired_lease_is_claimed_again(live_server, bot, ilink_sandbox, api_key):
    agent_settings(bot.account, mode="inbox")
    message = inject(ilink_sandbox, bot, "anyone there?")
    service.run_once()
    api, headers = f"{live_server.url}{API}/agent/inbox", _auth(api_key)
    first = requests.post(f"{api}/claim-next/", json={"worker_id": "w1", "lease_seconds": 30},
                          headers=headers, timeout=10)
    assert first.status_code == 200 and first.json()["context_token"] == message["context_token"]
    event_id = first.json()["id"]
    assert requests.post(f"{api}/claim-next/", json={"worker_id": "w2"}, headers=headers,
                         timeout=10).status_code == 204  # held by w1
    # w1 dies; its lease ends (moved into the past rather than waited for)
    AgentEvent.objects.filter(pk=event_id).update(lease_until=timezone.now() - timedelta(seconds=1))
    second = requests.post(f"{api}/claim-next/", json={"worker_id": "w2"}, headers=headers, timeout=10)
    assert second.status_code == 200 and second.json()["id"] == event_id
    assert second.json()["claim"]["worker_id"] == "w2" and second.json()["attempts"] == 2
    late = requests.post(f"{api}/{event_id}/complete/", json={"worker_id": "w1"}, headers=headers, timeout=10)
    assert late.status_code == 409
    done = requests.post(f"{api}/{event_id}/complete/", json={"worker_id": "w2", "completion_note": "ok"},
                         headers=headers, timeout=10)
    assert done.status_code == 200 and done.json()["status"] == "completed"


def test_a_crash_before_the_hand_off_is_made_good_when_the_batch_is_read_again(bot, ilink_sandbox, monkeypatch):
    agent_settings(bot.account, mode="inbox")
    inject(ilink_sandbox, bot, "first")
    inject(ilink_sandbox, bot, "second")
    real = service._hand_to_agent

    def dies(account, message, log):
        raise SystemExit("killed between the log and the hand-off")

    monkeypatch.setattr(service, "_hand_to_agent", dies)
    with pytest.raises(SystemExit):
        service.poll_once(ILinkBot.objects.select_related("account").get(pk=bot.pk))
    assert MessageLog.objects.count() == 1 and not AgentEvent.objects.exists()
    monkeypatch.setattr(service, "_hand_to_agent", real)
    assert service.run_once()["bot"]["stored"] == 1  # "second"; "first" was logged before the crash
    assert sorted(AgentEvent.objects.values_list("text", flat=True)) == ["first", "second"]
    _read_again(bot)
    service.run_once()
    assert AgentEvent.objects.count() == 2


def test_a_failed_hand_off_keeps_the_cursor_and_is_made_on_the_next_poll(bot, ilink_sandbox, monkeypatch):
    from django.db import OperationalError

    from wechat_app.services import agent

    Rule.objects.create(account=bot.account, name="all", match_kind="contains", match_value="msg",
                        replies=[{"type": "text", "content": "noted"}])
    agent_settings(bot.account, mode="inbox", scope="all")
    for n in range(3):
        inject(ilink_sandbox, bot, f"msg {n}")
    real, calls = agent.hand_off, {"n": 0}

    def database_down_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OperationalError("the database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(agent, "hand_off", database_down_once)
    result = service.run_once()["bot"]
    assert "went away" in result["error"]
    bot.refresh_from_db()
    assert bot.cursor == ""  # the batch is read again
    assert service.run_once()["bot"]["error"] == ""
    assert sorted(AgentEvent.objects.values_list("text", flat=True)) == ["msg 0", "msg 1", "msg 2"]
    assert sorted(s["text"] for s in sent(ilink_sandbox)) == ["noted"] * 3  # one reply each


def test_media_both_ways_through_the_agent(live_server, bot, ilink_sandbox, api_key, settings, tmp_path):
    root = tmp_path / "agent-files"
    root.mkdir()
    settings.WECHAT_APP = {**settings.WECHAT_APP, "AGENT_FILE_ROOT": str(root)}
    with FakeAgent(SECRET, reply=None) as fake:
        agent_settings(bot.account, mode="callback", callback_url=fake.url, shared_secret=SECRET)
        message = inject(ilink_sandbox, bot, type="image", data_b64=base64.b64encode(PNG).decode())
        service.run_once()
        assert fake.wait_for(events=1)
    event = fake.events[0]["event"]
    assert event["context_token"] == message["context_token"] and event["text"] == "[image]"
    (attachment,) = event["attachments"]
    assert attachment["type"] == "image" and attachment["status"] == "done"
    assert attachment["content_type"] == "image/png" and attachment["size"] == len(PNG)
    fetched = requests.get(live_server.url + attachment["url"], headers=_auth(api_key), timeout=10)
    assert fetched.status_code == 200 and fetched.content == PNG  # decrypted from the CDN
    with open(attachment["path"], "rb") as handle:
        assert handle.read() == PNG  # the same bytes for an agent on this host
    assert requests.get(live_server.url + attachment["url"], timeout=10).status_code in (401, 403)

    # The agent answers with a file under AGENT_FILE_ROOT and a picture.
    report = hashlib.sha256(b"report").digest() * 300
    (root / "report.pdf").write_bytes(report)
    (root / "chart.png").write_bytes(PNG)
    body = {"account_id": "bot", "to_user_id": event["user_id"], "context_token": event["context_token"],
            "items": [{"type": "text", "text": "here you are"},
                      {"type": "file", "file_type": 4, "url": f"file://{root / 'report.pdf'}"},
                      {"type": "file", "file_type": 1, "url": str(root / "chart.png")}]}
    answer = requests.post(f"{live_server.url}{API}/agent/send/", json=body, headers=_auth(api_key), timeout=30)
    assert answer.status_code == 200, answer.text
    text, file, image = sent(ilink_sandbox)
    assert text["text"] == "here you are"
    assert file["type"] == 4 and base64.b64decode(file["media"]["data_b64"]) == report  # decrypted by the sandbox
    assert image["type"] == 2 and base64.b64decode(image["media"]["data_b64"]) == PNG
    assert {s["context_token"] for s in (text, file, image)} == {message["context_token"]}
    outside = dict(body, items=[{"type": "file", "file_type": 4, "url": "file:///etc/passwd"}])
    refused = requests.post(f"{live_server.url}{API}/agent/send/", json=outside, headers=_auth(api_key), timeout=10)
    assert refused.status_code == 400 and len(sent(ilink_sandbox)) == 3

    # iLink sends at once; what the agent sent is recorded (sent, never queued) for the conversation view.
    recorded = OutboundMessage.objects.filter(account=bot.account).order_by("pk")
    assert [(m.kind, m.status, m.to_user) for m in recorded] == [
        ("text", "sent", event["user_id"]), ("file", "sent", event["user_id"]), ("image", "sent", event["user_id"])]
    assert recorded[1].payload["file_name"] == "report.pdf" and recorded[0].idempotency_key.startswith("agent:")
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("operator", "op@example.com", "pw"))
    page = admin.get(f"/admin/wechat_app/messagelog/conversation/{bot.account.pk}/?user={event['user_id']}")
    html = page.content.decode()
    assert page.status_code == 200 and "here you are" in html and "report.pdf" in html and "sent by the agent" in html
    assert requests.post(f"{live_server.url}{API}/agent/send/", json=body, headers=_auth(api_key),
                         timeout=30).status_code == 200  # a second send is a new message, recorded again
    assert OutboundMessage.objects.filter(account=bot.account).count() == 6


def test_typing_maps_to_getconfig_and_sendtyping(live_server, bot, ilink_sandbox, api_key):
    message = inject(ilink_sandbox, bot, "hi")
    url = f"{live_server.url}{API}/agent/typing/"
    for status in ("typing", "cancel"):
        answer = requests.post(url, json={"account_id": "bot", "to_user_id": "alice@im.wechat", "status": status,
                                          "context_token": message["context_token"]},
                               headers=_auth(api_key), timeout=10)
        assert answer.status_code == 200, answer.text
    typing = sandbox_call(ilink_sandbox, "GET", "/ilink/typing")["typing"]
    assert [(t["user"], t["status"]) for t in typing] == [("alice@im.wechat", 1), ("alice@im.wechat", 2)]
