"""The inbox end to end over HTTP: messages posted to the Official Account callback wait in the
inbox; inbox workers (sandbox.agent.inbox_worker) claim them, answer through /send and complete
them; each echo reaches the sandbox once."""
import threading

import pytest
from django.db import connection

from tests.agent.conftest import API, agent_settings
from tests.wechat_client import WeChatServer, message_xml
from wechat_app.models import AgentEvent
from wechat_app.sandbox.agent import inbox_worker

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
    api = f"{live_server.url}{API}"
    handled = {}

    def work(name):
        handled[name] = inbox_worker(api, api_key, name, idle_rounds=2)

    # Two workers at once where the database serves concurrent connections; one after the other on
    # SQLite (the live server shares one in-memory connection between threads).
    concurrent = connection.vendor == "postgresql"
    threads = [threading.Thread(target=work, args=(name,)) for name in ("w1", "w2")]
    for thread in threads:
        thread.start()
        if not concurrent:
            thread.join()
    for thread in threads:
        thread.join(60)
    ids = [event["id"] for events in handled.values() for event in events]
    assert sorted(ids) == sorted(AgentEvent.objects.values_list("pk", flat=True))
    assert set(AgentEvent.objects.values_list("status", flat=True)) == {"completed"}
    texts = sorted(m["payload"]["text"]["content"] for m in sandbox.state.list_messages(app_id=shop.app_id))
    assert texts == sorted(f"echo: question {i}" for i in range(8))
