"""Hand-offs of messages whose code rules overran REPLY_BUDGET (services/inbound._finish_late):
WeChat gets "success" at once; when the late result is "no rule answered" or a rule's ``agent``
reply, the message goes to the agent, once, however often WeChat retries."""
import time
from urllib.parse import urlencode

import pytest
from django.test import Client

from tests.agent.conftest import USER, agent_settings
from tests.polling import wait_until
from wechat_app.engine import registry
from wechat_app.models import AgentEvent, MessageLog
from wechat_app.protocol.replies import AgentReply
from wechat_app.protocol.simulator import build_message, sign_request

pytestmark = pytest.mark.django_db(transaction=True)  # the rules run in another thread


@pytest.fixture
def slow_shop(shop, settings):
    settings.WECHAT_APP = {"REPLY_BUDGET": 0.2}
    shop.no_match_reply = "Sorry, I did not get that."
    shop.save()
    with registry.isolated():
        @registry.before_reply(accounts=["shop"])
        def slow_hook(message, context):  # every message of the account overruns the budget
            time.sleep(0.6)
            return None

        @registry.rule("human", exact="human please", accounts=["shop"])
        def human(message, context):
            return AgentReply()

        @registry.rule("hours", exact="hours", accounts=["shop"])
        def hours(message, context):
            return "9 to 5"

        yield shop


def deliver(account, text, msg_id):
    params, body = sign_request(build_message("text", [text], user=USER, sp="gh_test", msg_id=msg_id), account.token)
    return Client().post(f"/wechat/callback/{account.name}/?{urlencode(params)}", data=body,
                         content_type="text/xml")


def settled(status):
    return lambda: MessageLog.objects.filter(status=status).exists()


def sent_texts(sandbox, account):
    return [m["payload"]["text"]["content"] for m in sandbox.state.list_messages(app_id=account.app_id)]


def test_a_late_unanswered_message_goes_to_the_agent_not_the_no_match_reply(slow_shop, sandbox):
    agent_settings(slow_shop, mode="inbox")
    answers = [deliver(slow_shop, "where is my order?", 8800001).content for _ in range(3)]  # and 2 retries
    assert answers == [b"success"] * 3
    assert wait_until(lambda: AgentEvent.objects.exists())
    assert wait_until(settled(MessageLog.Status.UNMATCHED))
    time.sleep(0.8)  # a retry's late run (there must be none) would have ended by now
    event = AgentEvent.objects.get()
    assert event.text == "where is my order?" and event.user_id == USER and event.status == "pending"
    assert event.raw["id"] == "8800001"
    log = MessageLog.objects.get()
    assert log.reply is None and event.dedupe_key == log.dedupe_key
    assert sent_texts(sandbox, slow_shop) == []  # the agent answers, not the no-match reply


def test_a_late_agent_rule_hands_off_and_sends_nothing(slow_shop, sandbox):
    agent_settings(slow_shop, mode="inbox")
    assert deliver(slow_shop, "human please", 8800002).content == b"success"
    assert wait_until(settled(MessageLog.Status.NO_REPLY))
    assert wait_until(lambda: AgentEvent.objects.exists())
    log = MessageLog.objects.get()
    assert log.rule_name == "human" and log.reply == {"type": "agent"}
    assert AgentEvent.objects.get().text == "human please"
    time.sleep(0.3)
    assert sent_texts(sandbox, slow_shop) == []


def test_a_late_rule_reply_is_sent_and_with_scope_all_handed_off_too(slow_shop, sandbox):
    agent_settings(slow_shop, mode="inbox", scope="all")
    assert deliver(slow_shop, "hours", 8800003).content == b"success"
    assert wait_until(settled(MessageLog.Status.REPLIED))
    assert wait_until(lambda: sent_texts(sandbox, slow_shop) == ["9 to 5"])
    assert wait_until(lambda: AgentEvent.objects.filter(text="hours").exists())


def test_a_late_rule_reply_without_scope_all_stays_with_the_rule(slow_shop, sandbox):
    agent_settings(slow_shop, mode="inbox")
    assert deliver(slow_shop, "hours", 8800004).content == b"success"
    assert wait_until(lambda: sent_texts(sandbox, slow_shop) == ["9 to 5"])
    assert wait_until(settled(MessageLog.Status.REPLIED))
    assert not AgentEvent.objects.exists()


def test_without_an_agent_a_late_agent_rule_answers_nothing_and_unmatched_gets_the_no_match_reply(
        slow_shop, sandbox):
    assert deliver(slow_shop, "human please", 8800005).content == b"success"
    assert wait_until(settled(MessageLog.Status.NO_REPLY))
    assert deliver(slow_shop, "anything", 8800006).content == b"success"
    assert wait_until(lambda: sent_texts(sandbox, slow_shop) == ["Sorry, I did not get that."])
    assert wait_until(settled(MessageLog.Status.UNMATCHED))
    assert not AgentEvent.objects.exists()
