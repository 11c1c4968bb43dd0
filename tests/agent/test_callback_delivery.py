"""End to end over real HTTP: an Official Account message that no rule answers reaches a fake agent
by callback (Bearer secret checked), and the agent's /send reply arrives in the sandbox as one
customer-service message, however often WeChat retries the delivery."""
import pytest

from tests.agent.conftest import API, USER, agent_settings
from tests.polling import wait_until
from tests.wechat_client import WeChatServer, message_xml
from wechat_app.models import AgentDeliveryAttempt, AgentEvent, Rule
from wechat_app.sandbox.agent import FakeAgent

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]
SECRET = "agent-shared-secret-1"


def test_unmatched_message_reaches_the_agent_and_its_reply_arrives_once(live_server, sandbox, shop, api_key):
    shop.no_match_reply = "Sorry, I did not get that."  # replaced by the agent
    shop.save()
    Rule.objects.create(account=shop, name="hours", match_kind="exact", match_value="hours",
                        replies=["9 to 5"])
    with FakeAgent(SECRET, api_url=f"{live_server.url}{API}", api_token=api_key) as fake:
        agent_settings(shop, mode="callback", callback_url=fake.url, shared_secret=SECRET, max_attempts=3)
        wechat = WeChatServer(live_server.url, shop.name, shop.token, shop.app_id)
        xml = message_xml("text", user=USER, sp="gh_agent", Content="where is my order?", msg_id=7700001)
        answers = [wechat.send(xml) for _ in range(3)]  # the first delivery and two WeChat retries
        assert [a.response.status_code for a in answers] == [200, 200, 200]
        assert all(a.xml is None for a in answers), "WeChat is answered 'success' at once"
        assert fake.wait_for(events=1, sent=1)
        assert wait_until(lambda: sandbox.state.list_messages(app_id=shop.app_id, touser=USER))
        (event_json,) = [e["event"] for e in fake.events]
        assert fake.refused == 0
        assert event_json["type"] == "message" and event_json["account_id"] == "shop"
        assert event_json["user_id"] == USER and event_json["chat_id"] == USER
        assert event_json["text"] == "where is my order?" and event_json["raw"]["id"] == "7700001"
        assert fake.sent[0]["status"] == 200, fake.sent
        # A matched rule still answers passively and does not reach the agent.
        answered = wechat.send(message_xml("text", user=USER, sp="gh_agent", Content="hours"))
        assert answered.fields["Content"] == "9 to 5"
    (sent,) = sandbox.state.list_messages(app_id=shop.app_id, touser=USER)
    assert sent["payload"]["text"]["content"] == "echo: where is my order?"
    event = AgentEvent.objects.get()
    assert event.status == AgentEvent.Status.COMPLETED and event.attempts == 1
    assert event.event_id == event_json["event_id"]
    (attempt,) = AgentDeliveryAttempt.objects.all()
    assert attempt.status_code == 200 and attempt.error == ""


def test_agent_rule_hands_a_matched_message_to_the_agent(live_server, sandbox, shop, api_key):
    Rule.objects.create(account=shop, name="human", match_kind="exact", match_value="talk to someone",
                        replies=[{"type": "agent"}])
    with FakeAgent(SECRET, api_url=f"{live_server.url}{API}", api_token=api_key) as fake:
        agent_settings(shop, mode="callback", callback_url=fake.url, shared_secret=SECRET)
        wechat = WeChatServer(live_server.url, shop.name, shop.token, shop.app_id)
        answer = wechat.send(message_xml("text", user=USER, sp="gh_agent", Content="talk to someone"))
        assert answer.response.status_code == 200 and answer.xml is None
        assert fake.wait_for(events=1, sent=1)
    assert wait_until(lambda: sandbox.state.list_messages(app_id=shop.app_id, touser=USER))
    from wechat_app.models import MessageLog

    log = MessageLog.objects.get()
    assert log.rule_name == "human" and log.reply == {"type": "agent"} and log.reply_xml == ""


def test_wrong_secret_is_refused_by_the_agent(live_server, sandbox, shop, settings):
    settings.WECHAT_APP = {**settings.WECHAT_APP, "AGENT_RETRY_DELAY": 0} if hasattr(settings, "WECHAT_APP") \
        else {"AGENT_RETRY_DELAY": 0}
    from wechat_app.services import agent

    with FakeAgent(SECRET, reply=None) as fake:
        agent_settings(shop, mode="callback", callback_url=fake.url, shared_secret="not-the-secret", max_attempts=2)
        wechat = WeChatServer(live_server.url, shop.name, shop.token, shop.app_id)
        wechat.send(message_xml("text", user=USER, sp="gh_agent", Content="hello"))
        assert wait_until(lambda: AgentDeliveryAttempt.objects.count() == 1)
        agent.resume()
        assert wait_until(lambda: AgentEvent.objects.get().status == AgentEvent.Status.FAILED)
        assert fake.refused == 2 and fake.events == []
    event = AgentEvent.objects.get()
    assert event.attempts == 2 and "HTTP 401" in event.error and "gave up after 2 attempts" in event.error
