"""LOG_BUFFER: log rows go through Redis and reach the database in bulk, none lost or doubled."""
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.test import Client

from wechat_app.models import Account, MessageLog, Rule
from wechat_app.protocol.simulator import build_message, read_reply, sign_request
from wechat_app.services import logbuffer
from wechat_app.services.cachebatch import django_redis_client
from wechat_app.services.rules import import_rules

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(django_redis_client(cache) is None,
                       reason="needs django-redis as the cache (CI's second pass runs it)"),
]


@pytest.fixture
def account(settings):
    settings.WECHAT_APP = {"LOG_BUFFER": True}
    account = Account.objects.create(name="busy", app_id="wx0000000000000009", app_secret="s" * 16, token="tok123")
    import_rules(account, "- name: hi\n  match: {exact: hi}\n  reply: hello\n"
                          "- name: other\n  match: {default: true}\n  reply: what?\n")
    return account


def post(account, text, msg_id):
    xml = build_message("text", [text], user="oUser000001", sp="gh_busy", msg_id=msg_id)
    params, body = sign_request(xml, account.token)
    response = Client().post(f"/wechat/callback/{account.name}/?{urlencode(params)}", data=body,
                             content_type="text/xml")
    return read_reply(response.content, None)[0]


def test_rows_wait_in_the_buffer_then_drain_in_bulk(account):
    assert logbuffer.enabled()
    assert post(account, "hi", 1)["Content"] == "hello"
    assert post(account, "yo", 2)["Content"] == "what?"
    assert MessageLog.objects.count() == 0 and logbuffer.pending() == 2
    assert logbuffer.drain_all() == 2
    rows = {log.msg_id: log for log in MessageLog.objects.all()}
    assert set(rows) == {"1", "2"}
    assert rows["1"].rule_name == "hi" and rows["1"].rule_id == Rule.objects.get(name="hi").pk
    assert rows["1"].reply == {"type": "text", "content": "hello"} and rows["1"].status == "replied"
    assert rows["2"].text == "yo" and rows["2"].latency_ms > 0 and rows["2"].created_at is not None
    assert logbuffer.pending() == 0


def test_retries_are_counted_once_drained(account):
    first = post(account, "hi", 7)
    assert post(account, "hi", 7) == first  # WeChat's retry: same answer, no new row
    assert logbuffer.drain_all() == 2
    log = MessageLog.objects.get()
    assert log.retry_count == 1


def test_a_repeated_drain_adds_no_duplicate(account, monkeypatch):
    post(account, "hi", 11)
    client = django_redis_client(cache)
    redis = client.get_client(write=True)
    key = client.make_key(logbuffer.queue_key())
    # A drain that committed but died before trimming the list: the entries are drained again.
    monkeypatch.setattr(type(redis), "ltrim", lambda self, *args: True)
    assert logbuffer.drain() == 1
    monkeypatch.undo()
    assert redis.llen(key) == 1
    assert logbuffer.drain() == 1
    assert MessageLog.objects.count() == 1 and redis.llen(key) == 0


def test_deleted_rule_and_account_while_buffered(account):
    other = Account.objects.create(name="gone", app_id="wx0000000000000010", app_secret="s" * 16, token="tok123")
    import_rules(other, "- name: x\n  match: {default: true}\n  reply: x\n")
    post(account, "hi", 21)
    post(other, "anything", 22)
    Rule.objects.filter(account=account, name="hi").delete()
    other.delete()
    assert logbuffer.drain_all() == 2
    log = MessageLog.objects.get()
    assert log.account == account and log.rule_id is None and log.rule_name == "hi"


def test_without_the_setting_rows_are_inserted_at_once(account, settings):
    settings.WECHAT_APP = {}
    post(account, "hi", 31)
    assert MessageLog.objects.count() == 1 and logbuffer.pending() == 0
