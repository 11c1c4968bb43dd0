"""A WeCom app's conversations through the agent gateway, end to end over real HTTP: a message no
rule answers, posted to the real callback by a wechatpy-based WeCom server, reaches the fake agent;
the agent's /send becomes one app message in the sandbox however often WeCom retries the delivery
or the gateway retries the agent."""
import pytest

from tests.agent.conftest import API, agent_settings
from tests.polling import wait_until
from tests.wecom.conftest import AES_KEY, CORP_ID, TOKEN, corp_app, wecom_account  # noqa: F401
from tests.wecom.wecom_client import WeComServer, wecom_xml
from wechat_app.models import AgentDeliveryAttempt, AgentEvent, MessageLog
from wechat_app.sandbox.agent import FakeAgent
from wechat_app.services import agent

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]
SECRET = "wecom-agent-shared-secret"


def test_an_unmatched_wecom_message_reaches_the_agent_and_one_app_message_answers(live_server, sandbox,
                                                                                 wecom_account, api_key, settings):
    settings.WECHAT_APP = {**settings.WECHAT_APP, "AGENT_RETRY_DELAY": 0}
    wecom_account.no_match_reply = "Sorry?"  # replaced by the agent
    wecom_account.save()
    wecom = WeComServer(live_server.url, wecom_account.name, TOKEN, CORP_ID, AES_KEY)
    with FakeAgent(SECRET, api_url=f"{live_server.url}{API}", api_token=api_key) as fake:
        fake.fail_next = 1  # the agent is down for the first delivery: the gateway tries again
        agent_settings(wecom_account, mode="callback", callback_url=fake.url, shared_secret=SECRET, max_attempts=3)
        xml = wecom_xml(Content="my laptop is broken", user="lisi", msg_id=5500000001)
        answers = [wecom.send(xml) for _ in range(3)]  # the delivery and two WeCom retries
        assert [a.response.status_code for a in answers] == [200, 200, 200]
        assert all(a.xml is None for a in answers), "WeCom is answered at once, without the no-match reply"
        assert wait_until(lambda: AgentDeliveryAttempt.objects.count() >= 1)
        agent.resume()  # the beat's pass: the retry is due at once (AGENT_RETRY_DELAY 0)
        assert fake.wait_for(events=1, sent=1)
        assert wait_until(lambda: sandbox.state.wecom.list_messages())
        wecom.send(xml)  # a late retry after the answer: still nothing new
    assert fake.failed == 1 and fake.refused == 0 and len(fake.events) == 1
    event = fake.events[0]["event"]
    assert event["account_id"] == "hr" and event["user_id"] == "lisi" and event["text"] == "my laptop is broken"
    assert fake.sent[0]["status"] == 200, fake.sent
    (message,) = sandbox.state.wecom.list_messages()
    assert message["touser"] == "lisi" and message["msgtype"] == "text"
    assert message["payload"]["text"]["content"] == "echo: my laptop is broken"
    stored = AgentEvent.objects.get()
    assert stored.status == AgentEvent.Status.COMPLETED and stored.attempts == 2
    assert [a.status_code for a in AgentDeliveryAttempt.objects.order_by("pk")] == [500, 200]
    log = MessageLog.objects.get()
    assert log.status == "unmatched" and log.retry_count >= 2
