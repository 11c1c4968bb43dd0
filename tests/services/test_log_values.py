"""The callback's log row as column values: what the buffer queues without a model instance
(``logbuffer.enqueue_values``) is what ``row_of`` gives for the same row as a model."""
from datetime import timedelta

import pytest
from django.utils import timezone

from wechat_app.models import Account, MessageLog, Rule
from wechat_app.protocol import parse_message
from wechat_app.protocol.replies import TextReply
from wechat_app.services import inbound, logbuffer

pytestmark = pytest.mark.django_db

XML = ("<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[oUser1]]></FromUserName>"
       "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
       "<Content><![CDATA[héllo ]]]]><![CDATA[>]]></Content><MsgId>42</MsgId></xml>")


class Pushes:
    """A stand-in for ``CacheBatch``: records what was pushed."""

    def __init__(self):
        self.pushed = []

    def rpush(self, key, value):
        self.pushed.append((key, value))


def test_values_queue_the_same_row_as_the_model():
    account = Account.objects.create(name="values", app_id="wx0000000000000077", app_secret="s" * 16, token="tok")
    rule = Rule.objects.create(account=account, name="greet", match_kind="contains", match_value="x",
                               replies=[{"type": "text", "content": "y"}])
    message = parse_message(XML)
    fields = dict(rule=rule, reply=TextReply("hi"), reply_xml="<xml>hi</xml>", status=MessageLog.Status.REPLIED,
                  latency_ms=1.5)
    values = inbound._log_values(message, XML, True, **fields)
    batch = Pushes()
    before = timezone.now()
    logbuffer.enqueue_values(batch, account.pk, values)
    (key, entry), = batch.pushed
    assert key == logbuffer.queue_key()
    expected = logbuffer.row_of(inbound._log_row(account, message, XML, True, **fields))
    row = entry["row"]
    assert before <= row["created_at"] <= timezone.now() and abs(row["created_at"] - expected["created_at"]) < \
        timedelta(seconds=5)
    assert {k: v for k, v in row.items() if k != "created_at"} == \
        {k: v for k, v in expected.items() if k != "created_at"}
    assert row["account_id"] == account.pk and row["rule_id"] == rule.pk and row["retry_count"] == 0
    assert row["text"] == "héllo ]]>"

    # And the buffer's drain writes it as the model would have been saved.
    logbuffer.write_rows([row])
    stored = MessageLog.objects.get(account=account)
    assert stored.text == "héllo ]]>" and stored.rule_id == rule.pk and stored.reply == {"type": "text",
                                                                                        "content": "hi"}
