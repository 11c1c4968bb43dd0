"""The poller as a real process, killed (SIGKILL) in the middle of a batch: nothing lost, nothing
logged or answered twice. Needs PostgreSQL (a database shared by processes; skipped otherwise)."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.polling import wait_until
from wechat_app.models import ILinkBot, MessageLog, Rule

from .conftest import inject, login_bot, sandbox_call, sent

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("postgresql" not in settings.DATABASES["default"]["ENGINE"],
                       reason="needs PostgreSQL (a database shared by processes)"),
]


def start_poller():
    db = connection.settings_dict
    env = dict(os.environ, PYTHONPATH=str(ROOT),
               DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}")
    return subprocess.Popen([sys.executable, "manage.py", "wechat_gateway", "poll", "run", "--refresh", "0.2"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_poller_killed_mid_batch_loses_and_duplicates_nothing(ilink_sandbox):
    login_bot(ilink_sandbox, "killed")
    bot = ILinkBot.objects.select_related("account").get(account__name="killed")
    Rule.objects.create(account=bot.account, name="echo", match_kind="contains", match_value="msg",
                        replies=[{"type": "text", "content": "got it"}])
    total = 30
    for n in range(total):
        inject(ilink_sandbox, bot, f"msg {n:02d}")
    # Each reply takes a moment: the batch of 30 takes seconds, the kill lands inside it.
    sandbox_call(ilink_sandbox, "POST", "/faults", {"path": "/ilink/bot/sendmessage", "kind": "latency",
                                                    "seconds": 0.1, "count": None})
    process = start_poller()
    try:
        assert wait_until(lambda: MessageLog.objects.filter(account=bot.account).count() >= 5, timeout=30)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        logged = MessageLog.objects.filter(account=bot.account).count()
        assert 5 <= logged < total
        bot.refresh_from_db()
        assert bot.cursor == ""  # the batch was not finished: its cursor was not saved
        process = start_poller()
        assert wait_until(lambda: MessageLog.objects.filter(account=bot.account).count() == total, timeout=30)
        assert wait_until(lambda: ILinkBot.objects.get(pk=bot.pk).cursor != "", timeout=30)
    finally:
        process.terminate()
        process.wait(timeout=10)
    texts = list(MessageLog.objects.filter(account=bot.account).values_list("text", flat=True))
    assert sorted(texts) == [f"msg {n:02d}" for n in range(total)]
    replies = [s for s in sent(ilink_sandbox) if s.get("text") == "got it"]
    client_ids = [s["client_id"] for s in replies]
    assert len(client_ids) == len(set(client_ids))
    # Every message was answered once, except at most the one whose row was written just before
    # the kill and whose reply had not gone out yet.
    assert total - 1 <= len(replies) <= total
