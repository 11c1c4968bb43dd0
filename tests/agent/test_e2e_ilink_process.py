"""The real poller process (``wechat_gateway poll run``) handing an iLink bot's messages to the
agent's inbox, killed (SIGKILL) in the middle of a batch and started again: every message has
exactly one event, and inbox workers answer each once with its context token. Needs PostgreSQL
(a database shared by processes; skipped otherwise)."""
import signal

import pytest
from django.conf import settings

from tests.agent.conftest import API, agent_settings
from tests.ilink.conftest import ilink_sandbox, inject, login_bot, sandbox_call, sent  # noqa: F401
from tests.ilink.test_poller_process import start_poller
from tests.polling import wait_until
from wechat_app.models import AgentEvent, ILinkBot, MessageLog, Rule
from wechat_app.sandbox.agent import inbox_worker

pytestmark = [
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("postgresql" not in settings.DATABASES["default"]["ENGINE"],
                       reason="needs PostgreSQL (a database shared by processes)"),
]


def test_a_poller_killed_mid_batch_hands_each_message_over_once(live_server, ilink_sandbox, api_key):
    login_bot(ilink_sandbox, "desk")
    bot = ILinkBot.objects.select_related("account").get(account__name="desk")
    # Every message is answered by a rule (slowly: the kill lands inside the batch) and handed over.
    Rule.objects.create(account=bot.account, name="ack", match_kind="contains", match_value="question",
                        replies=[{"type": "text", "content": "noted"}])
    agent_settings(bot.account, mode="inbox", scope="all")
    total, tokens = 20, {}
    for n in range(total):
        message = inject(ilink_sandbox, bot, f"question {n:02d}", user=f"user{n % 3}@im.wechat")
        tokens[message["from_user_id"]] = message["context_token"]
    sandbox_call(ilink_sandbox, "POST", "/faults", {"path": "/ilink/bot/sendmessage", "kind": "latency",
                                                    "seconds": 0.1, "count": None})
    process = start_poller()
    try:
        assert wait_until(lambda: AgentEvent.objects.filter(account=bot.account).count() >= 3, timeout=30)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert AgentEvent.objects.filter(account=bot.account).count() < total
        assert ILinkBot.objects.get(pk=bot.pk).cursor == ""  # the batch was not finished
        sandbox_call(ilink_sandbox, "DELETE", "/faults")
        process = start_poller()
        assert wait_until(lambda: AgentEvent.objects.filter(account=bot.account).count() >= total, timeout=30)
        assert wait_until(lambda: ILinkBot.objects.get(pk=bot.pk).cursor != "", timeout=30)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert MessageLog.objects.filter(account=bot.account).count() == total
    events = list(AgentEvent.objects.filter(account=bot.account).values_list("text", "context_token", "user_id"))
    assert sorted(text for text, _, _ in events) == [f"question {n:02d}" for n in range(total)]  # once each
    assert all(token == tokens[user] for _, token, user in events)
    handled = inbox_worker(f"{live_server.url}{API}", api_key, "w1", account="desk", idle_rounds=2)
    assert len(handled) == total
    echoes = [s for s in sent(ilink_sandbox) if s["text"].startswith("echo: ")]
    assert sorted(s["text"] for s in echoes) == sorted(f"echo: question {n:02d}" for n in range(total))
    assert all(s["context_token"] == tokens[s["to_user_id"]] for s in echoes)
