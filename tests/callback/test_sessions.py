"""Sessions, dynamic waits and error replies through the real callback (issue 12 items 3, 5, 6).

A retried delivery does not apply a session change twice (the callback's dedupe runs the rules
once per message), two users have their own sessions, a session expires after SESSION_TIMEOUT,
and two server processes sharing Redis see the same session and the same pending wait.
"""
import os
import pathlib
import runpy
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from tests.wechat_client import WeChatServer, message_xml
from wechat_app.engine import registry
from wechat_app.models import MessageLog
from wechat_app.services import rules as rule_services

ROOT = pathlib.Path(__file__).resolve().parents[2]
GUESS_MODULE = ROOT / "examples" / "guess_number.py"

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def register_rules():
    """The counter rule, a failing rule and the guess-a-number game, on the shared registry."""
    @registry.rule("count", exact="count")
    def count(message, context):
        context.session["n"] = context.session.get("n", 0) + 1
        return f"count {context.session['n']}"

    @registry.rule("boom", exact="boom")
    def boom(message, context):
        context.session["half-done"] = True
        raise RuntimeError("the rule has a bug")

    @registry.rule("gate", regex=r"^secret")
    def gate(message, context):
        context.ended = True  # webot info.ended: no further rule, answered as unmatched

    runpy.run_path(str(GUESS_MODULE))


@pytest.fixture
def code_rules():
    with registry.isolated():
        register_rules()
        yield


def say(client, text, user="oUser0001", msg_id=None):
    answer = client.send(message_xml(Content=text, user=user, msg_id=msg_id))
    return answer.fields["Content"] if answer.fields else None


def test_retry_does_not_apply_the_session_change_twice(make_account, wechat, code_rules):
    account = make_account()
    client = wechat(account)
    assert say(client, "count", msg_id="1001") == "count 1"
    assert say(client, "count", msg_id="1001") == "count 1"  # WeChat's retry: the stored answer
    assert say(client, "count", msg_id="1002") == "count 2"
    assert rule_services.get_session(account, "oUser0001") == {"n": 2}
    assert MessageLog.objects.get(msg_id="1001").retry_count == 1


def test_two_users_have_their_own_sessions(make_account, wechat, code_rules):
    client = wechat(make_account())
    assert [say(client, "count", user="oA"), say(client, "count", user="oB"), say(client, "count", user="oA")] == [
        "count 1", "count 1", "count 2"]


def test_session_expires(make_account, wechat, code_rules):
    client = wechat(make_account())
    with override_settings(WECHAT_APP={**getattr(settings, "WECHAT_APP", {}), "SESSION_TIMEOUT": 1}):
        assert say(client, "count") == "count 1"
        time.sleep(1.3)
        assert say(client, "count") == "count 1"


def test_guess_game_through_the_callback(make_account, wechat, code_rules):
    account = make_account(no_match_reply="Sorry, try game")
    client = wechat(account)
    assert say(client, "game 6") == "玩玩猜数字的游戏吧, 1~9,选一个"
    assert say(client, "9") == "大了, 还有 2 次机会, 再猜."
    assert say(client, "6") == "你真聪明!"
    assert say(client, "6") == "Sorry, try game"


def test_error_replies(make_account, wechat, code_rules):
    account = make_account(no_match_reply="Sorry, I did not get that.", error_reply="Oops, try again later.")
    client = wechat(account)
    assert say(client, "what?") == "Sorry, I did not get that."
    assert say(client, "secret", msg_id="2000") == "Sorry, I did not get that."
    assert MessageLog.objects.get(msg_id="2000").status == MessageLog.Status.UNMATCHED
    assert say(client, "boom", msg_id="2001") == "Oops, try again later."
    log = MessageLog.objects.get(msg_id="2001")
    assert log.status == MessageLog.Status.ERROR and "the rule has a bug" in log.error
    assert rule_services.get_session(account, "oUser0001") == {}  # the failed rule's change is not kept
    # Events never get the "no rule" answer (an unsubscribe cannot be answered).
    assert client.send(message_xml("event", Event="unsubscribe")).xml is None


def test_error_replies_default_silent(make_account, wechat, code_rules):
    client = wechat(make_account())
    assert client.send(message_xml(Content="what?")).xml is None
    assert client.send(message_xml(Content="boom", msg_id="3001")).xml is None
    assert MessageLog.objects.get(msg_id="3001").status == MessageLog.Status.ERROR


# --- two processes sharing Redis ----------------------------------------------------------------

shared_services = pytest.mark.skipif(
    "redis" not in settings.CACHES["default"]["BACKEND"].lower()
    or "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="needs Redis as the cache and PostgreSQL (a cache and a database shared by processes)")


@pytest.fixture
def two_servers():
    db = connection.settings_dict
    env = dict(os.environ, PYTHONPATH=str(ROOT),
               DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}")
    processes = [subprocess.Popen([sys.executable, "-m", "tests.callback.session_server"], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        yield [f"http://127.0.0.1:{int(process.stdout.readline())}" for process in processes]
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


@shared_services
def test_two_processes_share_sessions_and_waits(make_account, two_servers):
    account = make_account()
    first, second = (WeChatServer(url, account.name, account.token, account.app_id) for url in two_servers)
    assert [say(first, "count"), say(second, "count"), say(first, "count")] == ["count 1", "count 2", "count 3"]
    assert say(first, "game 3") == "玩玩猜数字的游戏吧, 1~9,选一个"
    assert say(second, "1") == "小了, 还有 2 次机会, 再猜."  # the wait and the answer, on the other process
    assert say(first, "3") == "你真聪明!"
