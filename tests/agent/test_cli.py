"""``wechat_gateway inbox …`` and ``typing …``."""
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.agent.conftest import USER, agent_settings
from tests.wechat_client import message_xml
from wechat_app.protocol import parse_message
from wechat_app.services import agent

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command("wechat_gateway", *args, stdout=out)
    return out.getvalue()


def test_inbox_list_claim_complete_fail(shop):
    agent_settings(shop, mode="inbox")
    one = agent.hand_off(shop, parse_message(message_xml("text", user=USER, Content="one")))
    two = agent.hand_off(shop, parse_message(message_xml("text", user=USER, Content="two")))
    listed = json.loads(run("inbox", "list", "--status", "pending", "--json"))
    assert [e["text"] for e in listed] == ["one", "two"]
    claimed = json.loads(run("inbox", "claim", "--worker-id", "codex", "--json"))
    assert claimed["id"] == one.pk and claimed["status"] == "claimed" and claimed["worker_id"] == "codex"
    with pytest.raises(CommandError, match="cannot be claimed"):
        run("inbox", "claim", "--message-id", str(one.pk), "--worker-id", "other")
    assert "completed" in run("inbox", "complete", "--message-id", str(one.pk), "--completion-note", "reply sent")
    run("inbox", "claim", "--message-id", str(two.pk), "--worker-id", "codex")
    assert "failed" in run("inbox", "fail", "--message-id", str(two.pk), "--error", "temporary failure")
    assert "No pending events." in run("inbox", "claim", "--worker-id", "codex")
    assert "two" in run("inbox", "list", "--status", "failed")
    with pytest.raises(CommandError, match="No agent event"):
        run("inbox", "complete", "--message-id", "999999")


def test_typing_send_and_cancel(shop, sandbox):
    run("typing", "send", "--account-id", "shop", "--to-user-id", USER)
    run("typing", "cancel", "--account-id", "shop", "--to-user-id", USER)
    assert [t["command"] for t in sandbox.state.typing] == ["Typing", "CancelTyping"]
    with pytest.raises(CommandError, match="No account"):
        run("typing", "send", "--account-id", "nope", "--to-user-id", USER)


def test_accounts_shows_each_account_s_agent_mode(shop):
    from wechat_app.models import Account

    Account.objects.create(name="plain", app_id="wxplainaccount01", app_secret="s" * 32, token="tok123plain")
    agent_settings(shop, mode="callback", scope="all", callback_url="https://agent.example/", shared_secret="hidden")
    text = run("accounts")
    assert "plain  [mp]  agent=off" in text and "shop  [mp]  agent=callback (all)" in text
    assert "hidden" not in text
    rows = {row["name"]: row for row in json.loads(run("accounts", "--json"))}
    assert (rows["shop"]["agent_mode"], rows["shop"]["agent_scope"]) == ("callback", "all")
    assert (rows["plain"]["agent_mode"], rows["plain"]["agent_scope"]) == ("off", None)
