"""The inbox end to end over HTTP: messages posted to the Official Account callback wait in the
inbox; inbox workers (sandbox.agent.inbox_worker) claim them, answer through /send and complete
them; each echo reaches the sandbox once."""
import pytest

from tests.agent.conftest import API, agent_settings, competing_inbox_workers
from tests.wechat_client import WeChatServer, message_xml
from wechat_app.models import AgentEvent

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_inbox_workers_answer_every_message_once(live_server, sandbox, shop, api_key):
    agent_settings(shop, mode="inbox")
    users = ["oAgentUser0001", "oAgentUser0002"]
    wechat = WeChatServer(live_server.url, shop.name, shop.token, shop.app_id)
    for i in range(8):
        xml = message_xml("text", user=users[i % 2], Content=f"question {i}", msg_id=880000 + i)
        assert wechat.send(xml).xml is None
        wechat.send(xml)  # WeChat's retry: still one event
    assert AgentEvent.objects.filter(status="pending").count() == 8
    handled = competing_inbox_workers(f"{live_server.url}{API}", api_key)
    ids = [event["id"] for events in handled.values() for event in events]
    assert sorted(ids) == sorted(AgentEvent.objects.values_list("pk", flat=True))
    assert set(AgentEvent.objects.values_list("status", flat=True)) == {"completed"}
    texts = sorted(m["payload"]["text"]["content"] for m in sandbox.state.list_messages(app_id=shop.app_id))
    assert texts == sorted(f"echo: question {i}" for i in range(8))
