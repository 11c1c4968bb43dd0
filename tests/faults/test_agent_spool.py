"""The agent gateway while the database is down: a message due to the agent is spooled with its
log row and handed off when the spool is drained, exactly once (retries, a drain replayed after a
crash, a retry processed once the database is back); a delivery spooled unverified reaches the
agent too (nothing answered it), unless its retry was answered meanwhile."""
from pathlib import Path

import pytest

from wechat_app.models import Account, AgentEvent, AgentSettings, MessageLog
from wechat_app.services import spool
from wechat_app.services.rules import import_rules

from .conftest import post

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_background_drain(monkeypatch):
    monkeypatch.setattr(spool, "drain_soon", lambda: None)


@pytest.fixture
def shop(db):
    account = Account.objects.create(name="shop", app_id="wx00000000000000ab", app_secret="s" * 32, token="tok123",
                                     no_match_reply="not sent: the agent answers")
    import_rules(account, "- name: hi\n  match: {exact: hi}\n  reply: hello\n"
                          "- name: human\n  match: {exact: human}\n  reply: {type: agent}\n")
    AgentSettings.objects.create(account=account, mode="inbox")
    return account


def events():
    return sorted((key.removeprefix("msg:"), text, status)
                  for key, text, status in AgentEvent.objects.values_list("dedupe_key", "text", "status"))


def test_hand_offs_made_while_the_database_is_down_reach_the_agent_once_back(shop, database, flaky_cache):
    assert post(shop, "hi", 1)[1]["Content"] == "hello"  # the account is in memory now
    database.down()
    flaky_cache.down = True  # no cache either: each retry is processed (and spooled) again
    assert post(shop, "where is my order?", 2)[0].content == b"success"
    assert post(shop, "where is my order?", 2)[0].content == b"success"  # WeChat's retry
    assert post(shop, "human", 3)[0].content == b"success"
    assert post(shop, "hi", 4)[1]["Content"] == "hello"  # a rule answered: not the agent's
    flaky_cache.down = False
    database.up()
    assert AgentEvent.objects.count() == 0
    assert spool.drain() == 3
    assert events() == [("2", "where is my order?", "pending"), ("3", "human", "pending")]
    assert sorted(MessageLog.objects.values_list("msg_id", "status", "retry_count")) == [
        ("1", "replied", 0), ("2", "unmatched", 1), ("3", "no_reply", 0), ("4", "replied", 0)]
    assert spool.files() == [] and spool.drain() == 0
    assert len(events()) == 2


def test_a_drain_replayed_after_a_crash_hands_off_nothing_twice(shop, database, monkeypatch):
    post(shop, "hi", 1)
    database.down()
    post(shop, "help me", 2)
    database.up()

    def crash(self, *args, **kwargs):
        raise SystemExit("killed between the hand-off and the removal of the file")

    with monkeypatch.context() as patch:
        patch.setattr(Path, "unlink", crash)
        with pytest.raises(SystemExit):
            spool.drain()
    assert events() == [("2", "help me", "pending")]
    assert spool.drain() == 1
    assert events() == [("2", "help me", "pending")]


def test_a_hand_off_drained_while_the_database_is_still_down_is_kept(shop, database):
    post(shop, "hi", 1)
    database.down()
    post(shop, "help me", 2)
    with pytest.raises(Exception):
        spool.drain()
    database.up()
    spool.drain()
    assert events() == [("2", "help me", "pending")]


def test_an_unverified_delivery_goes_to_the_agent_once_verified(shop, database):
    database.down()
    assert post(shop, "help me", 7)[0].content == b"success"  # this process never loaded "shop"
    assert post(shop, "help me", 7)[0].content == b"success"  # WeChat's retry, spooled again
    assert post(shop, "hi", 8)[0].content == b"success"  # unverified too: its rules never ran
    database.up()
    assert spool.drain() == 2
    assert MessageLog.objects.filter(status="received").count() == 2
    assert events() == [("7", "help me", "pending"), ("8", "hi", "pending")]


def test_an_unverified_delivery_whose_retry_was_answered_meanwhile_is_not_handed_off(shop, database):
    database.down()
    post(shop, "hi", 9)  # spooled unverified
    database.up()
    assert post(shop, "hi", 9)[1]["Content"] == "hello"  # WeChat's retry, answered by the rule
    spool.drain()
    assert AgentEvent.objects.count() == 0
    assert MessageLog.objects.get().status == "replied"


def test_an_account_without_an_agent_hands_nothing_off(shop, database):
    AgentSettings.objects.filter(account=shop).update(mode="off")
    database.down()
    post(shop, "help me", 7)
    database.up()
    assert spool.drain() == 1
    assert AgentEvent.objects.count() == 0
