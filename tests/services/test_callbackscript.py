"""The callback's Redis script (services.callbackscript): one call per message with LOG_BUFFER,
the delivery claimed once under concurrency, the database path when Redis fails, NOSCRIPT."""
import threading
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.test import Client

from wechat_app.models import Account, MessageLog, Rule
from wechat_app.protocol.simulator import build_message, read_reply, sign_request
from wechat_app.services import accounts, callbackscript, inbound, logbuffer, rules
from wechat_app.services.cachebatch import CacheBatch, django_redis_client, health
from wechat_app.services.rules import import_rules

pytestmark = [
    pytest.mark.skipif(django_redis_client(cache) is None,
                       reason="needs django-redis as the cache (CI's second pass runs it)"),
]

RULES = """
- name: hi
  match: {exact: hi}
  reply: hello
- name: game
  match: {exact: game}
  reply: Pick a number from 1 to 9
  follow_ups: {timeout: 300, retries: 1, rules: [{name: pick, match: {regex: '^([1-9])$'}, reply: 'You picked {1}'}]}
- name: other
  match: {default: true}
  reply: what?
"""


@pytest.fixture(autouse=True)
def _fresh(settings):
    settings.WECHAT_APP = {"LOG_BUFFER": True}
    cache.clear()
    accounts._accounts.clear()
    rules.clear_local_indexes()
    health.reset()
    yield
    health.reset()
    accounts._accounts.clear()
    rules.clear_local_indexes()


def make_account():
    account = Account.objects.create(name="busy", app_id="wx0000000000000009", app_secret="s" * 16, token="tok123")
    import_rules(account, RULES)
    return account


@pytest.fixture
def account(db):
    return make_account()


def post(account, text, msg_id, *, user="oUser000001"):
    xml = build_message("text", [text], user=user, sp="gh_busy", msg_id=msg_id)
    params, body = sign_request(xml, account.token)
    response = Client().post(f"/wechat/callback/{account.name}/?{urlencode(params)}", data=body,
                             content_type="text/xml")
    assert response.status_code == 200, response.content
    return read_reply(response.content, None)[0]["Content"]


class Spy:
    """Records each script call's mode and outcome, and every CacheBatch round trip."""

    def __init__(self, monkeypatch):
        self.calls, self.batches = [], 0
        original_call, original_execute = callbackscript.Call._call, CacheBatch.execute
        spy = self

        def call(this, keys, args, fallbacks=()):
            outcome = original_call(this, keys, args, fallbacks)
            mode = args[0].decode() if isinstance(args[0], bytes) else args[0]
            spy.calls.append((mode, getattr(outcome, "status", outcome)))
            return outcome

        def execute(this):
            if this._ops:
                spy.batches += 1
            return original_execute(this)

        monkeypatch.setattr(callbackscript.Call, "_call", call)
        monkeypatch.setattr(CacheBatch, "execute", execute)

    def reset(self):
        self.calls, self.batches = [], 0


def stored_answer(account, msg_id):
    message_key = inbound._dedupe_cache_key(account, f"msg:{msg_id}")
    return cache.get(message_key)


def test_one_call_per_message_with_the_buffer(account, monkeypatch):
    spy = Spy(monkeypatch)
    assert post(account, "hi", 1) == "hello"  # builds the index: the claim comes first
    spy.reset()
    assert post(account, "hi", 2) == "hello"
    assert post(account, "yo", 3) == "what?"
    assert spy.calls == [("finish", "done"), ("finish", "done")] and spy.batches == 0
    assert stored_answer(account, 2)["state"] == "done"
    assert MessageLog.objects.count() == 0 and logbuffer.pending() == 3
    # WeChat's retry: the stored answer, no second run, counted once drained.
    spy.reset()
    assert post(account, "hi", 2) == "hello"
    assert spy.calls == [("finish", "taken")]
    assert logbuffer.drain_all() == 4
    rows = {row.msg_id: row for row in MessageLog.objects.all()}
    assert set(rows) == {"1", "2", "3"}
    assert rows["2"].retry_count == 1 and rows["2"].rule_name == "hi" and rows["2"].status == "replied"
    assert rows["3"].rule_name == "other"


def test_follow_up_state_makes_the_script_claim_and_the_rules_run_again(account, monkeypatch):
    spy = Spy(monkeypatch)
    post(account, "hi", 1)
    spy.reset()
    assert post(account, "game", 2) == "Pick a number from 1 to 9"  # writes the follow-up state
    assert spy.calls == [("finish", "done")]
    spy.reset()
    # The first run assumed no state ("what?"); the script found one: claimed, run again with it.
    assert post(account, "7", 3) == "You picked 7"
    assert spy.calls == [("finish", "claimed")] and spy.batches == 1
    assert post(account, "7", 4) == "what?"  # the conversation is over
    assert logbuffer.drain_all() == 4
    assert dict(MessageLog.objects.values_list("msg_id", "rule_name")) == {
        "1": "hi", "2": "game", "3": "pick", "4": "other"}


def test_a_rules_change_made_elsewhere_is_seen(account, monkeypatch):
    post(account, "hi", 1)
    # Another process changed the rule (the rules version in Redis moved; this process's index
    # was built under the old one).
    Rule.objects.filter(name="hi").update(replies=[{"type": "text", "content": "bonjour"}])
    cache.set(rules.version_key(account.pk), "changed elsewhere", None)
    spy = Spy(monkeypatch)
    assert post(account, "hi", 2) == "bonjour"
    assert spy.calls == [("finish", "claimed")]


def test_an_account_change_made_elsewhere_is_seen(account, monkeypatch):
    post(account, "hi", 1)
    Account.objects.filter(pk=account.pk).update(no_match_reply="")
    Rule.objects.filter(name="other").delete()
    cache.set(accounts.version_key(), "changed elsewhere", None)
    cache.set(rules.version_key(account.pk), "changed elsewhere", None)
    assert post(account, "hi", 2) == "hello"
    assert logbuffer.drain_all() == 2


def test_the_delivery_is_claimed_once_under_concurrency(account):
    # The script itself: many calls at once on one delivery, finish and claim mixed.
    client = django_redis_client(cache)
    cache.set(accounts.version_key(), "a1", None)
    cache.set(rules.version_key(account.pk), "r1", None)
    barrier = threading.Barrier(8)
    outcomes = []

    def caller(i):
        call = callbackscript.Call(cache, client, dedupe_key="race", claim_value={"state": "processing"},
                                   claim_ttl=10, accounts_key=accounts.version_key(),
                                   rules_key=rules.version_key(account.pk), state_key="race-state",
                                   session_key="race-session")
        batch = CacheBatch(cache)
        batch.rpush("race-log", {"from": i})
        ops, _ = batch.take()
        barrier.wait()
        if i % 2:
            outcomes.append(call.claim().status)
        else:
            outcomes.append(call.finish(accounts_stamp="a1", rules_stamp="r1", answer={"state": "done"},
                                        answer_ttl=60, ops=ops).status)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes).count("taken") == 7
    assert len([o for o in outcomes if o in ("done", "claimed")]) == 1
    log_entries = client.get_client().llen(client.make_key("race-log"))
    assert log_entries == (1 if "done" in outcomes else 0)


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_message_log_one_row(monkeypatch):
    account = make_account()
    post(account, "hi", 1)  # the account and the index in this process's memory
    spy = Spy(monkeypatch)
    barrier = threading.Barrier(6)
    answers = []

    def deliver():
        barrier.wait()
        answers.append(post(account, "hi", 42))

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == ["hello"] * 6
    assert [status for _, status in spy.calls].count("done") == 1
    assert logbuffer.drain_all() >= 2
    row = MessageLog.objects.get(msg_id="42")
    assert row.retry_count == 5


def test_redis_failing_sends_the_row_to_the_database(account, monkeypatch, caplog):
    post(account, "hi", 1)

    def refuse(redis, keys, args):
        from redis.exceptions import ConnectionError

        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(callbackscript, "run", refuse)
    assert post(account, "hi", 2) == "hello"  # answered from memory
    assert list(MessageLog.objects.values_list("msg_id", flat=True)) == ["2"]  # written at once
    assert not health.available()
    assert "The cache failed" in caplog.text
    assert post(account, "yo", 3) == "what?"  # skipped for a moment: the database path again
    assert set(MessageLog.objects.values_list("msg_id", flat=True)) == {"2", "3"}
    monkeypatch.undo()
    health.reset()
    assert logbuffer.drain_all() == 1  # only the message of before the failure was buffered
    assert MessageLog.objects.count() == 3


def test_noscript_falls_back_to_eval(account):
    redis = django_redis_client(cache).get_client(write=True)
    post(account, "hi", 1)
    redis.script_flush()
    assert redis.script_exists(callbackscript.SHA) == [False]
    assert post(account, "hi", 2) == "hello"
    assert redis.script_exists(callbackscript.SHA) == [True]  # EVAL loaded it again
    assert post(account, "yo", 3) == "what?"
    assert logbuffer.drain_all() == 3


def test_a_row_per_message_takes_one_call_and_retries_read_the_row(account, settings, monkeypatch):
    settings.WECHAT_APP = {"LOG_BUFFER": False}
    spy = Spy(monkeypatch)
    assert post(account, "hi", 1) == "hello"
    assert post(account, "hi", 2) == "hello"
    # The claim first (the row is written before anything is stored), and no second round trip.
    assert [mode for mode, _ in spy.calls] == ["claim", "claim"] and spy.batches == 0
    assert MessageLog.objects.count() == 2  # a row per message, written before the answer is stored
    assert stored_answer(account, 2) == {"state": "processing"}  # the answer is in the row
    assert post(account, "hi", 2) == "hello"  # a retry reads it there
    assert MessageLog.objects.get(msg_id="2").retry_count == 1
    # When the rules wrote follow-up state, the answer is stored with it (one more round trip).
    spy.reset()
    assert post(account, "game", 5) == "Pick a number from 1 to 9"
    assert spy.batches == 1 and stored_answer(account, 5)["state"] == "done"
    # A retry once the claim (or the stored answer) expired runs the rules again; the row's
    # unique key stops them: the first answer, and the run's follow-up state is not written.
    cache.delete(inbound._dedupe_cache_key(account, "msg:5"))
    state_key = rules.state_key(account.pk, "oUser000001")
    assert cache.get(state_key) is not None
    cache.delete(state_key)
    assert post(account, "game", 5) == "Pick a number from 1 to 9"
    assert cache.get(state_key) is None
    assert MessageLog.objects.get(msg_id="5").retry_count == 1
    assert MessageLog.objects.count() == 3


