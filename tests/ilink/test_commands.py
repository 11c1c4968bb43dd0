"""``wechat_gateway accounts|login|poll`` against the sandbox."""
import json
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from wechat_app.models import ILinkBot, MessageLog
from wechat_app.sandbox.ilink import ilink_state

from .conftest import inject, sandbox_call

pytestmark = pytest.mark.django_db


def gateway(*args):
    out = StringIO()
    call_command("wechat_gateway", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_login_start_watch_then_poll(ilink_sandbox):
    started = json.loads(gateway("login", "start", "--account", "cli", "--json"))
    assert started["status"] == "wait" and started["qrcode_content"]
    [code] = list(ilink_state(ilink_sandbox.state).logins)
    assert "wait" in gateway("login", "status", "--session-id", started["session_id"], "--wait", "0.1")

    def phone():
        sandbox_call(ilink_sandbox, "POST", "/ilink/scan", {"qrcode": code})
        sandbox_call(ilink_sandbox, "POST", "/ilink/confirm", {"qrcode": code})

    threading.Timer(0.3, phone).start()
    watched = gateway("login", "watch", "--session-id", started["session_id"], "--wait", "0.3", "--timeout", "20")
    lines = watched.strip().splitlines()
    assert lines[0] == "cli: wait" and lines[-1] == "cli: confirmed"
    accounts = json.loads(gateway("accounts", "--json"))
    assert accounts[0]["name"] == "cli" and accounts[0]["status"] == "active"
    assert "token" not in json.dumps(accounts)
    bot = ILinkBot.objects.get(account__name="cli")
    inject(ilink_sandbox, bot, "via the command")
    assert json.loads(gateway("poll", "run-once", "--json"))["cli"]["stored"] == 1
    assert MessageLog.objects.filter(account=bot.account, text="via the command").exists()
    status = gateway("poll", "status")
    assert "poller: not running" in status and "cli: active, polling on" in status and "1 messages" in status
    assert gateway("poll", "stop", "--account", "cli") == "Polling disabled: cli\n"
    assert json.loads(gateway("poll", "status", "--json"))["bots"][0]["polling_enabled"] is False
    assert gateway("poll", "run-once") == "No bot to poll.\n"
    gateway("poll", "start")
    assert ILinkBot.objects.get(pk=bot.pk).polling_enabled


def test_login_cancel_and_errors(ilink_sandbox):
    started = json.loads(gateway("login", "start", "--account", "gone", "--json"))
    assert gateway("login", "cancel", "--session-id", started["session_id"]).strip() == "gone: cancelled"
    with pytest.raises(CommandError, match="ended cancelled"):
        gateway("login", "watch", "--session-id", started["session_id"])
    with pytest.raises(CommandError, match="No login session"):
        gateway("login", "status", "--session-id", "nope")
    with pytest.raises(CommandError, match="account name"):
        gateway("login", "start", "--account", "bad name!")
    with pytest.raises(CommandError, match="No account called"):
        gateway("poll", "stop", "--account", "missing")
